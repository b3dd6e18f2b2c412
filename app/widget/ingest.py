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
disk, runs in a thread; WAL checkpoints run beside the writer, not inside its commits, and
once the WAL is long the writer lets one catch up between two groups (``_SqliteWriter``).
On PostgreSQL the transaction runs through the async engine.

The queue is bounded: past ``max_pending_events`` a request is refused with 503 and
``Retry-After`` instead of growing memory, and under overload it is refused before its
body is even parsed (``refuse_when_busy``). A submission is written only if the writer
takes it while its request still has time to be answered; one that waits too long is
answered 503 and dropped (``submit``): 202 means committed, 503 means not written.
``stop()`` drains the queue before the engine closes, so an acknowledged event is never
lost on shutdown.
"""

import asyncio
import concurrent.futures
import fcntl
import logging
import os
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from app.errors import ServiceUnavailable
from app.widget.schemas import MAX_EVENTS_PER_BATCH
from app.widget.write_health import WriteHealth
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
        max_queue_wait_s: float = 2.0,
        write_margin_s: float = 0.5,
        sqlite_busy_timeout_ms: int = 5000,
        sqlite_wal_restart_frames: int = 4000,
    ) -> None:
        self.engine = engine
        self.window_s = window_s
        self.max_group_events = max_group_events
        self.max_pending_events = max_pending_events
        self.max_queue_wait_s = max_queue_wait_s
        self.write_margin_s = write_margin_s
        # Cancelled submissions stay in the queue until they reach its head (skipped then);
        # ``_pending_events`` counts only the others.
        self._pending: deque[Submission] = deque()
        self._pending_events = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.health = WriteHealth()
        self.lock_wait_s = sqlite_busy_timeout_ms / 1000
        self._sqlite: _SqliteWriter | None = None
        if engine.dialect.name == "sqlite":
            self._sqlite = _SqliteWriter(
                engine, sqlite_busy_timeout_ms, wal_restart_frames=sqlite_wal_restart_frames
            )

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="event-ingestor")

    async def stop(self) -> None:
        """Write everything still queued, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        if self._sqlite is not None:
            self._sqlite.close()

    @property
    def is_running(self) -> bool:
        return self._task is not None and not self._task.done() and not self._closing

    def refuse_when_busy(self, content_length: str | None) -> None:
        """Refuse a batch before its body is read and parsed, when it would only wait.

        Under overload most requests are refused, and clients that resend at once come
        straight back: a refusal must cost next to nothing, or refusing crowds out the
        writing. A batch is refused when the queue has no room for as many events as its
        body can hold, or when what is queued has already waited ``max_queue_wait_s``
        (a new batch would wait as long, for time its request does not have).
        """
        self._refuse_unless_running()
        if self._pending_events + _most_events_in(content_length) > self.max_pending_events:
            raise _busy()
        if self._queue_wait_s() > self.max_queue_wait_s:
            raise _busy()

    async def submit(self, submission: Submission, deadline: float | None = None) -> IngestResult:
        """Queue a submission and wait for its result.

        ``deadline`` (``time.monotonic()``) is when the request is answered 503 whatever
        happens (app/middleware.py). A submission the writer has not taken
        ``write_margin_s`` before it is dropped and answered 503 here, never written
        afterwards: 202 and written, or 503 and not written. One taken in time is
        written, and its request answered, within the margin.
        """
        self._refuse_unless_running()
        if self._pending_events + len(submission.events) > self.max_pending_events:
            raise _busy()
        now = time.monotonic()
        timer: asyncio.TimerHandle | None = None
        if deadline is not None:
            time_left = deadline - self.write_margin_s - now
            if time_left <= 0:
                raise _too_late()
            submission.deadline = deadline
            timer = asyncio.get_running_loop().call_later(time_left, self._drop, submission)
        submission.queued_at = now
        self._pending.append(submission)
        self._pending_events += len(submission.events)
        self._wakeup.set()
        try:
            return await submission.future
        finally:
            if timer is not None:
                timer.cancel()

    def _refuse_unless_running(self) -> None:
        if self._task is None or self._task.done():
            raise ServiceUnavailable("The event writer is not running; retry.", retry_after_s=1)
        if self._closing:
            raise ServiceUnavailable("The server is shutting down; retry.", retry_after_s=1)

    def _queue_wait_s(self) -> float:
        """How long the oldest submission still queued has waited."""
        pending = self._pending
        while pending and pending[0].is_cancelled:
            pending.popleft()
        return time.monotonic() - pending[0].queued_at if pending else 0.0

    def _drop(self, submission: Submission) -> None:
        """Its request's time is up: answered 503 now, and never written."""
        if submission.is_taken or submission.future.done():
            return  # being written: its answer comes from the writer
        submission.is_cancelled = True
        self._pending_events -= len(submission.events)
        submission.future.set_exception(_too_late())

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
            if group:
                await self._write(group)
            if self._sqlite is not None:
                # After the answers: the requests of this group do not wait for it.
                await self._sqlite.start_wal_over_if_long()

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
        """The next group: what is queued, in order, but not what could not be written in time."""
        group: list[Submission] = []
        size = 0
        in_time = time.monotonic() + self.write_margin_s
        pending = self._pending
        while pending and (not group or size < self.max_group_events):
            submission = pending.popleft()
            if submission.is_cancelled:
                continue  # answered 503 already; no longer counted in _pending_events
            self._pending_events -= len(submission.events)
            if submission.deadline < in_time:
                # Its timer is late (a busy loop): the same verdict, reached here.
                submission.is_cancelled = True
                _fail([submission], _too_late())
                continue
            submission.is_taken = True
            group.append(submission)
            size += len(submission.events)
        if not pending:
            self._wakeup.clear()
        return group

    async def _write(self, group: list[Submission]) -> None:
        try:
            results = await self._transaction(group)
        except Exception as exc:
            if len(group) > 1 and _is_about_its_data(exc):
                await self._write_one_by_one(group)
            else:
                # Writing the same group again one by one against a full disk only
                # multiplies the failures: the whole group is answered 503 at once.
                self._note_failure(exc, len(group))
                _fail(group, _answer_to(exc))
            return
        self.health.succeeded()
        for submission, result in zip(group, results, strict=True):
            _succeed(submission, result)

    async def _write_one_by_one(self, group: list[Submission]) -> None:
        """One submission's bad data must not sink the others: each in its own transaction."""
        failure: Exception | None = None
        written = 0
        for submission in group:
            try:
                (result,) = await self._transaction([submission])
            except Exception as exc:
                failure = exc
                _fail([submission], _answer_to(exc))
            else:
                written += 1
                _succeed(submission, result)
        if written:
            self.health.succeeded()
            if failure is not None:
                logger.warning(
                    "%d of %d event batches refused by the database (%s)",
                    len(group) - written,
                    len(group),
                    type(failure).__name__,
                )
        elif failure is not None:
            self._note_failure(failure, len(group))

    def _note_failure(self, exc: Exception, batches: int) -> None:
        # A database out of reach (or busy) is what /readyz's own query already sees, and
        # sees end: counted here, it would keep a replica unready after the database is
        # back, until an event it gets no more (out of rotation) is written.
        if not _is_out_of_reach(exc):
            self.health.failed(exc, batches)

    async def _transaction(self, group: list[Submission]) -> list[IngestResult]:
        if self._sqlite is None:
            async with self.engine.begin() as connection:
                return await connection.run_sync(write_group, group)
        # The SQLite writer blocks the event loop, so it never waits for the lock inside
        # SQLite (busy_timeout is tiny); it yields the loop and tries again until the deadline.
        deadline = time.monotonic() + self.lock_wait_s
        pause = 0.001
        while True:
            try:
                return await self._sqlite.transaction(group)
            except OperationalError as exc:
                if not _is_locked(exc) or time.monotonic() + pause > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)


