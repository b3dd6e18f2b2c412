"""PostgreSQL writes up to ``ingest_groups_in_flight`` event groups at once; SQLite one."""

import asyncio

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.ingest.writer import Submission
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


class TestGroupsInFlight:
    async def test_a_second_group_is_written_beside_a_held_one_on_postgresql_only(
        self, app: FastAPI, session: AsyncSession, tenant: Tenant, settings: Settings
    ) -> None:
        a = (await create_announcement(session, tenant.workspace_id, status="published")).id
        ingestor = ingestor_of(app)
        on_postgresql = settings.database_url.startswith("postgresql")

        def sent(user_id: str) -> tuple[Submission, asyncio.Future[object]]:
            events = [incoming("impression", a)]
            batch = submission(tenant.workspace_id, events, user_id=user_id)
            return batch, asyncio.ensure_future(ingestor.submit(batch))

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
            assert (await asyncio.wait_for(answer, 10)).accepted == 1  # type: ignore[attr-defined]
        assert await stored_events(session, tenant.workspace_id) == 3
