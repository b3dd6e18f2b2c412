"""Fixtures of the console's browser tests: a live Tidings on each test database, Debian's
Chromium, workspaces made through the API and members made through the accounts service."""

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.schemas import Role
from app.accounts.service import membership_service
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from tests.fixtures.accounts import TestMember, create_member
from tests.fixtures.databases import in_thread
from tests.widget_e2e.conftest import (  # noqa: F401  (fixtures shared with the widget's tests)
    BrowserLog,
    _empty_the_database_after,
    browser,
)
from tests.widget_e2e.harness import Workspace, create_workspace, running_tidings

T = TypeVar("T")


@pytest.fixture(scope="package")
def console_origin(database_url: str) -> Iterator[str]:
    # Not for the whole session: a server left running would hold the SQLite file (and
    # its write-ahead log) open under the tests of other packages.
    # Webhooks to a receiver on 127.0.0.1 (test_webhooks.py).
    with running_tidings(database_url, webhook_allow_private="true") as origin:
        yield origin


@pytest.fixture
def api(console_origin: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console_origin, timeout=10) as client:
        yield client


@dataclass
class Team:
    """Makes workspaces (through the admin API) and members (through the service)."""

    api: httpx.Client
    database_url: str

    def workspace(self) -> Workspace:
        return create_workspace(self.api, [])

    def slug_of(self, workspace: Workspace) -> str:
        auth = {"Authorization": f"Bearer {workspace.secret_key}"}
        response = self.api.get("/v1/workspace", headers=auth)
        slug: str = response.json()["slug"]
        return slug

    def member(
        self, workspace: Workspace | None, role: Role = Role.editor, **overrides: object
    ) -> TestMember:
        async def make(session: AsyncSession) -> TestMember:
            return await create_member(
                session, workspace.id if workspace else None, role, **overrides
            )

        return self._run(make)

    def grant(self, member: TestMember, workspace: Workspace, role: Role) -> None:
        """Give an existing member a role in another workspace."""

        async def grant(session: AsyncSession) -> None:
            await membership_service.grant(session, workspace.id, member.member.id, role)
            await session.commit()

        self._run(grant)

    def _run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async def run() -> T:
            settings = Settings(_env_file=None, database_url=self.database_url)
            engine = create_engine(settings)
            try:
                async with create_sessionmaker(engine)() as session:
                    return await work(session)
            finally:
                await engine.dispose()

        return in_thread(asyncio.run, run())


@pytest.fixture
def team(api: httpx.Client, database_url: str) -> Team:
    return Team(api, database_url)


@dataclass
class Site:
    """A workspace with an owner, an editor and a viewer, ready to sign in."""

    workspace: Workspace
    slug: str
    owner: TestMember
    editor: TestMember
    viewer: TestMember


@pytest.fixture
def site(team: Team) -> Site:
    workspace = team.workspace()
    return Site(
        workspace,
        team.slug_of(workspace),
        team.member(workspace, Role.owner),
        team.member(workspace, Role.editor),
        team.member(workspace, Role.viewer),
    )


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:  # noqa: F811
    contexts: list[BrowserContext] = []

    def make(**options: object) -> BrowserContext:
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = browser.new_context(locale="en-US", **options)  # type: ignore[arg-type]
        context.set_default_timeout(8000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def log() -> BrowserLog:
    return BrowserLog()


@pytest.fixture
def page(new_context: Callable[..., BrowserContext], log: BrowserLog) -> Page:
    return log.watch(new_context().new_page())


def sign_in(page: Page, origin: str, member: TestMember, path: str = "/console") -> None:
    """Sign in through the form, as a person does, and wait for the console to show."""
    page.goto(f"{origin}{path}")
    page.get_by_label("Email").fill(member.email)
    page.get_by_label("Password").fill(member.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/sign-in" not in url)


def random_password() -> str:
    return f"pw-{secrets.token_hex(8)}"
