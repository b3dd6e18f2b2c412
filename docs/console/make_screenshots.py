"""Screenshots of the console's main pages for docs/console.md, in light and dark, on a
desktop (1280x800) and a phone (390x844) viewport. Remake them with:

    .venv/bin/python docs/console/make_screenshots.py

It seeds a throwaway SQLite database (a workspace with three members; announcements
written through the admin API with a secret key, so the audit log has entries; 30 days of
engagement figures), serves it with `tidings serve` on a free port, does a few things in
the console as its owner (an invitation, a save: more audit entries), and drives Debian's
Chromium (/usr/bin/chromium) with Playwright.
"""

import asyncio
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import update
from sqlmodel import col

from app.accounts.audit import CLI_ACTOR
from app.accounts.schemas import Role
from app.accounts.service import account_service, membership_service
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.migrate import upgrade_database
from app.models import Announcement, AnnouncementStats
from app.workspaces.keys import KeyKind
from app.workspaces.schemas import WorkspaceCreate
from app.workspaces.service import workspace_service

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
EMAIL, PASSWORD = "pat@example.com", "a demo password for screenshots"
TEAM = {"sam@example.com": Role.editor, "lee@example.com": Role.viewer}
ZONE = "Europe/Berlin"
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


async def seed(url: str) -> tuple[str, str, str]:
    """The workspace, its members and a secret key named deploy-bot: (slug, id, key)."""
    engine = create_engine(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
    try:
        async with create_sessionmaker(engine)() as session:
            created = await workspace_service.create(
                session, WorkspaceCreate(name="Acme", allowed_origins=["https://app.acme.example"])
            )
            workspace_id = created.workspace.id
            other = await workspace_service.create(session, WorkspaceCreate(name="Acme Labs"))
            member = (await account_service.create_member(session, EMAIL, PASSWORD)).member
            await membership_service.grant(session, workspace_id, member.id, Role.owner)
            await membership_service.grant(session, other.workspace.id, member.id, Role.editor)
            for email, role in TEAM.items():
                teammate = (await account_service.create_member(session, email, PASSWORD)).member
                await membership_service.grant(session, workspace_id, teammate.id, role)
            bot = await workspace_service.create_key(
                session, workspace_id, KeyKind.secret, "deploy-bot", actor=CLI_ACTOR
            )
            await session.commit()
            return created.workspace.slug, workspace_id, bot.key
    finally:
        await engine.dispose()


class _Accepting(BaseHTTPRequestHandler):
    """A webhook receiver that takes everything (204)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def add_webhooks(origin: str, secret_key: str, receiver_url: str) -> None:
    """One endpoint that receives, one (Slack) that nobody answers: a delivery retried."""
    auth = {"Authorization": f"Bearer {secret_key}"}
    with httpx.Client(base_url=origin, headers=auth) as api:
        api.post(
            "/v1/webhooks",
            json={"url": receiver_url + "tidings", "description": "Release notes bot"},
        ).raise_for_status()
        api.post(
            "/v1/webhooks",
            json={"url": "http://127.0.0.1:9/slack", "kind": "slack", "description": "#product"},
        ).raise_for_status()


def publish_through_the_api(origin: str, secret_key: str) -> list[str]:
    """The samples, as a deploy script would send them (the audit log names its key)."""
    auth = {"Authorization": f"Bearer {secret_key}"}
    ids = []
    with httpx.Client(base_url=origin, headers=auth) as api:
        for sample in SAMPLES:
            response = api.post("/v1/announcements", json=sample)
            response.raise_for_status()
            ids.append(response.json()["id"])
        api.patch(f"/v1/announcements/{ids[1]}", json={"body": "A year of data in seconds."})
    return ids


async def seed_engagement(url: str, workspace_id: str, announcement_ids: list[str]) -> None:
    """30 days of figures for the published samples, published 30, 18 and 6 days ago."""
    engine = create_engine(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    draw = random.Random(15)
    try:
        async with create_sessionmaker(engine)() as session:
            samples = zip(announcement_ids[:3], (29, 17, 5), (900, 500, 300), strict=True)
            for announcement_id, age, reach in samples:
                published = now - timedelta(days=age, hours=3)
                await session.execute(
                    update(Announcement)
                    .where(col(Announcement.id) == announcement_id)
                    .values(published_at=published, created_at=published - timedelta(hours=2))
                )
                for hours in range(age * 24 + 3, -1, -4):
                    moment = now - timedelta(hours=hours)
                    days = (moment - published).total_seconds() / 86400
                    daytime = 0.4 + math.sin(math.pi * ((moment.hour + 1) % 24) / 24) ** 2
                    interest = 0.2 + math.exp(-days / 5)
                    views = int(reach * interest * daytime / 6 * draw.uniform(0.7, 1.3))
                    viewers = int(views * 0.72)
                    clicks = int(views * draw.uniform(0.05, 0.12))
                    dismissals = int(views * draw.uniform(0.08, 0.16))
                    session.add(
                        AnnouncementStats(
                            workspace_id=workspace_id,
                            announcement_id=announcement_id,
                            bucket=moment,
                            impressions=views,
                            unique_viewers=viewers,
                            clicks=clicks,
                            unique_clickers=int(clicks * 0.9),
                            dismissals=dismissals,
                            unique_dismissers=dismissals,
                            reactions_positive=int(views * draw.uniform(0.01, 0.04)),
                            reactions_neutral=int(views * draw.uniform(0.0, 0.015)),
                            reactions_negative=int(views * draw.uniform(0.0, 0.01)),
                        )
                    )
            await session.commit()
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
        slug, workspace_id, secret_key = asyncio.run(seed(url))
        port = free_port()
        env = {
            **os.environ,
            "TIDINGS_DATABASE_URL": url,
            "TIDINGS_LOG_LEVEL": "WARNING",
            "TIDINGS_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver below is on 127.0.0.1
        }
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
            receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Accepting)
            threading.Thread(target=receiver.serve_forever, daemon=True).start()
            add_webhooks(origin, secret_key, f"http://127.0.0.1:{receiver.server_address[1]}/")
            ids = publish_through_the_api(origin, secret_key)
            time.sleep(2)  # the deliveries
            asyncio.run(seed_engagement(url, workspace_id, ids))
            capture(origin, slug, ids[0])
        finally:
            server.terminate()
            server.wait(10)


def sign_in(page: Page, origin: str, slug: str) -> None:
    page.goto(f"{origin}/console/sign-in")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/console/w/{slug}/announcements")


def act_in_the_console(browser: Any, origin: str, slug: str) -> None:
    """What an owner does in a morning: an invitation, a role, a save (audit entries)."""
    context = browser.new_context(locale="en-US", timezone_id=ZONE)
    page = context.new_page()
    sign_in(page, origin, slug)
    page.goto(f"{origin}/console/w/{slug}/members")
    page.get_by_label("Email").fill("alex@example.com")
    page.get_by_role("button", name="Create invitation link").click()
    page.get_by_role("link", name="Announcements").first.click()
    page.get_by_role("link", name="Dark mode is here").click()
    page.get_by_label("Title", exact=True).fill("Dark mode is here, for everyone")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url("**done=saved")
    context.close()


def capture(origin: str, slug: str, charted_id: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"]
        )
        act_in_the_console(browser, origin, slug)
        for size, (width, height) in VIEWPORTS.items():
            for scheme in SCHEMES:
                context = browser.new_context(
                    viewport={"width": width, "height": height},
                    color_scheme=scheme,  # type: ignore[arg-type]
                    locale="en-US",
                    timezone_id=ZONE,  # the engagement pages use the browser's zone
                )
                page = context.new_page()
                page.goto(f"{origin}/console/sign-in")
                shoot(page, "sign-in", scheme, size)
                page.get_by_label("Email").fill(EMAIL)
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(f"**/console/w/{slug}/announcements")
                shoot(page, "announcements", scheme, size)
                page.goto(f"{origin}/console/w/{slug}/announcements/{charted_id}/engagement")
                page.locator(".chart-plot canvas").first.wait_for()
                shoot(page, "engagement", scheme, size)
                page.locator(".charts").scroll_into_view_if_needed()
                shoot(page, "engagement-charts", scheme, size)
                page.goto(f"{origin}/console/w/{slug}/engagement")
                shoot(page, "overview", scheme, size)
                page.goto(f"{origin}/console/w/{slug}/announcements/{charted_id}")
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
                page.goto(f"{origin}/console/w/{slug}/webhooks")
                shoot(page, "webhooks", scheme, size)
                page.get_by_role("link", name="/tidings").click()
                shoot(page, "webhook", scheme, size)
                page.goto(f"{origin}/console/w/{slug}/settings")
                page.locator("#zone-title").evaluate(
                    "title => title.scrollIntoView({block: 'center'})"
                )
                shoot(page, "settings-zone", scheme, size)
                context.close()
        browser.close()


if __name__ == "__main__":
    main()
