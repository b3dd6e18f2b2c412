"""The event writer's PostgreSQL engine: its connections are pinged only after idling."""

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import create_engine
from tests.fixtures.databases import POSTGRES_URL, fresh_database
from tests.fixtures.seeding import plain_settings


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database("postgresql", tmp_path_factory.mktemp("writer")) as url:
        yield url


async def backend_of(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def terminate(pid: int) -> None:
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await asyncio.sleep(0.05)  # the server closes the socket


class TestWriterEngine:
    async def test_a_connection_that_broke_while_idle_is_replaced_before_use(
        self, postgres_url: str
    ) -> None:
        engine = create_engine(plain_settings(postgres_url), pool_size=1, ping_after_idle_s=0.05)
        try:
            first = await backend_of(engine)
            await terminate(first)  # as a proxy or a firewall drops an idle connection
            await asyncio.sleep(0.1)
            second = await backend_of(engine)  # no error: the ping found it broken
            assert second != first
        finally:
            await engine.dispose()

    async def test_a_connection_in_use_moments_ago_is_not_pinged(self, postgres_url: str) -> None:
        engine = create_engine(plain_settings(postgres_url), pool_size=1, ping_after_idle_s=60)
        try:
            first = await backend_of(engine)
            await terminate(first)
            # Not pinged (that is the round trips saved): the statement meets the break...
            with pytest.raises(DBAPIError) as broken:
                await backend_of(engine)
            assert broken.value.connection_invalidated
            # ...and the pool has replaced the connection for the next use.
            assert await backend_of(engine) != first
        finally:
            await engine.dispose()
