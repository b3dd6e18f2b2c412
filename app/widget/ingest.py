"""Group commit for widget events: many requests' events in one durable transaction.

Each request validates its batch, then ``submit``s it and waits. A single writer task
collects what arrives within a short window (or until the group is full; under load, what
queued while the previous group was being committed), writes it all in one transaction,
commits, and only then answers every waiting request. Idempotency is unchanged:
``INSERT ... ON CONFLICT DO NOTHING`` on (workspace, event id).

The statements (``app/widget/statements.py``) are compiled once per dialect and run on
the driver with fixed SQL: ``executemany`` for rows, one list parameter for "any of these
ids". Both backends run the same function, ``write_group``, on a synchronous facade; they
differ only where concurrency forces it (``_Statements.holds_database``).

On SQLite the statements run on a plain synchronous connection on the event loop thread
(``BEGIN IMMEDIATE``, ``synchronous=FULL``): milliseconds of work per group instead of
thousands of thread hand-offs through aiosqlite. The commit, which mostly waits for the
disk, runs in a thread, and WAL checkpoints run beside the writer, not inside its commits.
On PostgreSQL the transaction runs through the async engine.

The queue is bounded: past ``max_pending_events`` a request is refused with 503 and
``Retry-After`` instead of growing memory. ``stop()`` drains it before the engine closes,
so an acknowledged event is never lost on shutdown.
"""

import asyncio
import concurrent.futures
import logging
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.errors import ServiceUnavailable
from app.kit.db_types import UTCDateTime
from app.kit.ids import new_id
from app.kit.time import utc_now
from app.widget import statements
from app.widget.engagement import (
    COUNTERS,
    STATE_FIELDS,
    StatsDelta,
    empty_state,
    fold_event,
    mark_seen,
)
from app.widget.feed import Visitor
from app.widget.repository import new_end_user_row

logger = logging.getLogger("tidings.ingest")

_WRITER_BUSY_TIMEOUT_MS = 2  # see _transaction: waiting happens off the lock, in the loop


@dataclass(slots=True)
class IncomingEvent:
    """One validated event on its way to the writer (occurred_at in UTC, clamped)."""

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
        self._sync_engine: Engine | None = None
        self._checkpointer: _Checkpointer | None = None
        if engine.dialect.name == "sqlite":
            database = make_url(str(engine.url)).database
            if database and database != ":memory:":
                self._checkpointer = _Checkpointer(database, sqlite_busy_timeout_ms)
            self._sync_engine = _sqlite_writer(
                engine, _WRITER_BUSY_TIMEOUT_MS, checkpoints=self._checkpointer is None
            )
        self._committer = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="event-commit"
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
        self._committer.shutdown(wait=True)
        if self._checkpointer is not None:
            self._checkpointer.close()

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
            await self._gather()
            group = self._take_group()
            await self._write(group)

    async def _gather(self) -> None:
        """Let requests that are already being handled join the group, for up to the window.

        It waits while each turn of the loop brings more, not the whole window: requests
        that arrive together are read in the same few turns, and one that comes alone
        should not wait for company that is not coming. Under load the group fills
        anyway, with what queued while the previous one was being committed.
        """
        deadline = time.monotonic() + self.window_s
        while not self._closing and self._pending_events < self.max_group_events:
            queued = len(self._pending)
            await asyncio.sleep(0)
            if len(self._pending) == queued or time.monotonic() >= deadline:
                return

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
                return await self._sqlite_transaction(self._sync_engine, group)
            except OperationalError as exc:
                if not _is_locked(exc) or time.monotonic() + pause > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    async def _sqlite_transaction(
        self, engine: Engine, group: list[Submission]
    ) -> list[IngestResult]:
        """Write on the loop (milliseconds of CPU), commit in a thread.

        The commit mostly waits for the disk (fsync): requests go on being read and
        validated meanwhile. Only this task uses the connection, one step at a time.
        """
        with engine.connect() as connection:
            transaction = connection.begin()
            try:
                results = write_group(connection, group)
            except BaseException:
                transaction.rollback()
                raise
            commit = self._committer.submit(transaction.commit)
            try:
                await asyncio.wrap_future(commit)
            except asyncio.CancelledError:
                # Never let the connection go while its commit is still running.
                concurrent.futures.wait([commit])
                raise
        if self._checkpointer is not None:
            self._checkpointer.nudge()
        return results


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


