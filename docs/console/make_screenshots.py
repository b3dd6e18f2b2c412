"""Screenshots of the console's main pages for docs/console.md, in light and dark, on a
desktop (1280x800) and a phone (390x844) viewport. Remake them with:

    .venv/bin/python docs/console/make_screenshots.py

It seeds a throwaway SQLite database, serves it with `tidings serve` on a free port and
drives Debian's Chromium (/usr/bin/chromium) with Playwright.
"""

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

from app.accounts.schemas import Role
from app.accounts.service import account_service, membership_service
from app.announcements.schemas import AnnouncementCreate
from app.announcements.service import announcement_service
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.migrate import upgrade_database
from app.workspaces.schemas import WorkspaceCreate
from app.workspaces.service import workspace_service

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
EMAIL, PASSWORD = "pat@example.com", "a demo password for screenshots"
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
SCHEMES = ("light", "dark")

SAMPLES: list[dict[str, Any]] = [
    {
        "title": "Dark mode is here",
        "category": "new",
        "status": "published",
        "pinned": True,
        "body": "Switch in **Settings → Appearance**.",
        "display": "popover",
    },
    {
        "title": "Faster CSV exports",
        "category": "improvement",
        "status": "published",
        "body": "Exports of a year of data now take seconds.",
    },
    {
        "title": "Fixed: invoices in the wrong time zone",
        "category": "fix",
        "status": "published",
        "body": "Invoices now use your workspace's time zone.",
    },
    {
        "title": "Spring pricing update",
        "category": "announcement",
        "status": "draft",
        "body": "New plans from April.",
        "display": "banner",
    },
    {
        "title": "Old onboarding checklist",
        "category": "announcement",
        "status": "archived",
        "body": "Replaced by the new guide.",
    },
]


async def seed(url: str) -> str:
    engine = create_engine(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
    try:
        async with create_sessionmaker(engine)() as session:
            created = await workspace_service.create(session, WorkspaceCreate(name="Acme"))
            workspace_id = created.workspace.id
            other = await workspace_service.create(session, WorkspaceCreate(name="Acme Labs"))
            member = (await account_service.create_member(session, EMAIL, PASSWORD)).member
            await membership_service.grant(session, workspace_id, member.id, Role.owner)
            await membership_service.grant(session, other.workspace.id, member.id, Role.editor)
            for sample in SAMPLES:
                await announcement_service.create(
                    session, workspace_id, AnnouncementCreate(**sample)
                )
            await session.commit()
            return created.workspace.slug
    finally:
        await engine.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def shoot(page: Page, name: str, scheme: str, size: str) -> None:
    page.wait_for_load_state("networkidle")
    path = OUT / f"{name}-{size}-{scheme}.png"
    page.screenshot(path=str(path), full_page=False)
    sys.stdout.write(f"{path.relative_to(ROOT)}\n")


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{directory}/screens.db"
        upgrade_database(url)
        slug = asyncio.run(seed(url))
        port = free_port()
        env = {**os.environ, "TIDINGS_DATABASE_URL": url, "TIDINGS_LOG_LEVEL": "WARNING"}
        command = [sys.executable, "-c", "from app.cli import main; main()", "serve"]
        server = subprocess.Popen([*command, "--port", str(port)], cwd=directory, env=env)
        origin = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    if httpx.get(f"{origin}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            capture(origin, slug)
        finally:
            server.terminate()
            server.wait(10)


def capture(origin: str, slug: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"]
        )
        for size, (width, height) in VIEWPORTS.items():
            for scheme in SCHEMES:
                context = browser.new_context(
                    viewport={"width": width, "height": height},
                    color_scheme=scheme,  # type: ignore[arg-type]
                    locale="en-US",
                )
                page = context.new_page()
                page.goto(f"{origin}/console/sign-in")
                shoot(page, "sign-in", scheme, size)
                page.get_by_label("Email").fill(EMAIL)
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(f"**/console/w/{slug}/announcements")
                shoot(page, "announcements", scheme, size)
                page.get_by_role("link", name="Dark mode is here").click()
                frame = page.frame_locator("#preview-frame")
                frame.locator("tidings-widget").wait_for(state="attached")
                page.wait_for_timeout(800)  # the popover's entrance
                shoot(page, "editor", scheme, size)
                page.locator("#preview-frame").scroll_into_view_if_needed()
                page.wait_for_timeout(300)
                shoot(page, "preview", scheme, size)
                for name in ("members", "settings", "audit"):
                    page.goto(f"{origin}/console/w/{slug}/{name}")
                    shoot(page, name, scheme, size)
                context.close()
        browser.close()


if __name__ == "__main__":
    main()
