"""Overload: refusing costs next to nothing, and a batch answered 503 is never written.

The writer is held up for real while the tests queue work behind it: on SQLite another
"worker" holds the writers' turn (the lock file beside the database), on PostgreSQL
another transaction holds the events table locked. The first submission is then taken
by the writer and waits inside its transaction; what comes after it waits in the queue.
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.errors import ServiceUnavailable
from app.ingest.ingestor import EventIngestor
from app.ingest.writer import IngestResult
from app.kit.deadlines import Deadline
from tests.fixtures.apps import NO_RATE_LIMITS, client_for, running_app
from tests.fixtures.databases import event_writers_held
from tests.fixtures.factories import create_announcement
from tests.fixtures.tenants import Tenant
from tests.fixtures.widget_client import WidgetClient
from tests.widget.test_ingest import incoming, ingestor_of, stored_events, submission
from tests.workspaces.test_auth import assert_problem


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # These tests hold the writer busy with one group so that what follows queues; on
    # PostgreSQL a second group would otherwise be written beside it.
    return settings.model_copy(update={"ingest_groups_in_flight": 1})


def writer_held(app: FastAPI, settings: Settings) -> AbstractAsyncContextManager[None]:
    """Every event writer on this database waits until the block ends."""
    return event_writers_held(settings.database_url)


async def taken_by_the_writer(ingestor: EventIngestor, workspace_id: str, a: str) -> Any:
    """A submission the writer has taken and is writing (held up by ``writer_held``)."""
    first = submission(workspace_id, [incoming("impression", a)], user_id="first")
    task = asyncio.ensure_future(ingestor.submit(first))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if first not in ingestor._pending and not task.done():
            return task
    raise AssertionError("the writer did not take the first submission")


def queued(ingestor: EventIngestor, workspace_id: str, events: list[Any], user_id: str) -> Any:
    """A submission queued (as a task) behind whatever the writer is busy with."""
    return asyncio.ensure_future(ingestor.submit(submission(workspace_id, events, user_id=user_id)))


async def sent(request: Awaitable[httpx.Response], within_s: float = 1.0) -> Any:
    """A request sent while the writer is held: its task, once answered or ``within_s`` on.

    A task, because the in-process transport hands over an answer only once the
    application returns, even one the deadline already sent: awaited while the writer
    is held, a request queued behind it would wait for ever.
    """
    task = asyncio.ensure_future(request)
    await asyncio.wait([task], timeout=within_s)
    return task


def _body(announcement_id: str, user_id: str = "u1") -> dict[str, Any]:
    return {
        "user_id": user_id,
        "events": [
            {
                "id": str(uuid.uuid4()),
                "type": "impression",
                "announcement_id": announcement_id,
                "occurred_at": datetime.now(UTC).isoformat(),
            }
        ],
    }


class TestAnsweredLateMeansNotWritten:
    async def test_a_queued_submission_past_its_time_is_dropped_not_written(
        self, app: FastAPI, session: AsyncSession, tenant: Tenant, settings: Settings
    ) -> None:
        a = (await create_announcement(session, tenant.workspace_id, status="published")).id
        ingestor = ingestor_of(app)
        late = submission(tenant.workspace_id, [incoming("click", a)], user_id="late")
        async with writer_held(app, settings):
            first = await taken_by_the_writer(ingestor, tenant.workspace_id, a)
            started = time.monotonic()
            deadline = Deadline(started + ingestor.write_margin_s + 0.3)
            with pytest.raises(ServiceUnavailable, match="nothing of this batch was written"):
                await ingestor.submit(late, deadline)
            # Answered before its request's deadline, by the ingestor itself.
            assert time.monotonic() < deadline.at
            assert late.is_cancelled and not late.is_taken
            # Queued behind it: written once the writer goes on, which proves it went past.
            after = submission(tenant.workspace_id, [incoming("dismiss", a)], user_id="after")
            written_after = asyncio.ensure_future(ingestor.submit(after))
            await asyncio.sleep(0.05)
        result: IngestResult = await asyncio.wait_for(first, 10)
        assert result.accepted == 1
        assert (await asyncio.wait_for(written_after, 10)).accepted == 1
        assert await stored_events(session, tenant.workspace_id) == 2  # not the dropped one
        kinds = (await session.execute(text("SELECT type FROM events"))).scalars().all()
        assert sorted(kinds) == ["dismiss", "impression"]

    async def test_the_writer_does_not_take_what_it_cannot_write_in_time(
        self, app: FastAPI, session: AsyncSession, tenant: Tenant, settings: Settings
    ) -> None:
        a = (await create_announcement(session, tenant.workspace_id, status="published")).id
        ingestor = ingestor_of(app)
        late = submission(tenant.workspace_id, [incoming("click", a)], user_id="late")
        async with writer_held(app, settings):
            first = await taken_by_the_writer(ingestor, tenant.workspace_id, a)
            # Its timer is far off; but by the time the writer could take it, the margin
            # (what a write may take) no longer fits before its deadline: as when a busy
            # event loop runs the timer late.
            pending = asyncio.ensure_future(
                ingestor.submit(late, Deadline(time.monotonic() + ingestor.write_margin_s + 30))
            )
            await asyncio.sleep(0.05)
            ingestor.write_margin_s = 60.0
        assert (await asyncio.wait_for(first, 10)).accepted == 1
        with pytest.raises(ServiceUnavailable):
            await asyncio.wait_for(pending, 10)
        assert late.is_cancelled and not late.is_taken
        assert await stored_events(session, tenant.workspace_id) == 1

    async def test_over_http_the_answer_comes_in_time_and_nothing_is_written(
        self, app: FastAPI, session: AsyncSession, tenant: Tenant, settings: Settings
    ) -> None:
        a = (await create_announcement(session, tenant.workspace_id, status="published")).id
        timeout_s = 2.0
        async with (
            running_app(settings, request_timeout_s=timeout_s, **NO_RATE_LIMITS) as other,
            client_for(other) as client,
        ):
            widget = WidgetClient(client, tenant)
            ingestor = ingestor_of(other)
            async with writer_held(other, settings):
                first = await taken_by_the_writer(ingestor, tenant.workspace_id, a)
                started = time.monotonic()
                request = await sent(widget.events(_body(a, "late")), timeout_s + 0.5)
            answer = await asyncio.wait_for(request, 10)
            elapsed = time.monotonic() - started
            assert (await asyncio.wait_for(first, 10)).accepted == 1
            assert "nothing of this batch was written" in str(assert_problem(answer, 503))
            assert answer.headers["retry-after"].isdigit()
            assert elapsed < timeout_s - ingestor.write_margin_s / 2
            assert await stored_events(session, tenant.workspace_id) == 1
            # And with the writer free again, the same batch is written at once.
            assert (await widget.events(_body(a, "late"))).status_code == 202


class TestACommitAgreesWithTheAnswer:
    """A batch the writer took is committed only if its request is still waiting."""

    async def test_the_deadline_passing_while_it_is_written_means_it_is_not_committed(
        self, app: FastAPI, session: AsyncSession, tenant: Tenant, settings: Settings
    ) -> None:
        a = (await create_announcement(session, tenant.workspace_id, status="published")).id
        timeout_s = 1.0
        async with (
            running_app(settings, request_timeout_s=timeout_s, **NO_RATE_LIMITS) as other,
            client_for(other) as client,
        ):
            widget = WidgetClient(client, tenant)
            ingestor = ingestor_of(other)
            async with writer_held(other, settings):
                # The queue is empty: the writer takes the batch at once, then waits.
                request = await sent(widget.events(_body(a, "slow")), timeout_s + 0.5)
            answer = await asyncio.wait_for(request, 10)
            # The deadline's own 503 (the ingestor's would say "could not be written in
            # time"): the batch had been taken, and its transaction ran on afterwards.
            assert "No answer within" in str(assert_problem(answer, 503))
            after = submission(tenant.workspace_id, [incoming("click", a)], user_id="after")
            assert (await asyncio.wait_for(ingestor.submit(after), 10)).accepted == 1
            assert await stored_events(session, tenant.workspace_id) == 1  # only "after"
            # Sent again, it is written now, once.
            again = await widget.events(_body(a, "slow"))
            assert again.status_code == 202 and again.json()["accepted"] == 1

    async def test_the_late_are_answered_503_and_the_rest_of_their_group_is_written(
        self, app: FastAPI, session: AsyncSession, tenant: Tenant, settings: Settings
    ) -> None:
        a = (await create_announcement(session, tenant.workspace_id, status="published")).id
        ingestor = ingestor_of(app)
        late = submission(tenant.workspace_id, [incoming("click", a)], user_id="late")
        patient = submission(tenant.workspace_id, [incoming("dismiss", a)], user_id="patient")
        deadline = Deadline(time.monotonic() + ingestor.write_margin_s + 0.3)
        async with writer_held(app, settings):
            # Queued in the same turn of the loop: one group.
            writes = asyncio.gather(
                ingestor.submit(late, deadline), ingestor.submit(patient), return_exceptions=True
            )
            await asyncio.sleep(0.05)
            assert late.is_taken and patient.is_taken
            await asyncio.sleep(deadline.at - time.monotonic() + 0.1)  # held past its time
        late_result, patient_result = await asyncio.wait_for(writes, 10)
        assert isinstance(late_result, ServiceUnavailable)
        assert "nothing of this batch was written" in late_result.detail
        assert isinstance(patient_result, IngestResult) and patient_result.accepted == 1
        kinds = (await session.execute(text("SELECT type FROM events"))).scalars().all()
        assert kinds == ["dismiss"]
        assert not deadline.held  # never committed, so never held


class TestCheapRefusal:
    @pytest.mark.parametrize(
        "body",
        [b"{not json", b'{"user_id": 5, "events": "none"}', b"[]"],
        ids=["malformed", "invalid", "not-an-object"],
    )
    async def test_a_full_queue_refuses_before_reading_the_body(
        self,
        app: FastAPI,
        session: AsyncSession,
        tenant: Tenant,
        settings: Settings,
        widget: WidgetClient,
        body: bytes,
    ) -> None:
        a = (await create_announcement(session, tenant.workspace_id, status="published")).id
        ingestor = ingestor_of(app)
        ingestor.max_pending_events = 3  # this test's app only
        async with writer_held(app, settings):
            first = await taken_by_the_writer(ingestor, tenant.workspace_id, a)
            behind = [
                queued(ingestor, tenant.workspace_id, [incoming("click", a)], f"q{n}")
                for n in range(3)
            ]
            await asyncio.sleep(0.05)
            # Parsed, this body would be a 400 or a 422: refused first, it is a 503.
            refused = await sent(widget.events(body))
            valid = await sent(widget.events(_body(a)))
            answered_at_once = refused.done() and valid.done()
        assert answered_at_once
        assert_problem(refused.result(), 503)
        assert refused.result().headers["retry-after"].isdigit()
        assert_problem(valid.result(), 503)
        assert (await asyncio.wait_for(first, 10)).accepted == 1
        assert [r.accepted for r in await asyncio.gather(*behind)] == [1, 1, 1]

    async def test_room_for_what_the_body_can_hold(
        self,
        app: FastAPI,
        session: AsyncSession,
        tenant: Tenant,
        settings: Settings,
        widget: WidgetClient,
    ) -> None:
        a = (await create_announcement(session, tenant.workspace_id, status="published")).id
        ingestor = ingestor_of(app)
        ingestor.max_pending_events = 10  # this test's app only
        async with writer_held(app, settings):
            first = await taken_by_the_writer(ingestor, tenant.workspace_id, a)
            eight = queued(
                ingestor, tenant.workspace_id, [incoming("click", a) for _ in range(8)], "q"
            )
            await asyncio.sleep(0.05)
            # Room for 2: a body of 10 KB may hold 100 events; one of 100 bytes cannot.
            big = b'{"events": [], "user_id": "u1"' + b" " * 10_000 + b"}"
            refused = await sent(widget.events(big))
            small = await widget.events({"user_id": "u1", "events": []})
            assert small.status_code == 202
        assert_problem(await asyncio.wait_for(refused, 10), 503)
        assert (await asyncio.wait_for(first, 10)).accepted == 1
        assert (await asyncio.wait_for(eight, 10)).accepted == 8

    async def test_a_queue_that_has_waited_too_long_refuses(
        self,
        app: FastAPI,
        session: AsyncSession,
        tenant: Tenant,
        settings: Settings,
        widget: WidgetClient,
    ) -> None:
        a = (await create_announcement(session, tenant.workspace_id, status="published")).id
        ingestor = ingestor_of(app)
        ingestor.max_queue_wait_s = 1.0  # this test's app only
        async with writer_held(app, settings):
            first = await taken_by_the_writer(ingestor, tenant.workspace_id, a)
            one = queued(ingestor, tenant.workspace_id, [incoming("click", a)], "q")
            # Room enough, and the queue has not waited long yet: queued.
            waiting = asyncio.ensure_future(widget.events(_body(a, "w")))
            for _ in range(50):
                await asyncio.sleep(0.01)
                if ingestor._pending_events == 2:
                    break
            assert ingestor._pending_events == 2
            await asyncio.sleep(ingestor.max_queue_wait_s)
            # Now what is queued has waited longer than a batch should: refused.
            refused = await sent(widget.events(_body(a, "r")))
        assert_problem(await asyncio.wait_for(refused, 10), 503)
        assert (await asyncio.wait_for(first, 10)).accepted == 1
        assert (await asyncio.wait_for(one, 10)).accepted == 1
        assert (await asyncio.wait_for(waiting, 10)).status_code == 202
        assert await stored_events(session, tenant.workspace_id) == 3