class _Checkpointer:
    """Copies committed pages from the WAL into the database file, beside the writer.

    SQLite would do it inside a commit every 1 000 pages: a group would then wait for
    thousands of page writes and a second fsync. Here a passive checkpoint runs on its own
    connection and thread after commits, at most one at a time, while the writer goes on
    (WAL lets a checkpoint and a writer proceed together); it never blocks anyone.
    """

    def __init__(self, path: str, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="wal-checkpoint"
        )
        self._running: concurrent.futures.Future[None] | None = None
        self._connection: sqlite3.Connection | None = None

    def nudge(self) -> None:
        if self._running is None or self._running.done():
            self._running = self._executor.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            if self._connection is None:
                self._connection = sqlite3.connect(
                    self._path, isolation_level=None, check_same_thread=False
                )
                self._connection.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            logger.warning("WAL checkpoint failed; the next commit tries again", exc_info=True)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        if self._connection is not None:
            self._connection.close()


def _sqlite_writer(engine: AsyncEngine, busy_timeout_ms: int, *, checkpoints: bool) -> Engine:
    url = make_url(str(engine.url)).set(drivername="sqlite")
    # Its commits run in a thread (see _sqlite_transaction), never two steps at once.
    writer = create_engine(
        url, pool_size=1, max_overflow=0, connect_args={"check_same_thread": False}
    )

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
        if not checkpoints:
            cursor.execute("PRAGMA wal_autocheckpoint=0")  # see _Checkpointer
        cursor.close()

    @event.listens_for(writer, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return writer


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)


