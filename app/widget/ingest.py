"""Group commit for widget events: many requests' events in one durable transaction.

Each request validates its batch, then ``submit``s it and waits. A single writer task
collects what arrives within a short window (or until the group is full), writes it all in
one transaction, commits, and only then answers every waiting request. Idempotency is
unchanged: ``INSERT ... ON CONFLICT DO NOTHING`` on (workspace, event id).

On SQLite the transaction runs on a plain synchronous connection on the event loop thread
(``BEGIN IMMEDIATE``, ``synchronous=FULL``): milliseconds of blocking per group instead of
thousands of thread hand-offs through aiosqlite. On PostgreSQL it runs through the async
engine. Both execute the same function, ``write_group``, on a synchronous facade.

The queue is bounded: past ``max_pending_events`` a request is refused with 503 and
``Retry-After`` instead of growing memory. ``stop()`` drains it before the engine closes,
so an acknowledged event is never lost on shutdown.
"""

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.errors import ServiceUnavailable
from app.kit.ids import new_id
from app.kit.time import utc_now
from app.widget import statements
from app.widget.engagement import (
    StatsDelta,
    apply_event,
    changed,
    mark_seen,
    states_by_announcement,
)
from app.widget.feed import Visitor
from app.widget.repository import new_end_user_row

logger = logging.getLogger("tidings.ingest")

_WRITER_BUSY_TIMEOUT_MS = 2  # see _transaction: waiting happens off the lock, in the loop
_CHUNK_ROWS = 500  # rows per multi-row statement: far below SQLite's variable limit


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    index: int  # position in the request's batch, for per-event answers
    id: str
    type: str
    announcement_id: str | None
    occurred_at: datetime
    clamped: bool
    value: str | None
    surface: str | None
    payload_hash: str


@dataclass(slots=True)
class Submission:
    workspace_id: str
    visitor: Visitor
    events: list[IncomingEvent]
    # For "open" events: what the user could see when the feed was opened.
    visible: list[str]
    repeats: dict[str, list[int]]  # in-batch copies of an event id → their indexes
    future: asyncio.Future["IngestResult"] = field(repr=False)


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


REUSED_ID = "this event id was already used for a different event"


