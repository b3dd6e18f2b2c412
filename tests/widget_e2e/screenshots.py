"""Screenshots of every widget surface, light and dark, 1280x800 and 390x844, into
docs/widget-screenshots/ (referenced from widget/README.md).

    .venv/bin/python -m tests.widget_e2e.screenshots

Runs a Tidings of its own on a throwaway SQLite database, a host site on another origin,
and Debian's Chromium, as the browser tests do.
"""

import functools
import struct
import sys
import tempfile
import zlib
from collections.abc import Callable

import httpx
from playwright.sync_api import Page, sync_playwright

from tests.widget_e2e.harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    HostSite,
    Workspace,
    create_workspace,
    host_page,
    running_tidings,
)

OUT = ROOT / "docs" / "widget-screenshots"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
IMAGE_URL = "https://images.test/feature.png"
HOST_CSS = """<style>
body { margin: 0; font: 16px/1.6 system-ui, sans-serif; background: #f6f8fa; color: #1f2328; }
body.dark { background: #0d1117; color: #e6edf3; }
header { display: flex; align-items: center; gap: 24px; padding: 14px 24px;
  background: #fff; border-bottom: 1px solid #d1d9e0; }
.dark header { background: #161b22; border-color: #30363d; }
header b { font-size: 18px; } header nav { display: flex; gap: 18px; flex: 1; }
header a { color: inherit; text-decoration: none; opacity: .8; }
#news { font: inherit; padding: 6px 12px; border-radius: 8px; border: 1px solid #d1d9e0;
  background: transparent; color: inherit; }
main { max-width: 880px; margin: 32px auto; padding: 0 24px; }
.card { background: #fff; border: 1px solid #d1d9e0; border-radius: 12px; padding: 20px;
  margin-bottom: 16px; }
.dark .card { background: #161b22; border-color: #30363d; }
@media (max-width: 600px) { header nav { display: none; } }
</style>"""


def feature_png(width: int = 640, height: int = 280) -> bytes:
    """A gradient PNG for announcement images (no file, no network)."""
    rows = b"".join(
        b"\x00"
        + bytes(
            channel
            for x in range(width)
            for channel in (79 + x * 60 // width, 70 + y * 80 // height, 229 - x * 40 // width)
        )
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def host_body(theme: str, trigger: bool) -> str:
    button = '<button id="news" type="button">What\'s new</button>' if trigger else ""
    cards = "".join(
        f'<div class="card"><h3>Project {n}</h3><p>Quarterly numbers, the team\'s notes and'
        " the next milestones, as the host product would show them.</p></div>"
        for n in range(1, 6)
    )
    return (
        f'<script>document.body.className="{theme}"</script>'
        f"<header><b>Acme</b><nav><a href=#>Dashboard</a><a href=#>Reports</a>"
        f"<a href=#>Settings</a></nav>{button}</header><main><h1>Dashboard</h1>{cards}</main>"
    )


def seed_feed(workspace: Workspace) -> None:
    workspace.announce(
        "Invoices, reconciled for you",
        category="fix",
        body="Payments that arrive late now match their invoice by themselves.",
    )
    workspace.announce(
        "Faster search",
        category="improvement",
        body="Results come in **half the time**, even across years of reports.",
    )
    workspace.announce(
        "Dark mode is here",
        category="new",
        image_url=IMAGE_URL,
        body="Switch it on in *Settings → Appearance*, or let it follow your system.",
        cta={"label": "Try it", "url": "https://app.example.com/settings"},
    )


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    site = HostSite()
    with (
        tempfile.TemporaryDirectory() as folder,
        running_tidings(
            f"sqlite+aiosqlite:///{folder}/screens.db", widget_poll_after_s="60"
        ) as origin,
        httpx.Client(base_url=origin, timeout=10) as api,
        sync_playwright() as pw,
    ):
        allowed = [site.origin]
        feed = create_workspace(api, allowed)
        seed_feed(feed)
        surfaces: dict[str, Workspace] = {}
        for display, title, body in (
            ("popover", "Export reports to CSV", "Every report now has an *Export* button."),
            ("banner", "Scheduled maintenance on Sunday", "Sign-ins pause 02:00 to 02:30 UTC."),
            ("modal", "Welcome to Acme 2.0", "A new home, faster reports and dark mode."),
        ):
            surfaces[display] = create_workspace(api, allowed)
            seed_feed(surfaces[display])
            surfaces[display].announce(
                title,
                display=display,
                category="announcement" if display != "modal" else "new",
                body=body,
                image_url=IMAGE_URL if display == "modal" else None,
                cta={"label": "Learn more", "url": "https://app.example.com/news"},
            )
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        image = feature_png()
        src = f"{origin}/widget.js"

        def page_for(
            workspace: Workspace, theme: str, size: str, down: bool = False, **options: str
        ) -> Page:
            width, height = SIZES[size]
            context = browser.new_context(
                viewport={"width": width, "height": height},
                device_scale_factor=1,
                locale="en-US",
                color_scheme="light" if theme == "light" else "dark",
                reduced_motion="reduce",
            )
            context.route(
                "https://images.test/**",
                lambda route: route.fulfill(body=image, content_type="image/png"),
            )
            page = context.new_page()
            trigger = options.pop("trigger", "")
            attrs = f' data-theme="{theme}"' + (f' data-trigger="{trigger}"' if trigger else "")
            attrs += " " + " ".join(f'data-{k}="{v}"' for k, v in options.items())
            url = site.add(
                f"/{theme}-{size}-{id(page)}",
                host_page(
                    src,
                    workspace.publishable_key,
                    attrs=attrs,
                    head=HOST_CSS,
                    body=host_body(theme, bool(trigger)),
                ),
            )
            if down:
                page.route("**/v1/widget/**", lambda route: route.abort())
                page.goto(url)
            else:
                with page.expect_response(lambda r: "/v1/widget/announcements" in r.url):
                    page.goto(url)
            page.wait_for_timeout(400)
            return page

        def shoot(name: str, make: Callable[[str, str], Page]) -> None:
            for theme in ("light", "dark"):
                for size in SIZES:
                    page = make(theme, size)
                    page.wait_for_timeout(300)
                    path = OUT / f"{name}-{theme}-{size}.png"
                    page.screenshot(path=str(path))
                    page.context.close()
                    sys.stdout.write(f"{path.relative_to(ROOT)}\n")

        def opened(page: Page, name: str = "What's new") -> Page:
            page.get_by_role("button", name=name).first.click()
            page.get_by_role("dialog").get_by_role("article").first.wait_for()
            return page

        shoot("launcher", lambda theme, size: page_for(feed, theme, size))
        shoot("feed", lambda theme, size: opened(page_for(feed, theme, size)))
        shoot("trigger-badge", lambda theme, size: page_for(feed, theme, size, trigger="#news"))
        shoot(
            "trigger",
            lambda theme, size: opened(page_for(feed, theme, size, trigger="#news")),
        )
        for display, workspace in surfaces.items():
            shoot(display, functools.partial(page_for, workspace))
        shoot(
            "banner-push-bottom",
            lambda theme, size: page_for(surfaces["banner"], theme, size, banner="bottom push"),
        )

        def failing(theme: str, size: str) -> Page:
            page = page_for(feed, theme, size, down=True)
            page.get_by_role("button", name="What's new").click()
            page.get_by_role("button", name="Retry").wait_for()
            return page

        shoot("failure", failing)
        browser.close()
    site.close()


if __name__ == "__main__":
    main()
