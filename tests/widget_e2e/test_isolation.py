"""The widget on hostile ground: a strict CSP, aggressive host CSS, a dead server."""

import gzip
import hashlib

import httpx
from playwright.sync_api import Page, expect

from tests.widget_e2e.conftest import BrowserLog, Embed
from tests.widget_e2e.harness import ROOT, HostSite, Workspace, free_port, host_page

NONCE = "r4nd0m-n0nce"
STRICT_CSP = f"script-src 'nonce-{NONCE}' 'strict-dynamic'; style-src 'self' 'nonce-{NONCE}'"
WATCH_VIOLATIONS = (
    f"<script nonce='{NONCE}'>window.violations=[];document.addEventListener("
    "'securitypolicyviolation',function(e){violations.push(e.violatedDirective)})</script>"
)
CSP_HEADERS = {"Content-Security-Policy": STRICT_CSP}
# Chromium logs a failed network request itself ("Failed to load resource: ..."); no page
# can silence that line, so the clean-console checks below leave exactly it out.
NETWORK_LINE = "Failed to load resource"


def assert_styled(page: Page) -> None:
    launcher = page.get_by_role("button", name="What's new")
    expect(launcher).to_have_css("border-radius", "50%")
    box = launcher.bounding_box()
    assert box is not None and (box["width"], box["height"]) == (48, 48)


class TestStrictCsp:
    def test_works_with_constructable_stylesheets(
        self, page: Page, embed: Embed, workspace: Workspace, log: BrowserLog
    ) -> None:
        workspace.announce("Dark mode")
        page.goto(embed("/csp", CSP_HEADERS, nonce=NONCE, head=WATCH_VIOLATIONS))
        assert_styled(page)
        page.get_by_role("button", name="What's new").click()
        dialog = page.get_by_role("dialog", name="What's new")
        expect(dialog.get_by_role("article")).to_have_count(1)
        assert page.evaluate("violations") == []
        assert log.problems == []

    def test_falls_back_to_a_style_element_with_the_scripts_nonce(
        self, page: Page, embed: Embed, workspace: Workspace, log: BrowserLog
    ) -> None:
        workspace.announce("Dark mode")
        # A browser without adoptedStyleSheets (Safari before 16.4).
        page.add_init_script(
            "Object.defineProperty(ShadowRoot.prototype,'adoptedStyleSheets',"
            "{get:function(){},set:function(){},configurable:true})"
        )
        page.goto(embed("/csp-old", CSP_HEADERS, nonce=NONCE, head=WATCH_VIOLATIONS))
        assert_styled(page)
        style = page.locator("tidings-widget style")  # Playwright's CSS pierces shadow roots
        assert style.evaluate("style => style.nonce") == NONCE
        assert page.evaluate("violations") == []
        assert log.problems == []


class TestHostCss:
    def test_hostile_host_css_cannot_break_it(
        self, page: Page, embed: Embed, workspace: Workspace, log: BrowserLog
    ) -> None:
        workspace.announce("Dark mode", display="popover")
        hostile = (
            "<style>* { all: unset !important; } button { display: none !important; }"
            " tidings-widget { display: none !important; opacity: 0 !important; }"
            " :not(:defined) { display: none !important; }"
            " div, article { position: static !important; color: red !important; }</style>"
        )
        page.goto(embed("/hostile", head=hostile))
        assert_styled(page)
        expect(page.get_by_role("article", name="Dark mode")).to_be_visible()
        page.get_by_role("button", name="What's new").click()
        expect(page.get_by_role("dialog", name="What's new")).to_be_visible()
        assert log.problems == []

    def test_does_not_restyle_the_host(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Dark mode")
        page.goto(embed("/polite", body="<h1>Host</h1><button>Host button</button>"))
        expect(page.get_by_role("button", name="What's new")).to_be_visible()
        assert page.evaluate(
            "[document.styleSheets.length, document.adoptedStyleSheets.length]"
        ) == [
            0,
            0,
        ]
        font = page.evaluate("getComputedStyle(document.querySelector('h1')).fontFamily")
        assert font == '"Times New Roman"'
        assert page.evaluate("Object.keys(window).filter(k => /tidings/i.test(k))") == ["tidings"]
        assert page.evaluate("document.cookie") == ""


class TestServerDown:
    def test_api_down_leaves_the_host_page_working_and_quiet(
        self, page: Page, embed: Embed, workspace: Workspace, log: BrowserLog
    ) -> None:
        workspace.announce("Dark mode")
        page.route("**/v1/widget/**", lambda route: route.abort("connectionrefused"))
        page.goto(
            embed(
                "/down",
                body='<button id="own" type="button">Host button</button>'
                "<script>window.clicks=0;document.getElementById('own')"
                ".addEventListener('click',function(){clicks++})</script>",
            )
        )
        launcher = page.get_by_role("button", name="What's new")
        expect(launcher).to_be_visible()
        page.evaluate(
            "tidings('identify',{user_id:'9'});tidings('open');tidings.close();"
            "tidings('no-such-command');"
            "tidings.on('unread',function(){throw new Error('a bug of the host')})"
        )
        launcher.click()
        page.get_by_role("button", name="Host button").click()
        assert page.evaluate("clicks") == 1
        page.wait_for_timeout(500)
        assert log.errors == []
        assert [m for m in log.problems if NETWORK_LINE not in m] == []

    def test_script_unreachable_leaves_the_stub_harmless(
        self, page: Page, host_site: HostSite, log: BrowserLog
    ) -> None:
        dead = f"http://127.0.0.1:{free_port()}/widget.js"
        page.goto(
            host_site.add(
                "/dead",
                host_page(dead, "pk_unused", before="tidings('identify',{user_id:'1'});"),
            )
        )
        page.evaluate("tidings('open')")
        assert page.evaluate("tidings.q.length") == 2
        assert log.errors == []
        assert [m for m in log.problems if NETWORK_LINE not in m] == []


class TestBundle:
    def test_served_script_is_the_built_one_and_within_budget(self, api: httpx.Client) -> None:
        built = (ROOT / "widget" / "dist" / "widget.js").read_bytes()
        assert len(gzip.compress(built, compresslevel=9)) <= 6144
        served = api.get("/widget.js")
        assert served.status_code == 200
        assert served.content == built
        assert "javascript" in served.headers["content-type"]

    def test_the_ui_chunk_is_served_at_the_hash_the_loader_names(self, api: httpx.Client) -> None:
        dist = ROOT / "widget" / "dist"
        chunk = (dist / "widget-ui.js").read_bytes()
        version = hashlib.sha256(chunk).hexdigest()[:12]
        assert f"/widget/{version}.js".encode() in (dist / "widget.js").read_bytes()
        served = api.get(f"/widget/{version}.js")
        assert served.status_code == 200
        assert served.content == chunk
        assert served.headers["access-control-allow-origin"] == "*"  # imported as a module
        assert "immutable" in served.headers["cache-control"]
        assert api.get("/widget/0123456789ab.js").status_code == 404
