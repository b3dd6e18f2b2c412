from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.main import create_app
from app.migrate import upgrade_database
from app.models import metadata
from tests.fixtures.databases import BACKENDS, fresh_database, in_thread
from tests.fixtures.factories import create_workspace
from tests.fixtures.tenants import Tenant
from tests.fixtures.widget_client import WidgetClient

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One migrated database per backend for the whole run; tests clean up after themselves."""
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as url:
        in_thread(upgrade_database, url)
        yield url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        log_format="text",
        # Tests read their own writes at once; the staleness bound has its own test.
        widget_cache_recheck_s=0,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        try:
            yield application
        finally:
            async with application.state.engine.begin() as connection:
                for table in reversed(metadata.sorted_tables):
                    await connection.execute(delete(table))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def session(app: FastAPI) -> AsyncIterator[AsyncSession]:
    async with app.state.sessionmaker() as session:
        yield session


@pytest.fixture
async def tenant(session: AsyncSession) -> Tenant:
    created = await create_workspace(session)
    return Tenant(
        created.workspace.id, created.workspace.slug, created.publishable_key, created.secret_key
    )


@pytest.fixture
async def other_tenant(session: AsyncSession) -> Tenant:
    created = await create_workspace(session)
    return Tenant(
        created.workspace.id, created.workspace.slug, created.publishable_key, created.secret_key
    )


@pytest.fixture
def widget(client: httpx.AsyncClient, tenant: Tenant) -> WidgetClient:
    return WidgetClient(client, tenant)