class SqliteTimes:
    """UTC datetimes to and from the text SQLAlchemy stores on SQLite, for one group.

    The same text and values as the column type's own processors (a test holds them to
    it), several times faster; and since most of what a group reads it writes back
    unchanged (state rows), the texts it read are reused instead of formatted again.
    """

    def __init__(self) -> None:
        self._texts: dict[datetime, str] = {}

    def clear(self) -> None:
        self._texts.clear()

    def text(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        text = self._texts.get(value)
        if text is None:
            aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
            # "YYYY-MM-DD HH:MM:SS.ffffff", naive UTC (subtracting is cheaper than replace).
            text = (_NAIVE_EPOCH + (aware - _EPOCH)).isoformat(" ", "microseconds")
            self._texts[value] = text
        return text

    def value(self, text: str | None) -> datetime | None:
        if text is None:
            return None
        value = datetime.fromisoformat(text + "+00:00")
        self._texts[value] = text
        return value


def _bind_processor(
    type_: Any, dialect: Dialect, times: SqliteTimes
) -> Callable[[Any], Any] | None:
    if dialect.name == "sqlite" and isinstance(type_, UTCDateTime):
        return times.text
    process: Callable[[Any], Any] | None = type_.dialect_impl(dialect).bind_processor(dialect)
    return process


def _result_processor(
    type_: Any, dialect: Dialect, times: SqliteTimes
) -> Callable[[Any], Any] | None:
    if dialect.name == "sqlite" and isinstance(type_, UTCDateTime):
        return times.value
    process: Callable[[Any], Any] | None = type_.dialect_impl(dialect).result_processor(
        dialect, None
    )
    return process


class _Compiled:
    """A statement compiled once for a dialect, run on the driver with positional parameters.

    SQLAlchemy compiles a multi-row ``VALUES`` afresh for every distinct row count, which
    cost more than the writes; these statements have fixed SQL (``executemany`` for rows,
    one list parameter for "any of these ids"), so the driver prepares them once too. The
    column types' own bind and result processors still apply: the database sees exactly
    what the ORM would write.
    """

    __slots__ = (
        "_binders",
        "_constants",
        "_direct",
        "_few",
        "_names",
        "_pick",
        "_readers",
        "sql",
    )

    def __init__(
        self,
        statement: Any,
        dialect: Dialect,
        times: SqliteTimes,
        keys: Sequence[str] | None = None,
    ) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        self.sql = str(compiled)
        self._direct = dialect.name == "sqlite"
        self._names: tuple[str, ...] = tuple(compiled.positiontup or ())
        # Values written into the statement itself (the 1 of ``n + 1``) bind as themselves.
        self._constants = {
            name: bind.effective_value
            for name, bind in compiled.binds.items()
            if name in self._names and not bind.required
        }
        self._few = len(self._names) < 2  # itemgetter answers a tuple from two names on
        self._pick = itemgetter(*self._names)
        binders = []
        for position, name in enumerate(self._names):
            process = _bind_processor(compiled.binds[name].type, dialect, times)
            if process is not None:
                binders.append((position, process))
        self._binders = tuple(binders)
        readers = []
        for position, column in enumerate(getattr(statement, "exported_columns", ())):
            process = _result_processor(column.type, dialect, times)
            if process is not None:
                readers.append((position, process))
        self._readers = tuple(readers)

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        if self._constants:
            values = {**values, **self._constants}
        picked = tuple(values[name] for name in self._names) if self._few else self._pick(values)
        if not self._binders:
            return picked
        row = list(picked)
        for position, process in self._binders:
            row[position] = process(row[position])
        return tuple(row)

    def fetch(self, connection: Connection, values: Mapping[str, Any]) -> list[Sequence[Any]]:
        parameters = self.parameters(values)
        rows: list[Sequence[Any]]
        if self._direct:
            rows = self._on_sqlite(connection, parameters, many=False).fetchall()
        else:
            rows = list(connection.exec_driver_sql(self.sql, parameters).all())
        if not self._readers:
            return rows
        processed: list[Sequence[Any]] = []
        for raw in rows:
            row = list(raw)
            for position, process in self._readers:
                row[position] = process(row[position])
            processed.append(row)
        return processed

    def execute_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Run once per row (one ``executemany``); the number of rows changed."""
        if not rows:
            return 0
        if self._constants:
            rows = [{**row, **self._constants} for row in rows]
        # Column by column: one loop per column instead of Python work per value and row.
        columns: list[Any] = [[row[name] for row in rows] for name in self._names]
        for position, process in self._binders:
            columns[position] = map(process, columns[position])
        parameters = list(zip(*columns, strict=True))
        if self._direct:
            changed: int = self._on_sqlite(connection, parameters, many=True).rowcount
            return changed
        return connection.exec_driver_sql(self.sql, parameters).rowcount

    def _on_sqlite(self, connection: Connection, parameters: Any, *, many: bool) -> Any:
        # Straight to sqlite3, in the connection's transaction: a group runs a dozen
        # statements and SQLAlchemy's own bookkeeping per statement was a tenth of the
        # writer's time. Errors are wrapped as SQLAlchemy would, for the writer's handling.
        driver = connection.connection.driver_connection
        assert driver is not None
        try:
            if many:
                return driver.executemany(self.sql, parameters)
            return driver.execute(self.sql, parameters)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(self.sql, parameters, exc, sqlite3.Error) from exc


_STATE_KEY_COLUMNS = ("workspace_id", "end_user_id", "announcement_id", "seen_count")
_STATS_COLUMNS = ("workspace_id", "announcement_id", "bucket", *COUNTERS)


class _Statements:
    """Everything the writer runs, compiled for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        name = dialect.name
        # SQLite's writer holds the whole database (BEGIN IMMEDIATE): what it reads stays
        # true until it commits, so asking first which events and state rows exist is
        # exact, and cheaper. PostgreSQL replicas write concurrently: the event insert
        # itself says which rows were new (RETURNING), and state rows are created before
        # they are locked.
        self.holds_database = name == "sqlite"
        # Only the SQLite writer uses it, and only from the event loop, one group at a time.
        self.times = SqliteTimes()

        def prepare(statement: Any, keys: Sequence[str] | None = None) -> _Compiled:
            return _Compiled(statement, dialect, self.times, keys)

        insert_events = (
            statements.insert_events(name)
            if self.holds_database
            else statements.insert_events_returning()
        )
        end_user_keys = tuple(new_end_user_row("", "", utc_now(), None, None))
        self.known_announcements = prepare(statements.known_announcements(name))
        self.end_users_by_key = prepare(statements.end_users_by_key(name))
        self.insert_end_users = prepare(statements.insert_end_users(name), end_user_keys)
        self.bump_state_version = prepare(statements.bump_state_version())
        self.stored_events = prepare(statements.stored_events(name))
        self.insert_events = prepare(insert_events, statements.EVENT_COLUMNS)
        self.insert_states = prepare(statements.insert_states(name), _STATE_KEY_COLUMNS)
        self.insert_full_states = prepare(
            statements.insert_states(name), _STATE_KEY_COLUMNS[:-1] + STATE_FIELDS
        )
        self.lock_states = prepare(statements.lock_states_of(name))
        self.save_states = prepare(statements.save_states())
        self.add_to_stats = prepare(statements.add_to_stats(name), _STATS_COLUMNS)


_compiled: dict[tuple[str, str, str], _Statements] = {}


def _statements_for(dialect: Dialect) -> _Statements:
    key = (dialect.name, dialect.driver, dialect.paramstyle)
    compiled = _compiled.get(key)
    if compiled is None:
        compiled = _compiled[key] = _Statements(dialect)
    return compiled


def write_group(connection: Connection, group: list[Submission]) -> list[IngestResult]:
    """Write a group of submissions in the caller's transaction; one result per submission."""
    sql = _statements_for(connection.dialect)
    sql.times.clear()
    results = [IngestResult() for _ in group]
    by_workspace: dict[str, list[int]] = defaultdict(list)
    for position, submission in enumerate(group):
        by_workspace[submission.workspace_id].append(position)
    now = utc_now()
    for workspace_id, positions in by_workspace.items():
        _write_workspace(
            sql, connection, workspace_id, [(p, group[p]) for p in positions], results, now
        )
    return results


def _end_users(
    sql: _Statements,
    connection: Connection,
    workspace_id: str,
    keys: set[tuple[str | None, str | None]],
    now: datetime,
) -> dict[tuple[str | None, str | None], str]:
    """The end users' ids, created on first sight."""

    def lookup(wanted: Sequence[tuple[str | None, str | None]]) -> None:
        rows = sql.end_users_by_key.fetch(
            connection,
            {
                "workspace_id": workspace_id,
                "user_ids": [uid for uid, _ in wanted if uid is not None],
                "anonymous_ids": [aid for uid, aid in wanted if uid is None and aid is not None],
            },
        )
        for end_user_id, user_id, anonymous_id in rows:
            found[(user_id, None) if user_id is not None else (None, anonymous_id)] = end_user_id

    found: dict[tuple[str | None, str | None], str] = {}
    lookup(list(keys))
    missing = sorted((key for key in keys if key not in found), key=str)
    if missing:
        # Someone else may create the same user meanwhile (another replica): theirs stands.
        rows = [new_end_user_row(workspace_id, new_id("eu"), now, uid, aid) for uid, aid in missing]
        sql.insert_end_users.execute_many(connection, rows)
        lookup(missing)
    return found


def _write_workspace(
    sql: _Statements,
    connection: Connection,
    workspace_id: str,
    submissions: list[tuple[int, Submission]],
    results: list[IngestResult],
    now: datetime,
) -> None:
    by_position = dict(submissions)

    # Events about announcements this workspace does not have are refused one by one.
    referenced = {e.announcement_id for _, s in submissions for e in s.events if e.announcement_id}
    known: set[str] = set()
    if referenced:
        known = {
            row[0]
            for row in sql.known_announcements.fetch(
                connection, {"workspace_id": workspace_id, "ids": sorted(referenced)}
            )
        }

    end_user_of = _end_users(
        sql, connection, workspace_id, {_user_key(s.visitor) for _, s in submissions}, now
    )

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
    # One order for every concurrent writer (no deadlocks); a user's events side by side.
    rows.sort(key=lambda row: (row["end_user_id"], row["id"]))
    inserted, stored_hashes = _insert_events(sql, connection, workspace_id, rows)

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
    if new_by_user:
        _fold_states(sql, connection, workspace_id, new_by_user, visible_by_user, now)


def _insert_events(
    sql: _Statements, connection: Connection, workspace_id: str, rows: list[dict[str, Any]]
) -> tuple[set[str], dict[str, str]]:
    """Store the rows that are new: the ids inserted, and the payload hashes of the others."""
    if not rows:
        return set(), {}
    if not sql.holds_database:  # PostgreSQL
        columns = {name: [row[name] for row in rows] for name in statements.EVENT_COLUMNS}
        inserted = {row[0] for row in sql.insert_events.fetch(connection, columns)}
        undecided = [row["id"] for row in rows if row["id"] not in inserted]
        stored = _stored_hashes(sql, connection, workspace_id, undecided)
        return inserted, stored
    stored = _stored_hashes(sql, connection, workspace_id, [row["id"] for row in rows])
    new = [row for row in rows if row["id"] not in stored]
    written = sql.insert_events.execute_many(connection, new)
    if written != len(new):  # cannot happen while this transaction holds the write lock
        raise RuntimeError(f"{len(new) - written} events appeared while the database was locked")
    return {row["id"] for row in new}, stored


def _stored_hashes(
    sql: _Statements, connection: Connection, workspace_id: str, ids: list[str]
) -> dict[str, str]:
    if not ids:
        return {}
    query = {"workspace_id": workspace_id, "ids": ids}
    return {event_id: digest for event_id, digest in sql.stored_events.fetch(connection, query)}


def _fold_states(
    sql: _Statements,
    connection: Connection,
    ws: str,
    new_by_user: dict[str, list[IncomingEvent]],
    visible_by_user: dict[str, list[str]],
    now: datetime,
) -> None:
    """Apply the new events to their users' states (locked) and to the counters."""
    touched = sorted(
        {
            (end_user_id, announcement_id)
            for end_user_id, events in new_by_user.items()
            for announcement_id in [e.announcement_id for e in events if e.announcement_id]
            + visible_by_user.get(end_user_id, [])
        }
    )
    states: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    fresh: list[tuple[str, str]] = []
    if sql.holds_database:
        # Nobody else writes until this commits: the rows not there now are this group's.
        for row in sql.lock_states.fetch(connection, {"workspace_id": ws, "keys": touched}):
            states[row[0]][row[1]] = dict(zip(STATE_FIELDS, row[2:], strict=True))
        fresh = [(u, a) for u, a in touched if a not in states[u]]
        for u, a in fresh:
            states[u][a] = empty_state()
    else:
        # Create the missing rows first (a concurrent writer may too), then lock them all.
        keys = [{**_state_key(ws, u, a), "seen_count": 0} for u, a in touched]
        sql.insert_states.execute_many(connection, keys)
        for row in sql.lock_states.fetch(connection, {"workspace_id": ws, "keys": touched}):
            states[row[0]][row[1]] = dict(zip(STATE_FIELDS, row[2:], strict=True))
    stats = StatsDelta()
    changed: list[tuple[str, str]] = []
    for end_user_id, events in new_by_user.items():
        user_states = states[end_user_id]
        before = {key: tuple(value.values()) for key, value in user_states.items()}
        for incoming in sorted(events, key=lambda e: e.occurred_at):
            if incoming.type == "open":
                for announcement_id in visible_by_user.get(end_user_id, []):
                    mark_seen(user_states[announcement_id], incoming.occurred_at)
            elif incoming.announcement_id is not None:
                fold_event(
                    user_states[incoming.announcement_id],
                    incoming.announcement_id,
                    incoming.type,
                    incoming.occurred_at,
                    incoming.value,
                    incoming.surface,
                    stats,
                )
        changed += [
            (end_user_id, announcement_id)
            for announcement_id, state in user_states.items()
            if tuple(state.values()) != before[announcement_id]
        ]
    new = set(fresh)
    sql.insert_full_states.execute_many(
        connection, [{**_state_key(ws, u, a), **states[u][a]} for u, a in fresh]
    )
    updates = [
        statements.state_parameters(ws, u, a, states[u][a]) for u, a in changed if (u, a) not in new
    ]
    sql.save_states.execute_many(connection, updates)
    stat_rows = sorted(stats.rows(ws), key=lambda row: (row["announcement_id"], row["bucket"]))
    sql.add_to_stats.execute_many(connection, stat_rows)
    sql.bump_state_version.execute_many(
        connection,
        [
            {"key_workspace_id": ws, "key_id": end_user_id, "now": now}
            for end_user_id in sorted(new_by_user)
        ],
    )


def _state_key(workspace_id: str, end_user_id: str, announcement_id: str) -> dict[str, str]:
    return {
        "workspace_id": workspace_id,
        "end_user_id": end_user_id,
        "announcement_id": announcement_id,
    }


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