# The smallest event a batch can hold, in bytes of JSON: an "open" with a one-character
# id and a UTC time ({"id":"x","type":"open","occurred_at":"2026-12-01T09:00:00Z"}).
_SMALLEST_EVENT_BYTES = 60


def _most_events_in(content_length: str | None) -> int:
    """How many events a body of this declared size can hold, at most (unknown: a full batch)."""
    if content_length is None or not content_length.isdigit():
        return MAX_EVENTS_PER_BATCH
    return max(1, min(MAX_EVENTS_PER_BATCH, int(content_length) // _SMALLEST_EVENT_BYTES))


def _busy() -> ServiceUnavailable:
    return ServiceUnavailable("Too many events are waiting to be written; retry.", retry_after_s=1)


def _too_late() -> ServiceUnavailable:
    return ServiceUnavailable(
        "The events could not be written in time (too many are waiting); nothing of this "
        "batch was written: retry.",
        retry_after_s=1,
    )


def _succeed(submission: Submission, result: IngestResult) -> None:
    if not submission.future.done():
        submission.future.set_result(result)


def _fail(group: Iterable[Submission], exc: BaseException) -> None:
    for submission in group:
        if not submission.future.done():
            submission.future.set_exception(exc)


def _is_about_its_data(exc: Exception) -> bool:
    """A constraint or a value the database refuses: maybe one submission's, not all of them."""
    return isinstance(exc, IntegrityError | DataError)


def _answer_to(exc: Exception) -> Exception:
    """What a request whose events could not be written is answered."""
    sqlstate = str(getattr(getattr(exc, "orig", None), "sqlstate", None) or "")
    if isinstance(exc, DataError) or sqlstate.startswith("22"):
        return exc  # a value the database refuses: the client's to fix (422, app/errors.py)
    if _is_out_of_reach(exc):
        return ServiceUnavailable("The database is not reachable; retry shortly.")
    # A full disk, a read-only database, ...: logged once by WriteHealth, not per request.
    return ServiceUnavailable("The database refuses to write events right now; retry shortly.")


def _is_out_of_reach(exc: Exception) -> bool:
    """The database did not answer in time (or at all), as opposed to refusing the write."""
    if isinstance(exc, TimeoutError | ConnectionError | PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    # Connection exceptions (08) and operator intervention (57: shutdown, statement timeout).
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
    return (
        exc.connection_invalidated
        or sqlstate[:2] in ("08", "57")
        or _is_unreachable(exc)
        or _is_locked(exc)
    )


def _is_locked(exc: DBAPIError) -> bool:
    return "database is locked" in str(exc.orig)


def _is_unreachable(exc: DBAPIError) -> bool:
    return isinstance(exc.orig, OSError | ConnectionError) or "connect" in str(exc.orig).lower()


class _SqliteWriter:
    """The SQLite writer's one connection: statements on the loop, commits in a thread.

    The connection stays open, and its transactions are the driver's own (``BEGIN
    IMMEDIATE``, ``COMMIT``): checking a pooled connection out and opening a SQLAlchemy
    transaction for every group took about 6% of the event loop in a profile under load.
    ``IMMEDIATE``: the write lock is taken (or refused) up front instead of failing on a
    later upgrade.

    The commit mostly waits for the disk (fsync): it runs in a thread, and requests go on
    being read and validated meanwhile. Only one step at a time uses the connection.

    WAL checkpoints run beside the writer (``_Checkpointer``), but alone they never catch
    up with it: SQLite writes the WAL from its start again only when a transaction begins
    with every frame copied back, so under a sustained load the WAL grew by gigabytes,
    every commit appending to a longer file and every read searching a longer index. So
    once the WAL is ``wal_restart_frames`` long, the writer waits, between two groups,
    for a checkpoint to copy the rest; its next transaction starts the WAL over.
    Copying back after every group instead put a checkpoint's two disk flushes on the
    path of every group: 3 of the 7 ms a group took at 8 connections.
    """

    def __init__(
        self, engine: AsyncEngine, busy_timeout_ms: int, *, wal_restart_frames: int
    ) -> None:
        database = make_url(str(engine.url)).database
        self._checkpointer: _Checkpointer | None = None
        if database and database != ":memory:":
            self._checkpointer = _Checkpointer(database, busy_timeout_ms)
        self._engine = _sqlite_writer(engine, autocheckpoint=self._checkpointer is None)
        self._connection: Connection | None = None
        self._thread = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="event-commit"
        )
        self._turns: _WriterTurns | None = None
        if database and database != ":memory:":
            self._turns = _WriterTurns(database, self._thread)
        self._wal_restart_frames = wal_restart_frames

    def _open(self) -> Connection:
        if self._connection is None or self._connection.closed:
            self._connection = self._engine.connect()
        return self._connection

    async def transaction(self, group: list[Submission]) -> list[IngestResult]:
        if self._turns is not None:
            await self._turns.take()
        try:
            connection = self._open()
            driver = connection.connection.driver_connection
            _execute(driver, "BEGIN IMMEDIATE")
            try:
                results = write_group(connection, group)
            except BaseException:
                _roll_back(driver)
                raise
            await self._in_thread(_commit, driver)
        finally:
            if self._turns is not None:
                self._turns.give_back()
        if self._checkpointer is not None:
            self._checkpointer.nudge()
        return results

    async def start_wal_over_if_long(self) -> None:
        checkpointer = self._checkpointer
        if checkpointer is None or checkpointer.wal_frames < self._wal_restart_frames:
            return
        await checkpointer.finished()
        driver = self._open().connection.driver_connection
        try:
            await self._in_thread(_execute, driver, "PRAGMA wal_checkpoint(PASSIVE)")
        except DBAPIError:
            logger.warning("WAL checkpoint failed; the next one tries again", exc_info=True)
        checkpointer.wal_frames = 0

    async def _in_thread(self, step: Callable[..., object], *args: Any) -> None:
        running = self._thread.submit(step, *args)
        try:
            await asyncio.wrap_future(running)
        except asyncio.CancelledError:
            # Never let the connection go while a step of it is still running.
            concurrent.futures.wait([running])
            raise

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        if self._connection is not None:
            self._connection.close()
        self._engine.dispose()
        if self._checkpointer is not None:
            self._checkpointer.close()
        if self._turns is not None:
            self._turns.close()


class _WriterTurns:
    """The event writers of several processes on one SQLite file take turns.

    SQLite's write lock has no queue. A writer that finds it taken can only try again
    later, and the writer holding it takes it again right after its commit, its next group
    being ready by then: with ``--workers 2`` one worker's groups waited 20 to 190 ms
    while the other wrote, and the events p99 at 8 connections was over 300 ms in some
    runs (8 ms in others). A lock on a file beside the database (``flock``) has waiters:
    the kernel wakes the one waiting when the holder lets go, so the writers alternate
    (p99 11-12 ms in every run since). Only the event writers take it; every other write
    still waits in SQLite, as before. A crashed holder's turn ends with its process.
    """

    def __init__(self, database: str, thread: concurrent.futures.ThreadPoolExecutor) -> None:
        self._fd = os.open(f"{database}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
        self._thread = thread  # the writer's own: idle while the writer waits for its turn

    async def take(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return  # nobody else writing: the usual case
        except BlockingIOError:
            pass
        waiting = self._thread.submit(fcntl.flock, self._fd, fcntl.LOCK_EX)
        try:
            await asyncio.wrap_future(waiting)
        except asyncio.CancelledError:
            # The turn may still come; whoever waits next must not find it taken.
            waiting.add_done_callback(lambda _: self.give_back())
            raise

    def give_back(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


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
        # Frames in the WAL when the last checkpoint ran, copied back or not.
        self.wal_frames = 0

    def nudge(self) -> None:
        if self._running is None or self._running.done():
            self._running = self._executor.submit(self._checkpoint)

    async def finished(self) -> None:
        if self._running is not None:
            await asyncio.wrap_future(self._running)

    def _checkpoint(self) -> None:
        try:
            if self._connection is None:
                self._connection = sqlite3.connect(
                    self._path, isolation_level=None, check_same_thread=False
                )
                self._connection.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            _, frames, _ = self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.wal_frames = frames
        except sqlite3.Error:
            logger.warning("WAL checkpoint failed; the next commit tries again", exc_info=True)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        if self._connection is not None:
            self._connection.close()


def _execute(driver: Any, sql: str) -> None:
    try:
        driver.execute(sql).fetchall()
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, (), exc, sqlite3.Error) from exc


def _commit(driver: Any) -> None:
    try:
        _execute(driver, "COMMIT")
    except BaseException:
        _roll_back(driver)
        raise


def _roll_back(driver: Any) -> None:
    # Some errors (a full disk, an I/O error) end the transaction inside SQLite already.
    if driver.in_transaction:
        _execute(driver, "ROLLBACK")


def _sqlite_writer(engine: AsyncEngine, *, autocheckpoint: bool) -> Engine:
    url = make_url(str(engine.url)).set(drivername="sqlite")
    # Its commits run in a thread (see _SqliteWriter), never two steps at once.
    writer = create_engine(
        url, pool_size=1, max_overflow=0, connect_args={"check_same_thread": False}
    )

    @event.listens_for(writer, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver: _SqliteWriter says BEGIN IMMEDIATE and COMMIT itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a 202 survives power loss, not only a crash; one fsync per group.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={_WRITER_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")  # see _SqliteWriter
        cursor.close()

    return writer
