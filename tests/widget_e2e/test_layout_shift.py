"""The banner's push mode measured as Chromium measures CLS: the sum of the `layout-shift`
entries without recent input, seen by a PerformanceObserver registered before anything
else on the page.

Push mode moves the page's content aside. At the top, the space is reserved before the
page's first paint when the widget can know it then: on the page loads after the one where
the banner first showed, with the script loaded synchronously in <head>; the first time,
the banner lies over the page instead. At the bottom nothing above the banner moves, on
any page load."""

import html

from playwright.sync_api import Page, expect

from tests.widget_e2e.conftest import Embed
from tests.widget_e2e.harness import HostSite, Workspace, wait_until
from tests.widget_e2e.test_auto_show import load_and_settle
from tests.widget_e2e.test_layout import box

# Registered first in <head>; counts what CLS counts (shifts right after input do not).
CLS_OBSERVER = (
    "<script>window.cls=0;new PerformanceObserver(function(list){list.getEntries()"
    ".forEach(function(e){if(!e.hadRecentInput)cls+=e.value})})"
    ".observe({type:'layout-shift',buffered:true})</script>"
)
CONTENT = '<h1 id="title">Host</h1><p>Content</p><div style="height:2000px"></div>'


def head_embed(site: HostSite, script_src: str, key: str, path: str, attrs: str) -> str:
    """A host page loading the widget synchronously in <head>, after the CLS observer."""
    stub = "window.tidings=window.tidings||function(){(tidings.q=tidings.q||[]).push(arguments)};"
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Host</title><link rel="icon" href="data:,">
{CLS_OBSERVER}<script>{stub}</script>
<script src="{html.escape(script_src)}" data-key="{key}"{attrs}></script>
</head><body>{CONTENT}</body></html>"""
    return site.add(path, body)


def settle(page: Page) -> float:
    """Waits for the banner, then for anything that could still move; returns the CLS."""
    expect(page.get_by_role("article", name="Scheduled maintenance")).to_be_visible()
    page.wait_for_timeout(600)
    cls: float = page.evaluate("cls")
    return cls


class TestTopPush:
    def test_later_page_loads_do_not_shift_at_all(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Scheduled maintenance", display="banner", category="fix")
        url = head_embed(
            embed.site, embed.script_src, embed.key, "/cls-head", ' data-banner="top push"'
        )
        # The very first time, the banner's height is not known before the first paint: it
        # lies over the page this once, and nothing moves.
        load_and_settle(page, url)
        assert settle(page) == 0
        banner = box(page, "tidings-widget article")
        assert box(page, "#title")["y"] < banner["y"] + banner["height"]  # covered
        assert page.locator("tidings-spacer").count() == 0
        # Every later page load reserves the space before the first paint: pushed, CLS 0.
        # (Navigations: a reload would restore the scroll position that kept the heading
        # where it was.)
        for _ in range(2):
            load_and_settle(page, url)
            assert settle(page) == 0
            banner = box(page, "tidings-widget article")
            assert box(page, "#title")["y"] >= banner["y"] + banner["height"]

    def test_nothing_is_reserved_once_the_banner_is_dismissed(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Scheduled maintenance", display="banner", category="fix")
        url = head_embed(
            embed.site, embed.script_src, embed.key, "/cls-dismissed", ' data-banner="top push"'
        )
        load_and_settle(page, url)
        banner = page.get_by_role("article", name="Scheduled maintenance")
        banner.get_by_role("button", name="Dismiss").click()
        expect(banner).to_have_count(0)
        load_and_settle(page)
        page.wait_for_timeout(300)
        assert page.evaluate("cls") == 0
        assert box(page, "#title")["y"] < 40
        expect(page.locator("tidings-spacer")).to_have_count(0)

    def test_a_banner_that_ended_gives_the_space_back(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        # Ended elsewhere (here: archived): the reserved space goes once the feed says so.
        item = workspace.announce("Scheduled maintenance", display="banner", category="fix")
        url = head_embed(
            embed.site, embed.script_src, embed.key, "/cls-ended", ' data-banner="top push"'
        )
        load_and_settle(page, url)
        settle(page)
        response = workspace.api.patch(
            f"/v1/announcements/{item['id']}",
            json={"status": "archived"},
            headers={"Authorization": f"Bearer {workspace.secret_key}"},
        )
        assert response.status_code == 200, response.text
        # The server's feed drops it within its snapshot's re-check (1 s): reload after.
        wait_until(lambda: not workspace.feed(anonymous_id="a-1")["announcements"])
        load_and_settle(page)
        expect(page.locator("tidings-spacer")).to_have_count(0)
        assert box(page, "#title")["y"] < 40

    def test_with_the_async_embed_code_it_lies_over_the_page_and_nothing_moves(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Scheduled maintenance", display="banner", category="fix")
        # The embed code as PRODUCT.md gives it (async, at the end of <body>): it runs once
        # the page may have painted, too late to reserve space without moving anything.
        url = embed(
            "/cls-async-top", attrs=' data-banner="top push"', head=CLS_OBSERVER, body=CONTENT
        )
        for _ in range(3):  # the first load, then loads that know the banner's height
            load_and_settle(page, url)
            assert settle(page) == 0
            expect(page.locator("tidings-spacer")).to_have_count(0)


class TestBottomPush:
    def test_even_the_first_page_load_does_not_shift(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Scheduled maintenance", display="banner", category="fix")
        # The embed code as PRODUCT.md gives it (async, at the end of <body>).
        url = embed(
            "/cls-bottom", attrs=' data-banner="bottom push"', head=CLS_OBSERVER, body=CONTENT
        )
        load_and_settle(page, url)
        assert settle(page) == 0
        # The launcher stands above the banner (moved by a transform, not a layout shift).
        banner, launcher = box(page, "tidings-widget article"), box(page, "tidings-widget button")
        assert launcher["y"] + launcher["height"] <= banner["y"]
