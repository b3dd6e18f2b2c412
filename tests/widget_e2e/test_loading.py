"""The loader fetches the UI chunk only when something is to be drawn beyond the launcher:
on the first open, or when an item is to be shown unasked."""

import re

from playwright.sync_api import Page, Request, expect

from tests.widget_e2e.conftest import BrowserLog, Embed
from tests.widget_e2e.harness import Workspace

CHUNK = re.compile(r"/widget/[0-9a-f]{12}\.js")
FEED = re.compile(r"/v1/widget/(announcements|identify)")


def chunk_requests(page: Page) -> list[Request]:
    fetched: list[Request] = []
    page.on("request", lambda r: fetched.append(r) if CHUNK.search(r.url) else None)
    return fetched


class TestUiChunk:
    def test_not_fetched_until_the_feed_is_opened(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Dark mode")
        fetched = chunk_requests(page)
        with page.expect_response(FEED):
            page.goto(embed("/quiet"))
        launcher = page.get_by_role("button", name="What's new, 1 unread")
        expect(launcher).to_be_visible()
        page.wait_for_timeout(500)
        assert fetched == []

        with page.expect_response(CHUNK):
            launcher.click()
        expect(page.get_by_role("dialog", name="What's new").get_by_role("article")).to_have_text(
            re.compile("Dark mode")
        )
        assert len(fetched) == 1

    def test_fetched_for_an_item_shown_unasked(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Guided tour", display="popover")
        fetched = chunk_requests(page)
        page.goto(embed("/tour"))
        expect(page.get_by_role("article", name="Guided tour")).to_be_visible()
        assert len(fetched) == 1

    def test_a_dead_server_before_the_chunk_came_leaves_the_click_harmless(
        self, page: Page, embed: Embed, workspace: Workspace, log: BrowserLog
    ) -> None:
        # The chunk is not cached yet and the whole server is down: the panel cannot be
        # drawn. The click does nothing visible, throws nothing, and nothing opens later.
        workspace.announce("Dark mode")
        page.route(CHUNK, lambda route: route.abort("connectionrefused"))
        page.route(FEED, lambda route: route.abort("connectionrefused"))
        page.clock.install()
        page.goto(embed("/dead"))
        launcher = page.get_by_role("button", name="What's new")
        with page.expect_event("requestfailed"):
            launcher.click()
        expect(page.get_by_role("dialog")).to_have_count(0)

        page.unroute(CHUNK)
        page.unroute(FEED)
        for _ in range(12):  # six minutes: more than the longest backoff
            page.clock.run_for(30_000)
            page.wait_for_timeout(20)
        expect(launcher).to_have_attribute("aria-label", "What's new, 1 unread")
        expect(page.get_by_role("dialog")).to_have_count(0)
        launcher.click()  # the chunk is asked for again
        dialog = page.get_by_role("dialog", name="What's new")
        expect(dialog.get_by_role("article")).to_have_count(1)
        assert [p for p in log.problems if "Failed to load resource" not in p] == []
