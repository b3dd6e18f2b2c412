"""Every surface, light and dark, desktop and phone: axe finds nothing serious, names and
headings say what things are, and the keyboard reaches everything."""

import re

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.fixtures.axe import accessibility_problems
from tests.widget_e2e.conftest import Embed
from tests.widget_e2e.harness import IMAGE_URL, Workspace
from tests.widget_e2e.test_auto_show import load_and_settle

SIZES: dict[str, ViewportSize] = {
    "desktop": {"width": 1280, "height": 800},
    "phone": {"width": 390, "height": 844},
}
CATEGORIES = ("new", "improvement", "fix", "announcement")


def announce_feed(workspace: Workspace) -> None:
    for category in CATEGORIES:
        workspace.announce(
            f"A {category} for you",
            category=category,
            body="Read [the guide](https://docs.example.com) for *more*.",
            cta={"label": "Try it", "url": "https://app.example.com/try"},
        )


def assert_clean_in_every_look(page: Page) -> None:
    problems = {}
    for theme in ("light", "dark"):
        page.evaluate("(theme) => tidings('theme', theme)", theme)
        expect(page.locator("tidings-widget")).to_have_attribute("theme", theme)
        for size, viewport in SIZES.items():
            page.set_viewport_size(viewport)
            page.wait_for_timeout(50)
            found = accessibility_problems(page)
            if found:
                problems[f"{theme} {size}"] = found
    assert problems == {}


class TestAxe:
    def test_feed_panel(self, page: Page, embed: Embed, workspace: Workspace) -> None:
        announce_feed(workspace)
        page.emulate_media(reduced_motion="reduce")
        page.goto(embed("/axe-feed"))
        page.get_by_role("button", name="What's new, 4 unread").click()
        expect(page.get_by_role("dialog").get_by_role("article")).to_have_count(4)
        assert_clean_in_every_look(page)

    @pytest.mark.parametrize("display", ["popover", "banner", "modal"])
    def test_auto_shown_surfaces(
        self, page: Page, embed: Embed, workspace: Workspace, display: str
    ) -> None:
        workspace.announce(
            "Scheduled maintenance",
            display=display,
            category="fix",
            image_url=IMAGE_URL,
            cta={"label": "Details", "url": "https://status.example.com"},
        )
        page.emulate_media(reduced_motion="reduce")
        load_and_settle(page, embed(f"/axe-{display}"))
        expect(page.get_by_role("article", name="Scheduled maintenance")).to_be_visible()
        assert_clean_in_every_look(page)

    def test_failure_state(self, page: Page, embed: Embed) -> None:
        page.route("**/v1/widget/announcements**", lambda route: route.abort())
        page.goto(embed("/axe-down"))
        page.get_by_role("button", name="What's new").click()
        expect(page.get_by_role("button", name="Retry")).to_be_visible()
        assert_clean_in_every_look(page)


