"""The feed's user reads: a read never sees older data than the commits that preceded it."""

import asyncio
import sqlite3

import asyncpg
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.config import Settings
from app.end_users.visitors import Visitor
from app.feed.readers import UserReader
from app.models import EndUser
from tests.fixtures.databases import POSTGRES_URL
from tests.fixtures.tenants import Tenant
from tests.fixtures.widget_client import WidgetClient


class TestReadsAroundACommit:
    async def test_a_read_in_a_later_callback_sees_a_commit_made_after_an_earlier_read(
        self,
        app: FastAPI,
        settings: Settings,
        session: AsyncSession,
        widget: WidgetClient,
        tenant: Tenant,
    ) -> None:
        await widget.identify({"user_id": "7", "attributes": {}})
        reader: UserReader = app.state.widget.reader
        visitor = Visitor("7", None, None)
        before = await reader.read_profile(tenant.workspace_id, visitor)
        assert before is not None

        if settings.is_sqlite:
            # Committed by another connection within this same turn of the event loop.
            path = make_url(settings.database_url).database
            assert path is not None
            with sqlite3.connect(path) as other:
                other.execute(
                    "UPDATE end_users SET state_version = state_version + 1 WHERE id = ?",
                    (before.end_user_id,),
                )
            other.close()
            # Reads in this turn share the transaction the first one began...
            same_turn = await reader.read_profile(tenant.workspace_id, visitor)
            assert same_turn is not None and same_turn.state_version == before.state_version
        else:
            await session.execute(
                update(EndUser)
                .where(col(EndUser.id) == before.end_user_id)
                .values(state_version=EndUser.state_version + 1)
            )
            await session.commit()

        # ...and a request that arrives after the commit is served in a later callback.
        later = await asyncio.get_running_loop().create_task(
            reader.read_profile(tenant.workspace_id, visitor)
        )
        assert later is not None and later.state_version == before.state_version + 1

    async def test_no_read_transaction_outlives_its_turn_of_the_loop(
        self, app: FastAPI, settings: Settings, widget: WidgetClient
    ) -> None:
        await widget.identify({"user_id": "7", "attributes": {}})
        assert (await widget.feed(user_id="7")).status_code == 200
        await asyncio.sleep(0)
        if settings.is_sqlite:
            # A transaction left open would hold back WAL checkpoints.
            assert not app.state.widget.reader.connection.in_transaction


class TestPostgresRoundTrips:
    async def test_a_read_is_its_select_alone_on_a_reused_connection(
        self, app: FastAPI, settings: Settings, widget: WidgetClient, tenant: Tenant
    ) -> None:
        """No reset on the way back (asyncpg's pool would run ``RESET ALL``, ``UNLISTEN *``...
        unless told otherwise), no transaction, no ping: one round trip a poll, on the
        connection the previous read used. (SQLite: one plain connection, nothing to check.)"""
        await widget.identify({"user_id": "7", "attributes": {}})
        reader = app.state.widget.reader
        visitor = Visitor("7", None, None)
        assert await reader.read_profile(tenant.workspace_id, visitor)
        if settings.is_sqlite:
            return
        connections = reader._connections
        ((connection, _),) = connections._idle
        queries: list[str] = []
        connection.add_query_logger(lambda record: queries.append(record.query))
        for _ in range(3):
            assert await reader.read_profile(tenant.workspace_id, visitor)
        await asyncio.sleep(0)  # asyncpg calls query loggers soon after, not during
        assert [c for c, _ in connections._idle] == [connection]
        assert len(queries) == 3 and all(q.startswith("SELECT") for q in queries), queries

    async def test_a_connection_that_broke_while_idle_is_replaced(
        self, app: FastAPI, settings: Settings, widget: WidgetClient, tenant: Tenant
    ) -> None:
        if settings.is_sqlite:
            pytest.skip("PostgreSQL's reader only: SQLite reads its file")
        await widget.identify({"user_id": "7", "attributes": {}})
        reader = app.state.widget.reader
        visitor = Visitor("7", None, None)
        assert await reader.read_profile(tenant.workspace_id, visitor)
        ((connection, _),) = reader._connections._idle
        pid = connection.get_server_pid()
        admin = await asyncpg.connect(POSTGRES_URL)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        await asyncio.sleep(0.1)  # the server closes it: asyncpg notices
        assert await reader.read_profile(tenant.workspace_id, visitor)
        ((fresh, _),) = reader._connections._idle
        assert fresh.get_server_pid() != pid
