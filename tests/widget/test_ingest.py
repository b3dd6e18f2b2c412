"""The event writer: groups of requests in one transaction, exact on both databases.

Submissions handed to ``submit`` in the same loop iteration form one group (the writer
waits its window first), so these tests control what is written together.
"""

import asyncio
import concurrent.futures
import fcntl
import hashlib
import os
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.config import Settings
from app.end_users.visitors import Visitor
from app.engagement.counting import COUNTERS, bucket_of
from app.errors import ServiceUnavailable
from app.ingest.ingestor import EventIngestor
from app.ingest.service import _incoming, _validated
from app.ingest.sqlite_writer import WriterTurns
from app.ingest.writer import REUSED_ID, IncomingEvent, IngestResult, Submission
from app.kit.compiled import SqliteTimes
from app.kit.db_types import UTCDateTime
from app.models import AnnouncementStats, EndUser, Event, UserState
from app.widget.runtime import WidgetRuntime
from tests.fixtures.factories import create_announcement
from tests.fixtures.tenants import Tenant
from tests.fixtures.widget_client import WidgetClient

NOW = datetime.now(UTC).replace(microsecond=123456)


def incoming(
    kind: str,
    announcement_id: str | None,
    *,
    event_id: str | None = None,
    at: datetime = NOW,
    value: str | None = None,
    surface: str | None = None,
    digest: str = "same",
    index: int = 0,
) -> IncomingEvent:
    return IncomingEvent(
        index,
        event_id or str(uuid.uuid4()),
        kind,
        announcement_id,
        at,
        False,
        value,
        surface,
        digest,
    )


def submission(
    workspace_id: str,
    events: list[IncomingEvent],
    *,
    user_id: str | None = None,
    anonymous_id: str | None = None,
    visible: list[str] | None = None,
    repeats: dict[int, list[int]] | None = None,
) -> Submission:
    for index, event in enumerate(events):
        event.index = index
    return Submission(
        workspace_id=workspace_id,
        visitor=Visitor(user_id, anonymous_id, None),
        events=events,
        visible=visible or [],
        repeats=repeats or {},
        future=asyncio.get_running_loop().create_future(),
    )


async def one_group(ingestor: EventIngestor, *submissions: Submission) -> list[IngestResult]:
    """Submit together to a writer of one group at a time, on ``ingestor``'s database: they
    are queued before it wakes, so they share a commit. (The app's own writer on PostgreSQL
    would share them among its free writers, in separate transactions.)"""
    writer = EventIngestor(ingestor.engine, postgresql_groups_in_flight=1)
    writer.start()
    try:
        return list(await asyncio.gather(*(writer.submit(s) for s in submissions)))
    finally:
        await writer.stop()


def ingestor_of(app: FastAPI) -> EventIngestor:
    runtime: WidgetRuntime = app.state.widget
    return runtime.ingestor


async def counters(session: AsyncSession, workspace_id: str) -> dict[str, int]:
    columns = [func.coalesce(func.sum(getattr(AnnouncementStats, name)), 0) for name in COUNTERS]
    row = (
        await session.execute(
            select(*columns).where(col(AnnouncementStats.workspace_id) == workspace_id)
        )
    ).one()
    return dict(zip(COUNTERS, (int(value) for value in row), strict=True))


async def expected_counters(session: AsyncSession, workspace_id: str) -> dict[str, int]:
    """What the counters must say, from the raw events and the state rows."""
    kinds = Counter(
        (
            await session.execute(
                select(col(Event.type)).where(col(Event.workspace_id) == workspace_id)
            )
        ).scalars()
    )
    states = (
        (
            await session.execute(
                select(UserState).where(col(UserState.workspace_id) == workspace_id)
            )
        )
        .scalars()
        .all()
    )
    reactions = Counter(state.reaction for state in states if state.reaction)
    return {
        "impressions": kinds["impression"],
        "clicks": kinds["click"],
        "dismissals": kinds["dismiss"],
        "reactions_positive": reactions["positive"],
        "reactions_neutral": reactions["neutral"],
        "reactions_negative": reactions["negative"],
        "unique_viewers": sum(1 for s in states if s.first_impression_at is not None),
        "unique_clickers": sum(1 for s in states if s.clicked_at is not None),
        "unique_dismissers": sum(1 for s in states if s.dismissed_at is not None),
    }


async def stored_events(session: AsyncSession, workspace_id: str) -> int:
    query = select(func.count()).select_from(Event).where(col(Event.workspace_id) == workspace_id)
    return int((await session.execute(query)).scalar_one())