class TestNamesAndHeadings:
    def test_feed_panel(self, page: Page, embed: Embed, workspace: Workspace) -> None:
        workspace.announce("Dark mode", category="new")
        page.goto(embed("/names"))
        page.get_by_role("button", name="What's new, 1 unread").click()
        dialog = page.get_by_role("dialog", name="What's new")
        expect(dialog.get_by_role("heading", level=2)).to_have_text("What's new")
        expect(dialog.get_by_role("button", name="Close", exact=True)).to_be_visible()
        expect(dialog.get_by_role("button", name="Dismiss")).to_have_count(0)
        article = dialog.get_by_role("article", name="Dark mode")
        # The title is read without the dot; "Unread" is said in words instead.
        expect(article.get_by_role("heading", level=3)).to_have_text("Dark mode")
        expect(article).to_contain_text("Unread")
        dot = article.locator("[aria-hidden=true]").filter(has_not_text=re.compile("."))
        expect(dot.first).to_be_visible()

    def test_popover_is_announced_with_an_h2(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Guided tour", display="popover")
        page.goto(embed("/announced"))
        popover = page.get_by_role("article", name="Guided tour")
        expect(popover.get_by_role("heading", level=2)).to_have_text("Guided tour")
        live = page.locator("tidings-widget [aria-live=polite]")
        expect(live).to_have_text("Guided tour")

    def test_categories_and_dates_in_the_users_language(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Dunkelmodus", category="new")
        workspace.announce("Schneller", category="improvement")
        page.goto(embed("/de", attrs=' data-locale="de"'))
        page.get_by_role("button", name=re.compile("^Neuigkeiten")).click()
        dialog = page.get_by_role("dialog", name="Neuigkeiten")
        expect(dialog.get_by_role("button", name="Schließen")).to_be_visible()
        expect(dialog.get_by_role("article", name="Dunkelmodus")).to_contain_text("Neu")
        expect(dialog.get_by_role("article", name="Schneller")).to_contain_text("Verbesserung")
        expect(dialog.get_by_role("article", name="Schneller")).to_contain_text("Ungelesen")
        # German dates: "4. Dez. 2026".
        expect(dialog.locator("time").first).to_have_text(re.compile(r"^\d{1,2}\. \w+\.? \d{4}$"))


class TestKeyboard:
    def test_reactions_show_a_focus_ring_and_are_svg(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Dark mode")
        page.goto(embed("/focus"))
        page.get_by_role("button", name="What's new").focus()
        page.keyboard.press("Enter")
        positive = page.get_by_role("button", name="Positive")
        expect(positive).to_be_visible()  # the items are drawn (the UI chunk has arrived)
        for _ in range(2):  # Close, then Positive
            page.keyboard.press("Tab")
        expect(positive).to_be_focused()
        assert positive.locator("svg").count() == 1
        ring = positive.evaluate(
            "b => { const s = getComputedStyle(b);"
            " return [s.outlineStyle, s.outlineWidth, s.filter] }"
        )
        assert ring == ["solid", "2px", "none"]
        page.keyboard.press("Enter")
        expect(positive).to_have_attribute("aria-pressed", "true")
        page.keyboard.press("Tab")
        expect(page.get_by_role("button", name="Neutral")).to_be_focused()

    def test_popover_walk(self, page: Page, embed: Embed, workspace: Workspace) -> None:
        workspace.announce(
            "Guided tour",
            display="popover",
            cta={"label": "Start", "url": "https://app.example.com/tour"},
        )
        page.goto(embed("/walk", body='<button type="button">Host</button>'))
        popover = page.get_by_role("article", name="Guided tour")
        expect(popover).to_be_visible()
        # A popover does not steal the focus; Tab reaches it after the host's content.
        page.get_by_role("button", name="Host").focus()
        page.keyboard.press("Tab")
        expect(page.get_by_role("button", name="What's new")).to_be_focused()
        page.keyboard.press("Tab")
        expect(popover.get_by_role("button", name="Dismiss")).to_be_focused()
        page.keyboard.press("Tab")
        expect(popover.get_by_role("link", name="Start")).to_be_focused()
        page.keyboard.press("Escape")
        expect(popover).to_have_count(0)

    def test_banner_walk(self, page: Page, embed: Embed, workspace: Workspace) -> None:
        workspace.announce(
            "Scheduled maintenance",
            display="banner",
            cta={"label": "Details", "url": "https://status.example.com"},
        )
        page.goto(embed("/walk-banner", body='<button type="button">Host</button>'))
        banner = page.get_by_role("article", name="Scheduled maintenance")
        expect(banner).to_be_visible()
        page.get_by_role("button", name="Host").focus()
        for name in ("What's new", "Dismiss"):
            page.keyboard.press("Tab")
            expect(page.get_by_role("button", name=name)).to_be_focused()
        page.keyboard.press("Tab")
        expect(banner.get_by_role("link", name="Details")).to_be_focused()
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Enter")  # Dismiss, from the keyboard
        expect(banner).to_have_count(0)
        # The focus is not lost to the page's start: it goes back to the launcher.
        expect(page.get_by_role("button", name="What's new")).to_be_focused()
