"""Fixtures of the browser tests: real Chromium, a live Tidings on each test database, and
a host site on another origin (so every widget call is a cross-origin, CORS-checked one)."""

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright
from sqlalchemy import delete
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from app.models import metadata
from tests.fixtures.databases import in_thread
from tests.widget_e2e.harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PNG_1PX,
    Database,
    HostSite,
    Workspace,
    create_workspace,
    host_page,
    running_tidings,
)

POLL_AFTER_S = 5  # the smallest the server allows


def _require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"{CHROMIUM} is missing (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI=true requires the browser tests", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def host_site() -> Iterator[HostSite]:
    site = HostSite()
    yield site
    site.close()


@pytest.fixture(scope="session")
def tidings_origin(database_url: str) -> Iterator[str]:
    with running_tidings(database_url, widget_poll_after_s=str(POLL_AFTER_S)) as origin:
        yield origin


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    _require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def api(tidings_origin: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tidings_origin, timeout=10) as client:
        yield client


async def _delete_everything(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            for table in reversed(metadata.sorted_tables):
                await connection.execute(delete(table))
    finally:
        await engine.dispose()


@pytest.fixture(scope="module", autouse=True)
def _empty_the_database_after(database_url: str) -> Iterator[None]:
    """Each test has a workspace of its own; the tests of other modules expect no rows."""
    yield
    for attempt in range(5):
        # The live server may still be writing what a closing page sent (its last beacon);
        # on PostgreSQL the two can deadlock, and the delete is simply tried again.
        try:
            in_thread(asyncio.run, _delete_everything(database_url))
            return
        except DBAPIError:
            if attempt == 4:
                raise
            time.sleep(0.5)


@pytest.fixture
def workspace(api: httpx.Client, host_site: HostSite) -> Workspace:
    """A fresh workspace that admits the host site's origin."""
    return create_workspace(api, [host_site.origin])


@pytest.fixture
def db(database_url: str) -> Database:
    return Database(database_url)


@dataclass
class BrowserLog:
    """What a page said: console messages and uncaught errors."""

    console: list[ConsoleMessage] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> Page:
        page.on("console", lambda message: self.console.append(message))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return page

    @property
    def problems(self) -> list[str]:
        return self.errors + [
            f"console.{message.type}: {message.text}"
            for message in self.console
            if message.type in ("error", "warning")
        ]


@pytest.fixture
def log() -> BrowserLog:
    return BrowserLog()


@pytest.fixture
def new_context(browser: Browser, workspace: Workspace) -> Iterator[Callable[[], BrowserContext]]:
    """Browser contexts (each one a device of its own), closed before the database is emptied."""
    contexts: list[BrowserContext] = []

    def make() -> BrowserContext:
        context = browser.new_context(locale="en-US", viewport={"width": 1024, "height": 768})
        context.set_default_timeout(5000)
        context.route(
            "https://images.test/**",
            lambda route: route.fulfill(body=PNG_1PX, content_type="image/png"),
        )
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context: Callable[[], BrowserContext], log: BrowserLog) -> Page:
    return log.watch(new_context().new_page())


@dataclass
class Embed:
    """Serves host pages embedding the widget of the test's workspace."""

    site: HostSite
    script_src: str
    key: str

    def __call__(
        self, path: str = "/", headers: dict[str, str] | None = None, **kwargs: str
    ) -> str:
        kwargs.setdefault("key", self.key)
        return self.site.add(path, host_page(self.script_src, **kwargs), headers)


@pytest.fixture
def embed(host_site: HostSite, tidings_origin: str, workspace: Workspace) -> Embed:
    return Embed(host_site, f"{tidings_origin}/widget.js", workspace.publishable_key)
