"""When the feed cannot load: a click still answers, nothing opens by itself later, the
widget recovers within one poll interval, and a wrong origin is explained once."""

import httpx
from playwright.sync_api import Page, Route, expect

from tests.widget_e2e.conftest import BrowserLog, Embed
from tests.widget_e2e.harness import HostSite, Workspace, create_workspace, wait_until

FAILED = "Couldn't load updates \u2014 retrying"
FEED = "**/v1/widget/announcements**"


def refuse(route: Route) -> None:
    route.abort("connectionrefused")


class TestServerDown:
    def test_a_click_opens_the_panel_saying_so_and_it_fills_once_the_server_is_back(
        self, page: Page, embed: Embed, workspace: Workspace, log: BrowserLog
    ) -> None:
        workspace.announce("Dark mode")
        page.route(FEED, refuse)
        page.clock.install()
        with page.expect_event("requestfailed"):
            page.goto(embed("/down"))
        page.get_by_role("button", name="What's new").click()

        dialog = page.get_by_role("dialog", name="What's new")
        expect(dialog.get_by_role("status")).to_have_text(FAILED + "Retry")
        retry = dialog.get_by_role("button", name="Retry")
        expect(retry).to_be_visible()
        shown = retry.element_handle()
        retry.click()  # still down: the same state again, drawn anew
        # Once the failure is handled the state is redrawn and the next try is timed; the
        # clock must not move before that (a failed request is seen before its handler runs).
        shown.wait_for_element_state("hidden")
        expect(dialog.get_by_role("button", name="Retry")).to_be_visible()

        page.unroute(FEED)
        # While someone looks at "retrying", the widget asks every 5 s.
        page.clock.run_for(5_500)
        expect(dialog.get_by_role("article", name="Dark mode")).to_be_visible()
        expect(dialog.get_by_role("status")).to_have_count(0)
        assert [p for p in log.problems if "Failed to load resource" not in p] == []

    def test_retry_asks_at_once(self, page: Page, embed: Embed, workspace: Workspace) -> None:
        workspace.announce("Dark mode")
        page.route(FEED, refuse)
        page.clock.install()
        page.goto(embed("/retry-now"))
        page.get_by_role("button", name="What's new").click()
        dialog = page.get_by_role("dialog", name="What's new")
        retry = dialog.get_by_role("button", name="Retry")
        expect(retry).to_be_visible()
        page.unroute(FEED)
        retry.click()  # no clock advance: only the click can have asked
        expect(dialog.get_by_role("article", name="Dark mode")).to_be_visible()

    def test_never_opens_by_itself_when_the_server_comes_back(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Dark mode")
        page.route(FEED, refuse)
        page.clock.install()
        page.goto(embed("/later"))
        launcher = page.get_by_role("button", name="What's new")
        launcher.click()
        expect(page.get_by_role("dialog").get_by_role("button", name="Retry")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.get_by_role("dialog")).to_have_count(0)

        page.unroute(FEED)
        for _ in range(12):  # six minutes: more than the longest backoff
            page.clock.run_for(30_000)
            page.wait_for_timeout(20)
        expect(launcher).to_have_attribute("aria-label", "What's new, 1 unread")
        expect(page.get_by_role("dialog")).to_have_count(0)


class TestWrongOrigin:
    def test_one_console_warning_names_allowed_origins_and_the_origin(
        self, page: Page, embed: Embed, api: httpx.Client, host_site: HostSite, log: BrowserLog
    ) -> None:
        elsewhere = create_workspace(api, ["https://app.example.com"])
        elsewhere.announce("Dark mode")
        page.clock.install()
        page.goto(embed("/foreign", key=elsewhere.publishable_key))

        def ours() -> list[str]:
            return [
                m.text for m in log.console if m.type == "warning" and "allowed_origins" in m.text
            ]

        wait_until(ours, page=page)
        for _ in range(10):  # five minutes of polls, each refused
            page.clock.run_for(30_000)
            page.wait_for_timeout(20)
        (warning,) = ours()
        assert host_site.origin in warning

        # A click still answers.
        page.get_by_role("button", name="What's new").click()
        expect(page.get_by_role("dialog", name="What's new").get_by_role("status")).to_have_text(
            FAILED + "Retry"
        )


class TestRecovery:
    def test_a_successful_event_send_ends_the_backoff(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Dark mode")
        feeds: list[str] = []
        page.on("request", lambda r: feeds.append(r.url) if "/announcements" in r.url else None)
        page.clock.install()
        page.goto(embed("/recover"))
        launcher = page.get_by_role("button", name="What's new, 1 unread")
        expect(launcher).to_be_visible()

        page.route(FEED, refuse)  # the feed fails for a while: the poller backs off to minutes
        for _ in range(10):
            page.clock.run_for(60_000)
            page.wait_for_timeout(20)
        page.unroute(FEED)
        launcher.click()  # records `open`, sent 2 s later
        expect(page.get_by_role("dialog").get_by_role("article")).to_have_count(1)
        asked = len(feeds)
        with page.expect_response(lambda r: "/v1/widget/events" in r.url):
            page.clock.run_for(2_500)
        # At once, not at the end of a backoff of up to 7.5 minutes.
        wait_until(lambda: len(feeds) > asked, page=page, timeout=3)
