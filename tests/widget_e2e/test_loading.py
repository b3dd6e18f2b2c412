"""The loader fetches the UI chunk only when something is to be drawn beyond the launcher:
on the first open, or when an item is to be shown unasked."""

import re

from playwright.sync_api import Page, Request, expect

from tests.widget_e2e.conftest import Embed
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
