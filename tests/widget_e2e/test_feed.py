"""The launcher, its unread badge and the feed panel, driven as a user would."""

import json
import re
from collections.abc import Callable

from playwright.sync_api import BrowserContext, Page, Request, expect

from tests.widget_e2e.conftest import BrowserLog, Embed
from tests.widget_e2e.harness import IMAGE_URL, Database, Workspace, wait_until


def events_sent(requests: list[Request]) -> list[dict[str, object]]:
    return [
        event
        for request in requests
        if "/v1/widget/events" in request.url
        for event in json.loads(request.post_data or "{}")["events"]
    ]


def anonymous_id(page: Page) -> str:
    value: str = page.evaluate("JSON.parse(localStorage.getItem('tidings:aid'))")
    return value


class TestLauncher:
    def test_names_the_unread_count_and_shows_a_badge(
        self, page: Page, embed: Embed, workspace: Workspace, log: BrowserLog
    ) -> None:
        for title in ("Dark mode", "Faster search", "CSV export"):
            workspace.announce(title)
        # The script twice: the second copy must not start a second widget.
        page.goto(
            embed(
                "/app",
                body=f'<script async src="{embed.script_src}" data-key="{embed.key}"></script>',
            )
        )

        launcher = page.get_by_role("button", name="What's new, 3 unread", exact=True)
        expect(launcher).to_be_visible()
        expect(launcher).to_have_text("3")  # the badge
        expect(page.locator("tidings-widget")).to_have_count(1)
        assert log.problems == []

    def test_translates_by_the_pages_locale(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Dunkelmodus")
        page.goto(embed("/de", attrs=' data-locale="de-AT"'))

        launcher = page.get_by_role("button", name="Neuigkeiten, 1 ungelesen", exact=True)
        launcher.click()
        expect(page.get_by_role("dialog", name="Neuigkeiten")).to_be_visible()
        expect(page.get_by_role("button", name="Positiv", exact=True)).to_be_visible()

    def test_identify_locale_wins(self, page: Page, embed: Embed, workspace: Workspace) -> None:
        workspace.announce("Dark mode")
        page.goto(
            embed(
                "/ja",
                attrs=' data-locale="de"',
                before="tidings('identify',{user_id:'7',locale:'ja'});",
            )
        )
        expect(page.get_by_role("button", name=re.compile("^新着情報"))).to_be_visible()


class TestFeed:
    def test_opening_lists_articles_clears_the_badge_and_records_open(
        self, page: Page, embed: Embed, workspace: Workspace, log: BrowserLog
    ) -> None:
        first = workspace.announce(
            "Dark mode",
            cta={"label": "Try it", "url": "https://app.example.com/settings"},
            image_url=IMAGE_URL,
        )
        workspace.announce("Faster search", pinned=True)
        requests: list[Request] = []
        page.on("request", lambda request: requests.append(request))
        page.goto(
            embed(
                "/feed",
                before="window.unread=[];tidings('on','unread',function(n){unread.push(n)});",
            )
        )
        page.get_by_role("button", name="What's new, 2 unread").click()

        dialog = page.get_by_role("dialog", name="What's new")
        expect(dialog).to_be_visible()
        articles = dialog.get_by_role("article")
        expect(articles).to_have_count(2)
        # Server order: pinned first.
        expect(articles.nth(0).get_by_role("heading")).to_have_text("Faster search")
        dark = dialog.get_by_role("article", name="Dark mode")
        expect(dark.get_by_role("link", name="Try it")).to_have_attribute(
            "href", first["cta"]["url"]
        )
        expect(dark.locator("em")).to_have_text("Dark mode")  # body_html, as HTML
        expect(page.get_by_role("button", name="What's new", exact=True)).to_be_attached()
        assert page.evaluate("unread") == [2, 0]

        who = {"anonymous_id": anonymous_id(page)}
        wait_until(lambda: workspace.feed(**who)["unread_count"] == 0, page=page)
        assert [e["type"] for e in events_sent(requests)].count("open") == 1
        feed = workspace.feed(**who)
        assert all(item["seen"] for item in feed["announcements"])
        assert log.problems == []

    def test_escape_closes_and_focus_returns_to_the_launcher(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Dark mode")
        page.goto(embed("/keys"))
        launcher = page.get_by_role("button", name="What's new")
        launcher.focus()
        page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog", name="What's new")
        expect(dialog).to_be_focused()
        page.keyboard.press("Tab")
        expect(dialog.get_by_role("button", name="Close")).to_be_focused()

        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)
        expect(launcher).to_be_focused()
        expect(launcher).to_have_attribute("aria-expanded", "false")

    def test_empty_feed(self, page: Page, embed: Embed) -> None:
        page.goto(embed("/empty"))
        page.get_by_role("button", name="What's new", exact=True).click()
        expect(page.get_by_role("dialog", name="What's new")).to_contain_text("Nothing new yet")

    def test_open_and_close_from_the_api(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Dark mode")
        page.goto(embed("/api", before="tidings('open');"))
        dialog = page.get_by_role("dialog", name="What's new")
        expect(dialog).to_be_visible()
        page.evaluate("tidings.close()")
        expect(dialog).to_have_count(0)
        page.evaluate("tidings.shutdown()")
        expect(page.locator("tidings-widget")).to_have_count(0)


class TestTrigger:
    def test_the_hosts_own_button_opens_the_feed_and_gets_the_badge(
        self, page: Page, embed: Embed, workspace: Workspace, log: BrowserLog
    ) -> None:
        workspace.announce("Dark mode")
        workspace.announce("Faster search")
        page.goto(
            embed(
                "/trigger",
                attrs=' data-trigger="#news"',
                body='<nav><button id="news" type="button">News</button></nav>',
            )
        )
        news = page.get_by_role("button", name=re.compile(r"^News\s*, 2 unread$"))
        expect(news).to_be_visible()
        expect(page.get_by_role("button", name="What's new")).to_have_count(0)

        news.click()
        dialog = page.get_by_role("dialog", name="What's new")
        expect(dialog.get_by_role("article")).to_have_count(2)
        expect(page.locator("#news")).to_have_attribute("aria-expanded", "true")
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)
        expect(page.locator("#news")).to_be_focused()
        expect(page.get_by_role("button", name="News", exact=True)).to_be_visible()
        assert log.problems == []


class TestReactions:
    def test_the_last_reaction_wins_on_the_server(
        self, page: Page, embed: Embed, workspace: Workspace, db: Database
    ) -> None:
        item = workspace.announce("Dark mode")
        page.goto(embed("/react"))
        page.get_by_role("button", name="What's new").click()
        article = page.get_by_role("article", name="Dark mode")
        positive = article.get_by_role("button", name="Positive", exact=True)
        negative = article.get_by_role("button", name="Negative", exact=True)
        positive.click()
        expect(positive).to_have_attribute("aria-pressed", "true")
        negative.click()
        expect(negative).to_have_attribute("aria-pressed", "true")
        expect(positive).to_have_attribute("aria-pressed", "false")

        who = {"anonymous_id": anonymous_id(page)}
        wait_until(lambda: workspace.state(item["id"], **who)["reaction"] == "negative")
        assert db.count_events(workspace.id, "reaction", item["id"]) == 2

        # Another page view shows the reaction the server kept.
        page.reload()
        page.get_by_role("button", name="What's new").click()
        expect(
            page.get_by_role("article", name="Dark mode").get_by_role("button", name="Negative")
        ).to_have_attribute("aria-pressed", "true")


class TestImpressions:
    def test_counted_once_per_item_per_page_view_when_half_visible(
        self,
        new_context: Callable[[], BrowserContext],
        embed: Embed,
        workspace: Workspace,
        db: Database,
    ) -> None:
        page = new_context().new_page()
        page.set_viewport_size({"width": 1024, "height": 700})
        items = [workspace.announce(f"Item {n}", body="Long text. " * 60) for n in range(8)]
        requests: list[Request] = []
        page.on("request", lambda request: requests.append(request))
        page.goto(embed("/impressions"))
        launcher = page.get_by_role("button", name="What's new")
        for _ in range(3):  # open, close, open again: still one impression per item
            launcher.click()
            expect(page.get_by_role("dialog")).to_be_visible()
            page.keyboard.press("Escape")
        launcher.click()
        # Only the items scrolled into view count; the newest comes first.
        newest = items[-1]["id"]
        oldest = items[0]["id"]
        wait_until(lambda: db.count_events(workspace.id, "impression", newest) == 1, page=page)
        assert db.count_events(workspace.id, "impression", oldest) == 0
        page.get_by_role("article", name="Item 0").scroll_into_view_if_needed()
        wait_until(lambda: db.count_events(workspace.id, "impression", oldest) == 1, page=page)
        wait_until(lambda: len(events_sent(requests)) >= 2, page=page)
        impressions = [e for e in events_sent(requests) if e["type"] == "impression"]
        assert len(impressions) == len({e["announcement_id"] for e in impressions})
        assert {e["surface"] for e in impressions} == {"feed"}

        page.reload()  # a new page view counts again
        page.get_by_role("button", name="What's new").click()
        wait_until(lambda: db.count_events(workspace.id, "impression", newest) == 2, page=page)