class TestOneGroup:
    async def test_each_submission_gets_its_own_answer(
        self, app: FastAPI, session: AsyncSession, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        a = (await create_announcement(session, tenant.workspace_id, status="published")).id
        b = (await create_announcement(session, tenant.workspace_id, status="published")).id
        theirs = (
            await create_announcement(session, other_tenant.workspace_id, status="published")
        ).id
        shared = str(uuid.uuid4())
        first = submission(
            tenant.workspace_id,
            [incoming("impression", a, event_id=shared), incoming("click", a)],
            user_id="u1",
        )
        # The same id and content from another request in the same group: a duplicate.
        retry = submission(
            tenant.workspace_id, [incoming("impression", a, event_id=shared)], user_id="u1"
        )
        # The same id with other content: rejected, whichever request carries it.
        reused = submission(
            tenant.workspace_id,
            [incoming("impression", a, event_id=shared, digest="other")],
            anonymous_id="anon-1",
        )
        # An unknown (or foreign) announcement is refused alone; its neighbours are kept.
        mixed = submission(
            tenant.workspace_id,
            [incoming("impression", b), incoming("impression", theirs), incoming("dismiss", b)],
            anonymous_id="anon-1",
        )
        elsewhere = submission(
            other_tenant.workspace_id, [incoming("impression", theirs)], user_id="u1"
        )
        results = await one_group(ingestor_of(app), first, retry, reused, mixed, elsewhere)

        assert [(r.accepted, r.duplicates) for r in results] == [
            (2, 0),
            (0, 1),
            (0, 0),
            (2, 0),
            (1, 0),
        ]
        assert results[2].rejected == [(0, REUSED_ID)]
        assert results[3].rejected == [(1, f"no announcement {theirs!r}")]
        assert await stored_events(session, tenant.workspace_id) == 4
        assert await stored_events(session, other_tenant.workspace_id) == 1
        for workspace_id in (tenant.workspace_id, other_tenant.workspace_id):
            assert await counters(session, workspace_id) == await expected_counters(
                session, workspace_id
            )

    async def test_copies_inside_one_batch_are_reported_with_the_first(
        self, app: FastAPI, session: AsyncSession, tenant: Tenant
    ) -> None:
        a = (await create_announcement(session, tenant.workspace_id, status="published")).id
        event_id = str(uuid.uuid4())
        batch = submission(
            tenant.workspace_id,
            [incoming("click", a, event_id=event_id)],
            user_id="u1",
            repeats={0: [1, 2]},  # indexes 1 and 2 were the same event again
        )
        (result,) = await one_group(ingestor_of(app), batch)
        assert (result.accepted, result.duplicates, result.rejected) == (1, 2, [])
        again = submission(
            tenant.workspace_id,
            [incoming("click", a, event_id=event_id)],
            user_id="u1",
            repeats={0: [1]},
        )
        (result,) = await one_group(ingestor_of(app), again)
        assert (result.accepted, result.duplicates) == (0, 2)
        assert await stored_events(session, tenant.workspace_id) == 1

    async def test_retrying_a_whole_group_changes_nothing(
        self, app: FastAPI, session: AsyncSession, tenant: Tenant
    ) -> None:
        announcements = [
            (await create_announcement(session, tenant.workspace_id, status="published")).id
            for _ in range(3)
        ]
        events = {
            f"user-{n}": [incoming("impression", a, surface="popover") for a in announcements]
            + [incoming("reaction", announcements[n % 3], value="positive")]
            for n in range(6)
        }

        def group() -> list[Submission]:
            return [
                submission(tenant.workspace_id, [*evs], user_id=user)
                for user, evs in events.items()
            ]

        first = await one_group(ingestor_of(app), *group())
        assert sum(r.accepted for r in first) == 24
        before = await counters(session, tenant.workspace_id)
        again = await one_group(ingestor_of(app), *group())
        assert sum(r.accepted for r in again) == 0
        assert sum(r.duplicates for r in again) == 24
        assert await counters(session, tenant.workspace_id) == before
        assert before["impressions"] == 18 and before["unique_viewers"] == 18
        assert before["reactions_positive"] == 6
        assert before == await expected_counters(session, tenant.workspace_id)

    async def test_new_and_existing_states_in_one_group(
        self, app: FastAPI, session: AsyncSession, tenant: Tenant
    ) -> None:
        a = (await create_announcement(session, tenant.workspace_id, status="published")).id
        b = (await create_announcement(session, tenant.workspace_id, status="published")).id
        later = NOW + timedelta(minutes=20)  # another quarter hour: another bucket
        await one_group(
            ingestor_of(app),
            submission(
                tenant.workspace_id,
                [incoming("impression", a), incoming("reaction", a, value="negative")],
                user_id="u1",
            ),
        )
        await one_group(
            ingestor_of(app),
            # An existing state row (u1, a) and a new one (u1, b) for the same user ...
            submission(
                tenant.workspace_id,
                [
                    incoming("impression", a, at=later),
                    incoming("reaction", a, at=later, value="positive"),
                    incoming("click", b, at=later),
                ],
                user_id="u1",
            ),
            # ... and a user seen for the first time, by their anonymous id.
            submission(tenant.workspace_id, [incoming("impression", a)], anonymous_id="x"),
        )
        states = {
            (s.end_user_id, s.announcement_id): s
            for s in (await session.execute(select(UserState))).scalars().all()
        }
        users = {
            (u.user_id or u.anonymous_id): u
            for u in (await session.execute(select(EndUser))).scalars().all()
        }
        u1 = users["u1"].id
        assert states[(u1, a)].seen_count == 2
        assert states[(u1, a)].first_impression_at == NOW
        assert states[(u1, a)].last_seen_at == later
        assert states[(u1, a)].reaction == "positive"
        assert states[(u1, b)].clicked_at == later and states[(u1, b)].seen_count == 0
        assert states[(users["x"].id, a)].seen_count == 1
        assert users["u1"].state_version == 2 and users["x"].state_version == 1
        assert await counters(session, tenant.workspace_id) == await expected_counters(
            session, tenant.workspace_id
        )
        # The negative reaction moved out of its bucket; the positive one is in the new one.
        rows = {
            row.bucket: row
            for row in (
                await session.execute(
                    select(AnnouncementStats).where(col(AnnouncementStats.announcement_id) == a)
                )
            ).scalars()
        }
        assert rows[bucket_of(NOW)].reactions_negative == 0
        assert rows[bucket_of(later)].reactions_positive == 1

    async def test_open_marks_what_was_visible(
        self, app: FastAPI, session: AsyncSession, tenant: Tenant
    ) -> None:
        a = (await create_announcement(session, tenant.workspace_id, status="published")).id
        b = (await create_announcement(session, tenant.workspace_id, status="published")).id
        opened = submission(
            tenant.workspace_id, [incoming("open", None)], user_id="u1", visible=[a, b]
        )
        (result,) = await one_group(ingestor_of(app), opened)
        assert result.accepted == 1
        states = (await session.execute(select(UserState))).scalars().all()
        assert sorted(s.announcement_id for s in states) == sorted([a, b])
        assert all(s.first_seen_at == NOW and s.first_impression_at is None for s in states)


class TestFailures:
    async def test_a_submission_the_database_refuses_does_not_sink_its_group(
        self, app: FastAPI, session: AsyncSession, tenant: Tenant
    ) -> None:
        a = (await create_announcement(session, tenant.workspace_id, status="published")).id
        good = submission(tenant.workspace_id, [incoming("impression", a)], user_id="u1")
        # A workspace that is gone: its end user breaks a foreign key, inside the group.
        orphan = submission("ws_gone", [incoming("open", None)], user_id="u1", visible=[])
        ingestor = ingestor_of(app)
        results = await asyncio.gather(
            ingestor.submit(good), ingestor.submit(orphan), return_exceptions=True
        )
        assert isinstance(results[0], IngestResult) and results[0].accepted == 1
        assert isinstance(results[1], ServiceUnavailable)
        assert await stored_events(session, tenant.workspace_id) == 1
        assert await counters(session, tenant.workspace_id) == await expected_counters(
            session, tenant.workspace_id
        )


class TestWriteAheadLog:
    async def test_it_starts_over_under_a_sustained_load(
        self, app: FastAPI, session: AsyncSession, tenant: Tenant, settings: Settings
    ) -> None:
        """Once the WAL is long enough, the writer lets a checkpoint catch up with it.

        Checkpoints that only ran beside the writer never caught up with it, so SQLite
        never started the log over and it grew by gigabytes under a long load.
        """
        # On PostgreSQL there is no such log: the same load is still stored exactly.
        database = make_url(settings.database_url).database if settings.is_sqlite else None
        wal = f"{database}-wal" if database else None
        announcements = [
            (await create_announcement(session, tenant.workspace_id, status="published")).id
            for _ in range(5)
        ]
        # One frame is long enough here: the WAL starts over every group or two.
        ingestor = EventIngestor(app.state.engine, sqlite_wal_restart_frames=1)
        ingestor.start()
        sizes = []
        try:
            for n in range(40):
                await asyncio.gather(
                    *(
                        ingestor.submit(
                            submission(
                                tenant.workspace_id,
                                [
                                    incoming("impression", a, surface="feed")
                                    for a in announcements * 4
                                ],
                                user_id=f"user-{n}-{k}",
                            )
                        )
                        for k in range(10)
                    ),
                )
                if wal is not None:
                    sizes.append(os.stat(wal).st_size)
        finally:
            await ingestor.stop()
        assert await stored_events(session, tenant.workspace_id) == 40 * 10 * 20
        # These forty groups made a WAL of 22 MB that never started over; now it holds
        # the few groups written while a checkpoint was copying the ones before.
        assert not settings.is_sqlite or max(sizes) < 3_000_000, sizes


class TestTwoWriters:
    async def test_concurrent_writers_store_each_event_once(
        self, app: FastAPI, session: AsyncSession, tenant: Tenant
    ) -> None:
        """Two writers on one database (replicas on PostgreSQL, workers on SQLite)."""
        announcements = [
            (await create_announcement(session, tenant.workspace_id, status="published")).id
            for _ in range(4)
        ]
        batches = [
            [
                incoming("impression", a, surface="feed", at=NOW - timedelta(seconds=n))
                for a in announcements
            ]
            + [incoming("click", announcements[n % 4])]
            for n in range(40)
        ]
        other = EventIngestor(app.state.engine)
        other.start()
        try:

            async def send(ingestor: EventIngestor, n: int) -> IngestResult:
                return await ingestor.submit(
                    submission(tenant.workspace_id, batches[n], user_id=f"user-{n % 7}")
                )

            # Every batch goes to both writers, in different orders, all at once.
            results = await asyncio.gather(
                *(send(ingestor_of(app), n) for n in range(40)),
                *(send(other, n) for n in reversed(range(40))),
            )
        finally:
            await other.stop()
        assert sum(r.accepted for r in results) == 200
        assert sum(r.duplicates for r in results) == 200
        assert not any(r.rejected for r in results)
        assert await stored_events(session, tenant.workspace_id) == 200
        totals = await counters(session, tenant.workspace_id)
        assert totals["impressions"] == 160 and totals["clicks"] == 40
        assert totals["unique_viewers"] == 7 * 4
        assert totals == await expected_counters(session, tenant.workspace_id)
        seen = (await session.execute(select(func.sum(UserState.seen_count)))).scalar_one()
        assert seen == 160


class TestWriterTurns:
    async def test_a_writer_waits_for_its_turn_then_writes(
        self, app: FastAPI, session: AsyncSession, tenant: Tenant, settings: Settings
    ) -> None:
        """While another worker's writer has its turn, a group waits for it, then is written.

        On SQLite the event writers of several workers take turns through a lock beside
        the database file: SQLite's own lock has no queue, and one worker lost it to the
        other for up to 300 ms at a time. PostgreSQL has no turns: the group goes at once.
        """
        announcement = (await create_announcement(session, tenant.workspace_id)).id
        other_worker = None
        if settings.is_sqlite:
            database = make_url(settings.database_url).database
            other_worker = os.open(f"{database}-writer.lock", os.O_RDWR | os.O_CREAT)
            fcntl.flock(other_worker, fcntl.LOCK_EX)  # its group is being written
        try:
            batch = submission(
                tenant.workspace_id, [incoming("impression", announcement)], user_id="u-1"
            )
            pending = asyncio.ensure_future(ingestor_of(app).submit(batch))
            await asyncio.sleep(0.3)
            assert pending.done() is (other_worker is None)
        finally:
            if other_worker is not None:
                fcntl.flock(other_worker, fcntl.LOCK_UN)
                os.close(other_worker)
        result = await asyncio.wait_for(pending, 10)
        assert (result.accepted, result.duplicates, result.rejected) == (1, 0, [])
        assert await stored_events(session, tenant.workspace_id) == 1

    async def test_a_turn_given_up_while_waiting_is_not_kept(self, tmp_path: Any) -> None:
        database = str(tmp_path / "tidings.db")
        thread = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        turns = WriterTurns(database, thread)
        other_worker = os.open(f"{database}-writer.lock", os.O_RDWR)
        try:
            fcntl.flock(other_worker, fcntl.LOCK_EX)
            waiting = asyncio.ensure_future(turns.take())
            await asyncio.sleep(0.05)
            waiting.cancel()  # the writer stops while it waits
            with pytest.raises(asyncio.CancelledError):
                await waiting
            fcntl.flock(other_worker, fcntl.LOCK_UN)
            # The turn reaches the cancelled waiter's thread, which gives it back at once.
            thread.shutdown(wait=True)
            fcntl.flock(other_worker, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other_worker)
            turns.close()


class TestOverHttp:
    async def test_concurrent_requests_count_exactly(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        a = (await create_announcement(session, tenant.workspace_id, status="published")).id
        b = (await create_announcement(session, tenant.workspace_id, status="published")).id

        def body(n: int) -> dict[str, Any]:
            at = (datetime.now(UTC) - timedelta(minutes=n)).isoformat()
            ids = [f"req-{n}-{k}" for k in range(4)]
            who = {"user_id": f"u{n % 5}"} if n % 2 else {"anonymous_id": f"anon-{n % 3}"}
            return {
                **who,
                "events": [
                    {"id": ids[0], "type": "impression", "announcement_id": a, "occurred_at": at},
                    {"id": ids[1], "type": "click", "announcement_id": b, "occurred_at": at},
                    {"id": ids[2], "type": "nope", "announcement_id": b, "occurred_at": at},
                    {
                        "id": ids[3],
                        "type": "reaction",
                        "announcement_id": a,
                        "occurred_at": at,
                        "value": ["positive", "neutral", "negative"][n % 3],
                    },
                    {"id": ids[0], "type": "impression", "announcement_id": a, "occurred_at": at},
                ],
            }

        bodies = [body(n) for n in range(30)]
        responses = await asyncio.gather(*(widget.events(b) for b in bodies + bodies))
        answers = [r.json() for r in responses]
        assert all(r.status_code == 202 for r in responses)
        assert sum(x["accepted"] for x in answers) == 30 * 3
        # Every retry is a duplicate of 4 (the in-batch copy included); originals have one.
        assert sum(x["duplicates"] for x in answers) == 30 * 1 + 30 * 4
        assert all([r["index"] for r in x["rejected"]] == [2] for x in answers)
        assert await stored_events(session, tenant.workspace_id) == 90
        assert await counters(session, tenant.workspace_id) == await expected_counters(
            session, tenant.workspace_id
        )


class TestRequestSide:
    def test_payload_digest_is_unchanged(self) -> None:
        """Stored digests tell retries from reused ids: their recipe must never drift."""
        raw = {
            "id": "e1",
            "type": "reaction",
            "announcement_id": "ann_1",
            "occurred_at": "2026-12-01T09:00:03.120+01:00",
            "value": "positive",
            "surface": "feed",
        }
        ((index, event),) = list(_validated([raw], []))
        now = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
        result = _incoming(index, event, "user-1", now)
        sent = b'["user-1","reaction","ann_1","2026-12-01T09:00:03.120000+01:00","positive","feed"]'
        assert result.payload_hash == hashlib.blake2b(sent, digest_size=16).hexdigest()
        assert result.occurred_at == datetime(2026, 12, 1, 8, 0, 3, 120000, tzinfo=UTC)
        assert result.occurred_at.tzinfo is UTC and not result.clamped

    def test_one_bad_event_is_reported_alone(self) -> None:
        good = {"id": "a", "type": "open", "occurred_at": "2026-12-01T09:00:00Z"}
        rejected: list[Any] = []
        valid = list(_validated([good, {**good, "type": "hover"}, "nope", good], rejected))
        assert [index for index, _ in valid] == [0, 3]
        assert [r.index for r in rejected] == [1, 2]
        assert "type" in rejected[0].error


class TestSqliteTimes:
    @pytest.mark.parametrize(
        "moment",
        [
            datetime(2026, 11, 26, 1, 2, 3, 456789, tzinfo=UTC),
            datetime(2026, 11, 26, 1, 2, 3, tzinfo=UTC),  # no microseconds
            datetime(2026, 11, 26, 6, 32, 3, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            datetime(2026, 11, 25, 20, 0, tzinfo=timezone(timedelta(hours=-5))),
            datetime(2026, 11, 26, 1, 2, 3, 999999),  # naive: taken as UTC
            datetime(1999, 12, 31, 23, 59, 59, 5, tzinfo=UTC),
        ],
    )
    def test_same_text_and_values_as_the_column_type(self, moment: datetime) -> None:
        dialect = sqlite.dialect()
        column = UTCDateTime().dialect_impl(dialect)
        bind = column.bind_processor(dialect)
        result = column.result_processor(dialect, None)
        assert bind is not None and result is not None
        times = SqliteTimes()
        text = times.text(moment)
        assert text == bind(moment)
        assert times.value(text) == result(text)
        assert times.value(text).tzinfo is UTC  # type: ignore[union-attr]
        assert times.text(times.value(text)) == text
        assert times.text(None) is None and times.value(None) is None
