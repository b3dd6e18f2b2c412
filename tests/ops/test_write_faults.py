"""The database answers but refuses every write: readiness says so, the log says it once.

The fault is real, in the database: a trigger refuses every event row, as a full disk
would (on PostgreSQL with the very error a full disk raises, SQLSTATE 53100). On SQLite,
``max_page_count`` also makes the writer's own connection meet SQLite's "database or
disk is full".
"""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.ingest.health import WriteHealth
from app.widget.runtime import WidgetRuntime
from tests.fixtures.factories import create_announcement
from tests.fixtures.tenants import Tenant
from tests.fixtures.widget_client import WidgetClient
from tests.widget.test_ingest import stored_events
from tests.workspaces.test_auth import assert_problem

_REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse_events BEFORE INSERT ON events "
        "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_events() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'could not extend file: No space left on device' "
        "USING ERRCODE = 'disk_full'; END $$",
        "CREATE TRIGGER refuse_events BEFORE INSERT ON events "
        "FOR EACH ROW EXECUTE FUNCTION refuse_events()",
    ],
}
_ALLOW = {
    "sqlite": ["DROP TRIGGER refuse_events"],
    "postgresql": ["DROP TRIGGER refuse_events ON events", "DROP FUNCTION refuse_events()"],
}


async def _run(session: AsyncSession, statements: list[str]) -> None:
    for statement in statements:
        await session.execute(text(statement))
    await session.commit()


@asynccontextmanager
async def writes_refused(session: AsyncSession) -> AsyncIterator[None]:
    dialect = session.get_bind().dialect.name
    await _run(session, _REFUSE[dialect])
    allowed = False

    async def allow() -> None:
        nonlocal allowed
        if not allowed:
            allowed = True
            await _run(session, _ALLOW[dialect])

    try:
        yield
    finally:
        await allow()


def _batch(announcement_id: str, n: int, events: int = 2) -> dict[str, Any]:
    at = datetime.now(UTC).isoformat()
    return {
        "user_id": f"u{n}",
        "events": [
            {
                "id": str(uuid.uuid4()),
                "type": ("impression", "click")[k % 2],
                "announcement_id": announcement_id,
                "occurred_at": at,
            }
            for k in range(events)
        ],
    }


def _ingest_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("tidings") and r.levelno >= 30]


class TestReadinessFollowsWrites:
    async def test_refused_writes_make_it_unready_and_are_logged_once(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        widget: WidgetClient,
        session: AsyncSession,
        tenant: Tenant,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        a = (await create_announcement(session, tenant.workspace_id, status="published")).id
        assert (await widget.events(_batch(a, 0))).status_code == 202
        assert (await client.get("/readyz")).status_code == 200

        caplog.set_level(logging.INFO)
        async with writes_refused(session):
            # Many requests at once (write groups of several submissions) and one by one.
            answers = list(await asyncio.gather(*(widget.events(_batch(a, n)) for n in range(30))))
            answers += [await widget.events(_batch(a, n)) for n in range(5)]
            for answer in answers:
                assert_problem(answer, 503)
                assert answer.headers["retry-after"].isdigit()
            ready = await client.get("/readyz")
            body = assert_problem(ready, 503)
            assert "Event writes are failing" in str(body["detail"])
            # Every failed write after the first adds to the count, not to the log.
            records = _ingest_records(caplog)
            assert [r.getMessage().split(" (")[0] for r in records] == [
                "event writes are failing"
            ], [r.getMessage() for r in records]
            assert sum(1 for r in caplog.records if r.exc_info) == 1

        assert await stored_events(session, tenant.workspace_id) == 2  # none of the refused
        caplog.clear()
        assert (await widget.events(_batch(a, 99))).status_code == 202
        assert (await client.get("/readyz")).status_code == 200
        (recovered,) = _ingest_records(caplog)
        assert recovered.getMessage().startswith("event writes succeed again, after ")
        assert "(35 batches answered 503)" in recovered.getMessage()

    async def test_sqlite_disk_full(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        widget: WidgetClient,
        session: AsyncSession,
        tenant: Tenant,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        if session.get_bind().dialect.name != "sqlite":
            pytest.skip("max_page_count is SQLite's")
        a = (await create_announcement(session, tenant.workspace_id, status="published")).id
        assert (await widget.events(_batch(a, 0))).status_code == 202
        runtime: WidgetRuntime = app.state.widget
        writer = runtime.ingestor._sqlite
        assert writer is not None
        driver: Any = writer._open().connection.driver_connection
        (pages,) = driver.execute("PRAGMA page_count").fetchone()
        (default_limit,) = driver.execute("PRAGMA max_page_count").fetchone()
        driver.execute(f"PRAGMA max_page_count = {pages}")
        try:
            caplog.set_level(logging.INFO)
            statuses = set()
            (free,) = driver.execute("PRAGMA freelist_count").fetchone()
            for n in range(free + 10):  # the free pages run out, then every write fails
                statuses.add((await widget.events(_batch(a, n, events=100))).status_code)
                if 503 in statuses:
                    break
            assert 503 in statuses
            failing = await client.get("/readyz")
            assert "database or disk is full" in str(assert_problem(failing, 503)["detail"])
            more = [await widget.events(_batch(a, n, events=100)) for n in range(10)]
            assert {r.status_code for r in more} == {503}
            records = _ingest_records(caplog)
            assert len(records) == 1 and "database or disk is full" in records[0].getMessage()
        finally:
            driver.execute(f"PRAGMA max_page_count = {default_limit}")
        assert (await widget.events(_batch(a, 1000))).status_code == 202
        assert (await client.get("/readyz")).status_code == 200


class TestWriteHealth:
    def test_an_old_failure_no_longer_counts(self) -> None:
        health = WriteHealth(hold_s=0.0)
        health.failed(RuntimeError("full"), batches=3)
        assert health.fault() is None  # past the hold: let traffic show whether it recovered
        health = WriteHealth(hold_s=60.0)
        health.failed(RuntimeError("full"), batches=3)
        health.failed(RuntimeError("still full"), batches=2)
        fault = health.fault()
        assert fault is not None
        assert (fault.failed_writes, fault.refused_batches) == (2, 5)
        assert fault.error == "RuntimeError: still full"
        health.succeeded()
        assert health.fault() is None