class EventIngestor:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        window_s: float = 0.002,
        max_group_events: int = 5000,
        max_pending_events: int = 50_000,
        sqlite_busy_timeout_ms: int = 5000,
    ) -> None:
        self.engine = engine
        self.window_s = window_s
        self.max_group_events = max_group_events
        self.max_pending_events = max_pending_events
        self._pending: list[Submission] = []
        self._pending_events = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.lock_wait_s = sqlite_busy_timeout_ms / 1000
        self._sync_engine = (
            _sqlite_writer(engine, _WRITER_BUSY_TIMEOUT_MS)
            if engine.dialect.name == "sqlite"
            else None
        )

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="event-ingestor")

    async def stop(self) -> None:
        """Write everything still queued, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        if self._sync_engine is not None:
            self._sync_engine.dispose()

    async def submit(self, submission: Submission) -> IngestResult:
        if self._task is None or self._task.done():
            raise ServiceUnavailable("The event writer is not running; retry.", retry_after_s=1)
        if self._closing:
            raise ServiceUnavailable("The server is shutting down; retry.", retry_after_s=1)
        if self._pending_events + len(submission.events) > self.max_pending_events:
            raise ServiceUnavailable("Too many events are waiting to be written; retry.")
        self._pending.append(submission)
        self._pending_events += len(submission.events)
        self._wakeup.set()
        return await submission.future

    async def _run(self) -> None:
        try:
            await self._loop()
        finally:
            # Never leave a request waiting on a writer that is gone.
            _fail(self._pending, ServiceUnavailable("The event writer stopped; retry."))
            self._pending.clear()
            self._pending_events = 0

    async def _loop(self) -> None:
        while True:
            await self._wakeup.wait()
            if not self._pending:
                if self._closing:
                    return
                self._wakeup.clear()
                continue
            if not self._closing and self._pending_events < self.max_group_events:
                await asyncio.sleep(self.window_s)  # let concurrent requests join the group
            group = self._take_group()
            await self._write(group)

    def _take_group(self) -> list[Submission]:
        group: list[Submission] = []
        size = 0
        while self._pending and (not group or size < self.max_group_events):
            submission = self._pending.pop(0)
            group.append(submission)
            size += len(submission.events)
        self._pending_events -= size
        if not self._pending:
            self._wakeup.clear()
        return group

    async def _write(self, group: list[Submission]) -> None:
        try:
            results = await self._transaction(group)
        except DBAPIError as exc:
            if exc.connection_invalidated or _is_unreachable(exc) or _is_locked(exc):
                _fail(group, ServiceUnavailable("The database is not reachable; retry shortly."))
                return
            # One bad submission must not sink the others: write them one by one.
            logger.warning("group write failed (%s); retrying one by one", type(exc).__name__)
            for submission in group:
                try:
                    (result,) = await self._transaction([submission])
                except Exception as single:
                    logger.exception("event batch could not be written")
                    _fail([submission], single)
                else:
                    _succeed(submission, result)
            return
        except Exception as exc:
            logger.exception("event group could not be written")
            _fail(group, exc)
            return
        for submission, result in zip(group, results, strict=True):
            _succeed(submission, result)

    async def _transaction(self, group: list[Submission]) -> list[IngestResult]:
        if self._sync_engine is None:
            async with self.engine.begin() as connection:
                return await connection.run_sync(write_group, group)
        # The SQLite writer blocks the event loop, so it never waits for the lock inside
        # SQLite (busy_timeout is tiny); it yields the loop and tries again until the deadline.
        deadline = time.monotonic() + self.lock_wait_s
        pause = 0.001
        while True:
            try:
                with self._sync_engine.begin() as connection:
                    return write_group(connection, group)
            except OperationalError as exc:
                if not _is_locked(exc) or time.monotonic() + pause > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)


def _succeed(submission: Submission, result: IngestResult) -> None:
    if not submission.future.done():
        submission.future.set_result(result)


def _fail(group: Sequence[Submission], exc: BaseException) -> None:
    for submission in group:
        if not submission.future.done():
            submission.future.set_exception(exc)


def _is_locked(exc: DBAPIError) -> bool:
    return "database is locked" in str(exc.orig)


def _is_unreachable(exc: DBAPIError) -> bool:
    return isinstance(exc.orig, OSError | ConnectionError) or "connect" in str(exc.orig).lower()


def _sqlite_writer(engine: AsyncEngine, busy_timeout_ms: int) -> Engine:
    url = make_url(str(engine.url)).set(drivername="sqlite")
    writer = create_engine(url, pool_size=1, max_overflow=0)

    @event.listens_for(writer, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver; we say BEGIN IMMEDIATE ourselves, so the write lock is
        # taken (or waited for) up front instead of failing on a later upgrade.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a 202 survives power loss, not only a crash; one fsync per group.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(writer, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return writer


def _chunks(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [rows[start : start + _CHUNK_ROWS] for start in range(0, len(rows), _CHUNK_ROWS)]


def write_group(connection: Connection, group: list[Submission]) -> list[IngestResult]:
    """Write a group of submissions in the caller's transaction; one result per submission."""
    results = [IngestResult() for _ in group]
    by_workspace: dict[str, list[int]] = defaultdict(list)
    for position, submission in enumerate(group):
        by_workspace[submission.workspace_id].append(position)
    now = utc_now()
    for workspace_id, positions in by_workspace.items():
        _write_workspace(connection, workspace_id, [(p, group[p]) for p in positions], results, now)
    return results


