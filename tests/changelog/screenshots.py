"""Screenshots of the public changelog for docs/changelog/: light and dark, desktop and phone.

    .venv/bin/python -m tests.changelog.screenshots [OUTPUT_DIR]

Seeds the demo workspace in a throwaway SQLite database, themes it, serves it with
``tidings serve`` and photographs the page and a permalink in Chromium.
"""

import asyncio
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Route, ViewportSize, sync_playwright
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from app.demo.page import seed_demo
from app.migrate import upgrade_database
from tests.widget_e2e.harness import (
    ADMIN_TOKEN,
    CHROMIUM,
    CHROMIUM_ARGS,
    SCHEMES,
    running_tidings,
)

ROOT = Path(__file__).resolve().parents[2]
SIZES: dict[str, ViewportSize] = {
    "desktop": {"width": 1280, "height": 800},
    "phone": {"width": 390, "height": 844},
}
# Drawn here, so the screenshots need no network: served for https://images.test/ URLs.
ILLUSTRATION = """<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="520"
viewBox="0 0 1200 520">
<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#1e1b4b"/>
<stop offset="1" stop-color="#4f46e5"/></linearGradient></defs>
<rect width="1200" height="520" fill="url(#g)"/>
<rect x="150" y="90" width="900" height="380" rx="22" fill="#0f172a" stroke="#334155"
stroke-width="3"/>
<rect x="190" y="140" width="240" height="24" rx="12" fill="#334155"/>
<rect x="190" y="190" width="520" height="18" rx="9" fill="#1e293b"/>
<rect x="190" y="226" width="460" height="18" rx="9" fill="#1e293b"/>
<rect x="190" y="300" width="360" height="120" rx="16" fill="#1e293b"/>
<rect x="580" y="300" width="430" height="120" rx="16" fill="#312e81"/>
<circle cx="980" cy="152" r="26" fill="#fde68a"/><circle cx="992" cy="142" r="22" fill="#0f172a"/>
</svg>"""
LOGO = """<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">
<rect width="64" height="64" rx="14" fill="#4f46e5"/>
<path d="M18 44 32 18l14 26z" fill="#fff"/></svg>"""


async def _seed(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            await seed_demo(session)
            await session.commit()
    finally:
        await engine.dispose()


def _secret_key(api: httpx.Client) -> str:
    created = api.post(
        "/v1/workspaces",
        json={"name": "Shots", "slug": "shots"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    ).json()
    return str(created["secret_key"])


def _serve_images(route: Route) -> None:
    body = LOGO if "logo" in route.request.url else ILLUSTRATION
    route.fulfill(body=body, content_type="image/svg+xml")


def take(output: Path) -> list[Path]:
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as directory:
        database_url = f"sqlite+aiosqlite:///{directory}/shots.db"
        upgrade_database(database_url)
        asyncio.run(_seed(database_url))
        with running_tidings(database_url) as origin, httpx.Client(base_url=origin) as api:
            auth = {"Authorization": f"Bearer {_secret_key(api)}"}
            api.patch(
                "/v1/workspace",
                json={
                    "name": "Acme",
                    "changelog_logo_url": "https://images.test/logo.svg",
                    "changelog_product_url": "https://app.acme.example/",
                },
                headers=auth,
            ).raise_for_status()
            _publish_samples(api, auth)
            return _photograph(origin, output)


def _publish_samples(api: httpx.Client, auth: dict[str, str]) -> None:
    samples: list[dict[str, object]] = [
        {
            "title": "Exports keep leading zeros",
            "category": "fix",
            "body": "Postal codes and ids such as `00420` open in spreadsheets as they are.",
        },
        {
            "title": "Faster search, with typo tolerance",
            "category": "improvement",
            "body": "Results appear as you type, and a slip of the finger still finds what "
            "you meant.\n\n- Twice as fast on large workspaces\n- Highlights the matching words",
        },
        {
            "title": "Dark mode is here",
            "category": "new",
            "body": "Easier on the eyes at night: switch it on in **Settings → Appearance**, "
            "or let it follow your system.",
            "image_url": "https://images.test/dark-mode.svg",
            "cta": {"label": "Try dark mode", "url": "https://app.acme.example/settings"},
        },
    ]
    for sample in samples:
        body = {**sample, "status": "published", "public": True}
        api.post("/v1/announcements", json=body, headers=auth).raise_for_status()


def _photograph(origin: str, output: Path) -> list[Path]:
    taken: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for size, viewport in SIZES.items():
            for scheme in SCHEMES:
                context = browser.new_context(
                    viewport=viewport,
                    color_scheme=scheme,
                    device_scale_factor=2 if size == "phone" else 1,
                    locale="en-US",
                )
                context.route("https://images.test/**", _serve_images)
                page = context.new_page()
                for name, path in (
                    ("page", "/changelog/shots"),
                    ("permalink", "/changelog/shots/dark-mode-is-here"),
                ):
                    page.goto(origin + path)
                    page.wait_for_load_state("networkidle")
                    target = output / f"{name}-{size}-{scheme}.png"
                    page.screenshot(
                        path=str(target), full_page=name == "page" and size == "desktop"
                    )
                    taken.append(target)
                context.close()
        browser.close()
    return taken


if __name__ == "__main__":
    destination = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "changelog"
    for path in take(destination):
        print(path)  # noqa: T201
