"""Popovers, banners and modals: shown unasked on matching pages, gone once dismissed."""

import re
from collections.abc import Callable

from playwright.sync_api import BrowserContext, Page, expect

from tests.widget_e2e.conftest import BrowserLog, Embed
from tests.widget_e2e.harness import Database, Workspace, wait_until

IDENTIFY = "tidings('identify',{user_id:'u-42',attributes:{plan:'pro'}});"


def load_and_settle(page: Page, url: str | None = None) -> None:
    """Load (or reload) a page and wait until the widget has its feed and has rendered."""
    with page.expect_response(re.compile(r"/v1/widget/(announcements|identify)")):
        page.goto(url) if url else page.reload()
    page.wait_for_timeout(300)


class TestPopover:
    def test_shows_on_matching_pages_only(
        self, page: Page, embed: Embed, workspace: Workspace, log: BrowserLog
    ) -> None:
        workspace.announce("Guided tour", display="popover", audience={"pages": ["/dashboard/*"]})
        load_and_settle(page, embed("/settings/profile"))
        expect(page.get_by_role("article", name="Guided tour")).to_have_count(0)

        page.goto(embed("/dashboard/home"))
        popover = page.get_by_role("article", name="Guided tour")
        expect(popover).to_be_visible()
        expect(popover.get_by_role("button", name="Dismiss")).to_be_visible()
        # A popover is not a dialog: it does not take the focus from the host page.
        expect(page.get_by_role("dialog")).to_have_count(0)
        assert log.problems == []

    def test_dismissed_never_shows_again_on_any_device(
        self,
        new_context: Callable[[], BrowserContext],
        embed: Embed,
        workspace: Workspace,
        db: Database,
    ) -> None:
        item = workspace.announce("Guided tour", display="popover")
        url = embed("/dashboard", before=IDENTIFY)
        page = new_context().new_page()
        page.goto(url)
        popover = page.get_by_role("article", name="Guided tour")
        popover.get_by_role("button", name="Dismiss").click()
        expect(popover).to_have_count(0)
        wait_until(lambda: workspace.state(item["id"], user_id="u-42")["dismissed"], page=page)
        assert db.count_events(workspace.id, "impression", item["id"]) == 1

        load_and_settle(page)
        expect(page.get_by_role("article", name="Guided tour")).to_have_count(0)

        other_device = new_context().new_page()
        load_and_settle(other_device, url)
        expect(other_device.get_by_role("article", name="Guided tour")).to_have_count(0)

    def test_dismissal_is_remembered_before_the_server_knows(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        item = workspace.announce("Guided tour", display="popover")
        # The events never arrive (fetches fail, beacons are lost): the server still says
        # auto_show. (Routing cannot do this: keepalive requests and beacons bypass it.)
        page.add_init_script(
            """(() => {
              const fetch = window.fetch;
              window.fetch = function (url) {
                return /widget\\/events/.test(url) ? Promise.reject(new TypeError('offline'))
                  : fetch.apply(this, arguments);
              };
              navigator.sendBeacon = function () { return true };
            })()"""
        )
        page.goto(embed("/dashboard"))
        popover = page.get_by_role("article", name="Guided tour")
        popover.get_by_role("button", name="Dismiss").click()
        load_and_settle(page)
        expect(page.get_by_role("article", name="Guided tour")).to_have_count(0)
        who = page.evaluate("JSON.parse(localStorage.getItem('tidings:aid'))")
        assert workspace.state(item["id"], anonymous_id=who)["auto_show"] is True

    def test_cta_click_is_recorded_when_it_navigates_away(
        self, page: Page, embed: Embed, workspace: Workspace, db: Database
    ) -> None:
        next_url = embed("/next")
        item = workspace.announce(
            "Export to CSV", display="popover", cta={"label": "Try it", "url": next_url}
        )
        page.goto(embed("/reports", before=IDENTIFY))
        page.get_by_role("article", name="Export to CSV").get_by_role("link", name="Try it").click()
        page.wait_for_url(next_url)
        wait_until(lambda: workspace.state(item["id"], user_id="u-42")["clicked"], page=page)
        assert db.count_events(workspace.id, "click", item["id"]) == 1
        assert db.count_events(workspace.id, "impression", item["id"]) == 1


class TestBanner:
    def test_shows_across_the_top_and_dismisses(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        item = workspace.announce("Scheduled maintenance", display="banner")
        page.emulate_media(reduced_motion="reduce")  # no slide-in: it is in place at once
        page.goto(embed("/anywhere"))
        banner = page.get_by_role("article", name="Scheduled maintenance")
        expect(banner).to_be_visible()
        box = banner.bounding_box()
        assert box is not None and (box["x"], box["y"]) == (0, 0) and box["width"] > 900
        banner.get_by_role("button", name="Dismiss").click()
        expect(banner).to_have_count(0)
        who = page.evaluate("JSON.parse(localStorage.getItem('tidings:aid'))")
        wait_until(lambda: workspace.state(item["id"], anonymous_id=who)["dismissed"], page=page)


class TestModal:
    def test_traps_focus_and_escape_dismisses(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        item = workspace.announce(
            "Welcome to v2",
            display="modal",
            cta={"label": "Take the tour", "url": "https://app.example.com/tour"},
        )
        page.goto(embed("/welcome", body='<h1>Host</h1><button type="button">Host button</button>'))
        modal = page.get_by_role("dialog", name="Welcome to v2")
        expect(modal).to_have_attribute("aria-modal", "true")
        dismiss = modal.get_by_role("button", name="Dismiss")
        link = modal.get_by_role("link", name="Take the tour")
        expect(dismiss).to_be_focused()
        page.keyboard.press("Tab")
        expect(link).to_be_focused()
        page.keyboard.press("Tab")
        expect(dismiss).to_be_focused()  # wrapped around, never reaching the host page
        page.keyboard.press("Shift+Tab")
        expect(link).to_be_focused()

        page.keyboard.press("Escape")
        expect(modal).to_have_count(0)
        expect(page.get_by_role("button", name="What's new")).to_be_focused()
        who = page.evaluate("JSON.parse(localStorage.getItem('tidings:aid'))")
        wait_until(lambda: workspace.state(item["id"], anonymous_id=who)["dismissed"], page=page)