def _write_workspace(
    connection: Connection,
    workspace_id: str,
    submissions: list[tuple[int, Submission]],
    results: list[IngestResult],
    now: datetime,
) -> None:
    dialect = connection.dialect.name
    by_position = dict(submissions)

    # Events about announcements this workspace does not have are refused one by one.
    referenced = {e.announcement_id for _, s in submissions for e in s.events if e.announcement_id}
    known: set[str] = set()
    if referenced:
        known = set(
            connection.execute(statements.known_announcements(workspace_id, referenced)).scalars()
        )

    # The end users, created on first sight.
    users = {_user_key(s.visitor) for _, s in submissions}
    connection.execute(
        statements.ensure_end_users(
            dialect,
            [
                new_end_user_row(workspace_id, new_id("eu"), now, uid, aid)
                for uid, aid in sorted(users, key=str)
            ],
        )
    )
    user_ids = {uid for uid, _ in users if uid is not None}
    anonymous_ids = {aid for uid, aid in users if uid is None and aid is not None}
    end_user_of: dict[tuple[str | None, str | None], str] = {}
    for row in connection.execute(statements.end_user_ids(workspace_id, user_ids, anonymous_ids)):
        end_user_of[
            (row.user_id, None) if row.user_id is not None else (None, row.anonymous_id)
        ] = row.id

    # Raw events: the first copy of an id in the group owns it; the database decides the rest.
    owners: dict[str, tuple[int, IncomingEvent]] = {}
    contenders: list[tuple[int, IncomingEvent]] = []
    rows: list[dict[str, Any]] = []
    for position, submission in submissions:
        end_user_id = end_user_of[_user_key(submission.visitor)]
        for incoming in submission.events:
            if incoming.announcement_id is not None and incoming.announcement_id not in known:
                error = f"no announcement {incoming.announcement_id!r}"
                for index in (incoming.index, *submission.repeats.get(incoming.id, ())):
                    results[position].rejected.append((index, error))
                continue
            if incoming.id in owners:
                contenders.append((position, incoming))
                continue
            owners[incoming.id] = (position, incoming)
            rows.append(_event_row(workspace_id, end_user_id, incoming, now))
    inserted: set[str] = set()
    for chunk in _chunks(rows):
        inserted |= set(connection.execute(statements.insert_events(dialect, chunk)).scalars())

    stored_hashes: dict[str, str] = {}
    undecided = {event_id for event_id in owners if event_id not in inserted}
    if undecided:
        query = statements.event_hashes(workspace_id, undecided)
        stored_hashes = {row.id: row.payload_hash for row in connection.execute(query)}
    for event_id, (position, incoming) in owners.items():
        copies = 1 + len(by_position[position].repeats.get(event_id, ()))
        if event_id in inserted:
            results[position].accepted += 1
            results[position].duplicates += copies - 1
        elif stored_hashes.get(event_id) == incoming.payload_hash:
            results[position].duplicates += copies
        else:
            _reject_all(results[position], by_position[position], incoming)
    for position, incoming in contenders:
        _, owner = owners[incoming.id]
        same = owner.payload_hash == incoming.payload_hash and (
            incoming.id in inserted or stored_hashes.get(incoming.id) == incoming.payload_hash
        )
        if same:
            repeats = by_position[position].repeats.get(incoming.id, ())
            results[position].duplicates += 1 + len(repeats)
        else:
            _reject_all(results[position], by_position[position], incoming)

    # State and counters, for the events that are new.
    new_by_user: dict[str, list[IncomingEvent]] = defaultdict(list)
    visible_by_user: dict[str, list[str]] = defaultdict(list)
    for event_id in inserted:
        position, incoming = owners[event_id]
        submission = by_position[position]
        end_user_id = end_user_of[_user_key(submission.visitor)]
        new_by_user[end_user_id].append(incoming)
        if incoming.type == "open":
            visible_by_user[end_user_id] = submission.visible
    if not new_by_user:
        return
    touched = {
        (end_user_id, announcement_id)
        for end_user_id, events in new_by_user.items()
        for announcement_id in [e.announcement_id for e in events if e.announcement_id]
        + visible_by_user.get(end_user_id, [])
    }
    state_rows = [
        {"workspace_id": workspace_id, "end_user_id": u, "announcement_id": a}
        for u, a in sorted(touched)
    ]
    for chunk in _chunks(state_rows):
        connection.execute(statements.ensure_states(dialect, chunk))
    locked = connection.execute(
        statements.lock_states(workspace_id, list(new_by_user), {a for _, a in touched})
    ).all()
    states: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in locked:
        states[row.end_user_id].update(states_by_announcement([row]))
    stats = StatsDelta()
    updates: list[dict[str, Any]] = []
    for end_user_id, events in new_by_user.items():
        user_states = states[end_user_id]
        before = {key: dict(value) for key, value in user_states.items()}
        for incoming in sorted(events, key=lambda e: e.occurred_at):
            if incoming.type == "open":
                for announcement_id in visible_by_user.get(end_user_id, []):
                    mark_seen(user_states[announcement_id], incoming.occurred_at)
            elif incoming.announcement_id is not None:
                apply_event(
                    user_states[incoming.announcement_id],
                    incoming.announcement_id,
                    {
                        "type": incoming.type,
                        "occurred_at": incoming.occurred_at,
                        "value": incoming.value,
                        "surface": incoming.surface,
                    },
                    stats,
                )
        updates += [
            statements.state_parameters(workspace_id, end_user_id, announcement_id, state)
            for announcement_id, state in user_states.items()
            if changed(before[announcement_id], state)
        ]
    if updates:
        connection.execute(statements.save_states(), updates)
    stat_rows = stats.rows(workspace_id)
    if stat_rows:
        connection.execute(statements.add_stats(dialect, stat_rows))
    connection.execute(statements.bump_state_versions(workspace_id, list(new_by_user), now))


def _reject_all(result: IngestResult, submission: Submission, incoming: IncomingEvent) -> None:
    for index in (incoming.index, *submission.repeats.get(incoming.id, ())):
        result.rejected.append((index, REUSED_ID))


def _user_key(visitor: Visitor) -> tuple[str | None, str | None]:
    if visitor.user_id is not None:
        return (visitor.user_id, None)
    return (None, visitor.anonymous_id)


def _event_row(
    workspace_id: str, end_user_id: str, incoming: IncomingEvent, now: datetime
) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "id": incoming.id,
        "end_user_id": end_user_id,
        "announcement_id": incoming.announcement_id,
        "type": incoming.type,
        "value": incoming.value,
        "surface": incoming.surface,
        "occurred_at": incoming.occurred_at,
        "received_at": now,
        "clamped": incoming.clamped,
        "payload_hash": incoming.payload_hash,
    }
