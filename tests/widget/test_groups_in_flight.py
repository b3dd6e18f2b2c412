"""PostgreSQL writes up to ``ingest_groups_in_flight`` event groups at once; SQLite one."""

import asyncio
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.ingest.writer import IngestResult, Submission
from tests.fixtures.databases import event_writers_held
from tests.fixtures.factories import create_announcement
from tests.fixtures.tenants import Tenant
from tests.widget.test_ingest import incoming, ingestor_of, stored_events, submission


async def until(condition: object, what: str) -> None:
    for _ in range(200):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(what)


Send = Callable[[str], tuple[Submission, asyncio.Future[IngestResult]]]


@pytest.fixture
async def sent(app: FastAPI, session: AsyncSession, tenant: Tenant) -> Send:
    """Sends one impression as ``user_id``: the batch, and the future of its answer."""
    a = (await create_announcement(session, tenant.workspace_id, status="published")).id
    ingestor = ingestor_of(app)

    def send(user_id: str) -> tuple[Submission, asyncio.Future[IngestResult]]:
        batch = submission(tenant.workspace_id, [incoming("impression", a)], user_id=user_id)
        return batch, asyncio.ensure_future(ingestor.submit(batch))

    return send


class TestGroupsInFlight:
    async def test_a_second_group_is_written_beside_a_held_one_on_postgresql_only(
        self, session: AsyncSession, tenant: Tenant, settings: Settings, sent: Send
    ) -> None:
        on_postgresql = settings.database_url.startswith("postgresql")

        async with event_writers_held(settings.database_url):
            first, first_answer = sent("first")
            await until(lambda: first.is_taken, "the writer did not take the first group")
            second, second_answer = sent("second")
            await asyncio.sleep(0.2)  # time enough for a free writer to take it
            # Both wait for the held lock: PostgreSQL took the second into its own group;
            # SQLite keeps it queued behind the first.
            assert second.is_taken is on_postgresql
            assert not first_answer.done() and not second_answer.done()
            third, third_answer = sent("third")
            await asyncio.sleep(0.2)
            assert not third.is_taken  # no third slot by default

        for answer in (first_answer, second_answer, third_answer):
            assert (await asyncio.wait_for(answer, 10)).accepted == 1
        assert await stored_events(session, tenant.workspace_id) == 3

    async def test_batches_that_came_together_are_shared_among_the_free_writers(
        self, app: FastAPI, session: AsyncSession, settings: Settings, sent: Send
    ) -> None:
        writers = 2 if settings.database_url.startswith("postgresql") else 1

        async with event_writers_held(settings.database_url):
            batches, answers = zip(*(sent(f"u-{n}") for n in range(4)), strict=True)
            await until(lambda: all(b.is_taken for b in batches), "the writers took them all")
            # Light load: two groups of two side by side, not one of four and then nothing.
            assert ingestor_of(app).groups_in_flight == writers

        for answer in answers:
            assert (await asyncio.wait_for(answer, 10)).accepted == 1
        assert await stored_events(session, batches[0].workspace_id) == 4
