"""Where things go: the badge on the host's trigger, surfaces anchored to it, the banner's
push mode without layout shifts, the phone's bottom sheet, the panel's footer."""

import re

from playwright.sync_api import FloatRect, Page, Route, expect

from tests.widget_e2e.conftest import BrowserLog, Embed
from tests.widget_e2e.harness import Workspace
from tests.widget_e2e.test_auto_show import load_and_settle

HEADER = (
    '<header style="display:flex;justify-content:flex-end;padding:10px 40px">'
    '<button id="news" type="button" style="padding:8px 16px">News</button></header>'
    '<div style="height:3000px">Host content</div>'
)


def box(page: Page, selector: str) -> FloatRect:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, selector
    return found


TRIGGER_ATTRS = ' data-trigger="#news"'


def open_from_trigger(page: Page, url: str) -> tuple[FloatRect, FloatRect]:
    """Opens the feed from the host's #news button; the boxes of the button and the panel."""
    page.emulate_media(reduced_motion="reduce")
    page.goto(url)
    page.locator("#news").click()
    dialog = page.get_by_role("dialog", name="What's new")
    expect(dialog.get_by_role("article")).to_have_count(1)
    return box(page, "#news"), box(page, "tidings-widget [role=dialog]")


class TestTrigger:
    def test_the_badge_sits_on_the_triggers_top_right_corner_and_follows_it(
        self, page: Page, embed: Embed, workspace: Workspace, log: BrowserLog
    ) -> None:
        workspace.announce("Dark mode")
        workspace.announce("Faster search")
        page.goto(embed("/badge", attrs=' data-trigger="#news"', body=HEADER))
        badge = page.locator("tidings-widget [aria-hidden=true]", has_text="2")
        expect(badge).to_be_visible()

        def corner_distance() -> tuple[float, float]:
            trigger, pin = box(page, "#news"), badge.bounding_box()
            assert pin is not None
            centre = (pin["x"] + pin["width"] / 2, pin["y"] + pin["height"] / 2)
            return (centre[0] - (trigger["x"] + trigger["width"]), centre[1] - trigger["y"])

        dx, dy = corner_distance()
        assert abs(dx) <= 6 and abs(dy) <= 6, (dx, dy)
        page.mouse.wheel(0, 37)  # the trigger scrolls up with the page; the badge with it
        page.wait_for_function("scrollY == 37")
        page.wait_for_timeout(100)
        dx, dy = corner_distance()
        assert abs(dx) <= 6 and abs(dy) <= 6, (dx, dy)
        page.set_viewport_size({"width": 700, "height": 600})  # the trigger moves left
        page.wait_for_timeout(100)
        dx, dy = corner_distance()
        assert abs(dx) <= 6 and abs(dy) <= 6, (dx, dy)
        assert log.problems == []

    def test_the_panel_opens_anchored_below_the_trigger(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Dark mode")
        trigger, panel = open_from_trigger(
            page, embed("/anchored", attrs=TRIGGER_ATTRS, body=HEADER)
        )
        assert 0 < panel["y"] - (trigger["y"] + trigger["height"]) <= 12
        assert abs((panel["x"] + panel["width"]) - (trigger["x"] + trigger["width"])) <= 1

    def test_the_panel_opens_above_a_trigger_at_the_bottom(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Dark mode")
        footer = (
            '<footer style="position:fixed;bottom:10px;left:30px">'
            '<button id="news" type="button">News</button></footer>'
        )
        trigger, panel = open_from_trigger(page, embed("/above", attrs=TRIGGER_ATTRS, body=footer))
        assert 0 < trigger["y"] - (panel["y"] + panel["height"]) <= 12
        assert panel["x"] >= 8  # kept inside the viewport

    def test_badge_none_draws_nothing_and_the_host_counts(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Dark mode")
        page.goto(
            embed(
                "/own-badge",
                attrs=' data-trigger="#news" data-badge="none"',
                body=HEADER,
                before="window.counts=[];tidings('on','unread',function(n){counts.push(n)});",
            )
        )
        page.wait_for_function("counts.length > 0")
        assert page.evaluate("counts") == [1]
        expect(page.locator("tidings-widget [aria-hidden=true]", has_text="1")).to_have_count(0)
        expect(page.get_by_role("button", name="News", exact=True)).to_be_visible()
        page.locator("#news").click()
        page.wait_for_function("counts.length > 1")
        assert page.evaluate("counts") == [1, 0]


class TestBanner:
    CLS_OBSERVER = (
        "<script>window.shifts=[];new PerformanceObserver(function(list){"
        "list.getEntries().forEach(function(e){shifts.push({value:e.value,at:e.startTime,"
        "input:e.hadRecentInput})})}).observe({type:'layout-shift',buffered:true})</script>"
    )

    def test_push_moves_the_page_once_and_never_again(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Scheduled maintenance", display="banner", category="fix")
        page.emulate_media(reduced_motion="reduce")
        # Loaded synchronously in <head> (the embed code's async copy at the end of <body>
        # then finds it running), so that it can reserve space before the first paint.
        stub = (
            "window.tidings=window.tidings||function(){(tidings.q=tidings.q||[]).push(arguments)};"
        )
        in_head = (
            f'<script>{stub}</script><script src="{embed.script_src}" data-key="{embed.key}"'
            ' data-banner="top push"></script>'
        )
        url = embed(
            "/push",
            attrs=' data-banner="top push"',
            head=self.CLS_OBSERVER + in_head,
            body='<h1 id="title">Host</h1><p>Content</p>',
        )
        # The first time its height is unknown until it shows: over the page, this once
        # (tests/widget_e2e/test_layout_shift.py); from the next page on, pushed.
        load_and_settle(page, url)
        banner = page.get_by_role("article", name="Scheduled maintenance")
        expect(banner).to_be_visible()
        load_and_settle(page, url)
        expect(banner).to_be_visible()
        painted = page.evaluate("performance.now()")
        # The host's content starts below the banner: nothing is covered.
        banner_box = box(page, "tidings-widget article")
        assert box(page, "#title")["y"] >= banner_box["y"] + banner_box["height"]
        page.set_viewport_size({"width": 900, "height": 700})
        page.wait_for_timeout(600)
        # CLS 0 after the banner's first paint (CLS leaves out shifts right after input,
        # such as the window being resized).
        later = page.evaluate(f"shifts.filter(s => s.at > {painted} && !s.input)")
        assert later == []
        banner.get_by_role("button", name="Dismiss").click()
        expect(banner).to_have_count(0)
        assert box(page, "#title")["y"] < 40  # the space is given back
        assert all(s["input"] for s in page.evaluate(f"shifts.filter(s => s.at > {painted})"))

    def test_at_the_bottom(self, page: Page, embed: Embed, workspace: Workspace) -> None:
        workspace.announce("Scheduled maintenance", display="banner")
        page.emulate_media(reduced_motion="reduce")
        page.goto(embed("/bottom", attrs=' data-banner="bottom"'))
        banner = page.get_by_role("article", name="Scheduled maintenance")
        expect(banner).to_be_visible()
        found = box(page, "tidings-widget article")
        assert abs(found["y"] + found["height"] - 768) <= 2


class TestPhone:
    def test_the_panel_is_a_bottom_sheet_and_the_page_does_not_scroll(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Dark mode")
        page.emulate_media(reduced_motion="reduce")  # measured in place, not mid-animation
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(embed("/phone", body='<div style="height:3000px">Long host page</div>'))
        page.get_by_role("button", name="What's new").click()
        dialog = page.get_by_role("dialog", name="What's new")
        expect(dialog.get_by_role("article")).to_have_count(1)
        sheet = dialog.bounding_box()
        assert sheet is not None
        assert (sheet["x"], sheet["width"]) == (0, 390)
        assert abs(sheet["y"] + sheet["height"] - 844) <= 1
        close = dialog.get_by_role("button", name="Close")
        close_box = close.bounding_box()
        assert close_box is not None and close_box["height"] >= 44
        assert page.evaluate("getComputedStyle(document.documentElement).overflow") == "hidden"
        page.mouse.wheel(0, 500)
        page.wait_for_timeout(200)
        assert page.evaluate("scrollY") == 0
        close.click()
        expect(dialog).to_have_count(0)
        assert page.evaluate("document.documentElement.style.overflow") == ""
        page.mouse.wheel(0, 500)
        page.wait_for_function("scrollY > 0")


class TestFooter:
    def test_see_all_and_the_changelog_link(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        for n in range(12):
            workspace.announce(f"Item {n}")
        changelog = "https://tidings.example.com/changelog/acme"
        page.goto(embed("/footer", attrs=f' data-changelog-url="{changelog}"'))
        page.get_by_role("button", name=re.compile("^What's new")).click()
        dialog = page.get_by_role("dialog", name="What's new")
        expect(dialog.get_by_role("article")).to_have_count(10)
        expect(dialog.get_by_role("link", name="Changelog")).to_have_attribute("href", changelog)
        dialog.get_by_role("button", name="See all (12)").click()
        expect(dialog.get_by_role("article")).to_have_count(12)
        expect(dialog.get_by_role("button", name=re.compile("^See all"))).to_have_count(0)

    def test_the_changelog_link_the_feed_names(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        # The server does not name the changelog yet: this stands in for the day it does.
        workspace.announce("Dark mode")
        changelog = "https://tidings.example.com/changelog/acme"

        def name_the_changelog(route: Route) -> None:
            response = route.fetch()
            feed = {**response.json(), "changelog_url": changelog}
            route.fulfill(response=response, json=feed)

        page.route(re.compile(r"/v1/widget/(announcements|identify)"), name_the_changelog)
        page.goto(embed("/named"))
        page.get_by_role("button", name=re.compile("^What's new")).click()
        dialog = page.get_by_role("dialog", name="What's new")
        expect(dialog.get_by_role("link", name="Changelog")).to_have_attribute("href", changelog)

    def test_no_changelog_link_without_the_attribute(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Dark mode")
        page.goto(embed("/no-footer"))
        page.get_by_role("button", name=re.compile("^What's new")).click()
        dialog = page.get_by_role("dialog", name="What's new")
        expect(dialog.get_by_role("article")).to_have_count(1)
        expect(dialog.get_by_role("link")).to_have_count(0)
