"""Building blocks of the browser tests: a live Tidings server, a host site on another
origin, an admin client, and a look at the database behind the server."""

import asyncio
import base64
import html
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
from playwright.sync_api import Page as BrowserPage
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col

from app.models import Event
from tests.fixtures.databases import in_thread

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "e2e-admin-token-0123456789abcdef"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# The colour schemes the browser tests look at, as Playwright names them.
ColorScheme = Literal["light", "dark"]
SCHEMES: tuple[ColorScheme, ...] = ("light", "dark")
# Images the tests announce: served by Playwright's router, so no request leaves the machine.
IMAGE_URL = "https://images.test/dark.png"
PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    check: Callable[[], T],
    timeout: float = 8.0,
    interval: float = 0.1,
    page: BrowserPage | None = None,
) -> T:
    """Poll ``check`` until it returns something truthy; fail with its last value.

    Give the ``page`` when ``check`` reads what the page reports: Playwright delivers its
    events only while it is called, so the wait must go through it.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, f"still {value!r} after {timeout} s"
            return value
        if page is None:
            time.sleep(interval)
        else:
            page.wait_for_timeout(interval * 1000)


@contextmanager
def running_tidings(database_url: str, **settings: str) -> Iterator[str]:
    """``tidings serve`` on a free port, in a process of its own; yields its origin."""
    port = free_port()
    env = {
        **os.environ,
        "TIDINGS_DATABASE_URL": database_url,
        "TIDINGS_ADMIN_TOKEN": ADMIN_TOKEN,
        "TIDINGS_LOG_LEVEL": "WARNING",
        "TIDINGS_LOG_FORMAT": "text",
        **{f"TIDINGS_{name.upper()}": value for name, value in settings.items()},
    }
    # `tidings serve`, as an operator runs it (it checks the migrations, then serves).
    command = [sys.executable, "-c", "from app.cli import main; main()", "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    origin = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        try:

            def is_ready() -> bool:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"tidings exited early:\n{log.read().decode()}")
                try:
                    return httpx.get(f"{origin}/healthz", timeout=1).status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(is_ready, timeout=30, interval=0.1)
            yield origin
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class Page:
    body: str
    headers: dict[str, str] = field(default_factory=dict)


class HostSite:
    """The product that embeds the widget: static pages on their own origin."""

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                page = site.pages.get(self.path.split("?")[0])
                if page is None:
                    self.send_error(404)
                    return
                body = page.body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                for name, value in page.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path: str, body: str, headers: dict[str, str] | None = None) -> str:
        self.pages[path] = Page(body, headers or {})
        return self.origin + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def host_page(
    script_src: str,
    key: str,
    *,
    attrs: str = "",
    before: str = "",
    head: str = "",
    body: str = "<h1>Host product</h1>",
    nonce: str | None = None,
) -> str:
    """A host page with the embed code exactly as PRODUCT.md gives it."""
    nonce_attr = f' nonce="{nonce}"' if nonce else ""
    icon = '<link rel="icon" href="data:,">'  # no favicon request, no 404 in the console
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Host</title>{icon}{head}</head>
<body>{body}
<script{nonce_attr}>window.tidings=window.tidings||function(){{(tidings.q=tidings.q||[]).push(arguments)}};
{before}</script>
<script{nonce_attr} async src="{html.escape(script_src)}" data-key="{key}"{attrs}></script>
</body></html>"""


@dataclass
class Workspace:
    id: str
    publishable_key: str
    secret_key: str
    api: httpx.Client

    def announce(self, title: str, **fields: Any) -> dict[str, Any]:
        body = {"title": title, "body": f"About *{title}*.", "status": "published", **fields}
        response = self.api.post(
            "/v1/announcements",
            json=body,
            headers={"Authorization": f"Bearer {self.secret_key}"},
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def feed(self, **who: str) -> dict[str, Any]:
        """The feed as the server would answer the widget now (the user's server state)."""
        response = self.api.get(
            "/v1/widget/announcements", params={"key": self.publishable_key, **who}
        )
        assert response.status_code == 200, response.text
        feed: dict[str, Any] = response.json()
        return feed

    def state(self, announcement_id: str, **who: str) -> dict[str, Any]:
        items = {item["id"]: item for item in self.feed(**who)["announcements"]}
        item: dict[str, Any] = items[announcement_id]
        return item


def create_workspace(api: httpx.Client, allowed_origins: list[str]) -> Workspace:
    response = api.post(
        "/v1/workspaces",
        json={"name": f"E2E {secrets.token_hex(4)}", "allowed_origins": allowed_origins},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    return Workspace(created["id"], created["publishable_key"], created["secret_key"], api)


class Database:
    """Reads what the server stored, straight from its database."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _run(self, statement: Any) -> Any:
        async def run() -> Any:
            engine = create_async_engine(self.url)
            try:
                async with engine.connect() as connection:
                    return (await connection.execute(statement)).scalar()
            finally:
                await engine.dispose()

        return in_thread(asyncio.run, run())

    def count_events(self, workspace_id: str, type: str, announcement_id: str | None = None) -> int:
        statement = (
            select(func.count())
            .select_from(Event)
            .where(col(Event.workspace_id) == workspace_id, col(Event.type) == type)
        )
        if announcement_id is not None:
            statement = statement.where(col(Event.announcement_id) == announcement_id)
        count: int = self._run(statement)
        return count
