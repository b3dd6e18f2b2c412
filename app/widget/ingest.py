"""Group commit for widget events: many requests' events in one durable transaction.

Each request validates its batch, then ``submit``s it and waits. A single writer task
collects what arrives within a short window (or until the group is full; under load, what
queued while the previous group was being committed), writes it all in one transaction,
commits, and only then answers every waiting request. Idempotency is unchanged:
``INSERT ... ON CONFLICT DO NOTHING`` on (workspace, event id).

What a group writes, and how, is ``app/widget/writer.py`` (``write_group``, the same on
every backend, on a synchronous facade); this module is the queue, the grouping and the
transactions around it.

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
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.errors import ServiceUnavailable
from app.widget.writer import IngestResult, Submission, write_group

logger = logging.getLogger("tidings.ingest")

_WRITER_BUSY_TIMEOUT_MS = 2  # see _transaction: waiting happens off the lock, in the loop


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
