"""The event writer on SQLite: one connection, statements on the event loop, commits in a
thread, WAL checkpoints beside it, and turns between the writers of several processes.
"""

import asyncio
import concurrent.futures
import fcntl
import logging
import os
import sqlite3
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.ingest.writer import IngestResult, Submission, write_group
from app.kit.database import configure_sqlite, open_sqlite

logger = logging.getLogger("tidings.ingest")

_WRITER_BUSY_TIMEOUT_MS = 2  # see EventIngestor._transaction: waiting happens in the loop


class SqliteWriter:
    """The SQLite writer's one connection: statements on the loop, commits in a thread.

    The connection stays open, and its transactions are the driver's own (``BEGIN
    IMMEDIATE``, ``COMMIT``), cheaper than a pooled connection and a SQLAlchemy transaction
    per group. ``IMMEDIATE``: the write lock is taken (or refused) up front instead of
    failing on a later upgrade.

    The commit mostly waits for the disk (fsync): it runs in a thread, and requests go on
    being read and validated meanwhile. Only one step at a time uses the connection.

    WAL checkpoints run beside the writer (``_Checkpointer``), but alone they never catch
    up with it: SQLite writes the WAL from its start again only when a transaction begins
    with every frame copied back, so under a sustained load the WAL would grow without
    bound. So once the WAL is ``wal_restart_frames`` long, the writer waits, between two
    groups, for a checkpoint to copy the rest; its next transaction starts the WAL over.
    (Copying back after every group would put a checkpoint's disk flushes on the path of
    every group: docs/performance.md.)
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
        self._turns: WriterTurns | None = None
        if database and database != ":memory:":
            self._turns = WriterTurns(database, self._thread)
        self._wal_restart_frames = wal_restart_frames

    def _open(self) -> Connection:
        if self._connection is None or self._connection.closed:
            self._connection = self._engine.connect()
        return self._connection

    async def transaction(
        self, group: list[Submission], before_commit: Callable[[list[Submission]], None]
    ) -> list[IngestResult]:
        """Write a group and commit it, unless ``before_commit`` raises (rolled back then)."""
        if self._turns is not None:
            await self._turns.take()
        try:
            connection = self._open()
            driver = connection.connection.driver_connection
            _execute(driver, "BEGIN IMMEDIATE")
            try:
                results = write_group(connection, group)
                before_commit(group)
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


class WriterTurns:
    """The event writers of several processes on one SQLite file take turns.

    SQLite's write lock has no queue. A writer that finds it taken can only try again
    later, and the writer holding it takes it again right after its commit, its next group
    being ready by then, so one worker could starve the other (docs/performance.md). A
    lock on a file beside the database (``flock``) has waiters: the kernel wakes the one
    waiting when the holder lets go, so the writers alternate. Only the event writers take
    it; every other write still waits in SQLite. A crashed holder's turn ends with its
    process.
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
                self._connection = open_sqlite(self._path, self._busy_timeout_ms)
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
    # Its commits run in a thread (see SqliteWriter), never two steps at once.
    writer = create_engine(
        url, pool_size=1, max_overflow=0, connect_args={"check_same_thread": False}
    )

    @event.listens_for(writer, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver: SqliteWriter says BEGIN IMMEDIATE and COMMIT itself.
        dbapi_connection.isolation_level = None
        # FULL: a 202 survives power loss, not only a crash; one fsync per group.
        configure_sqlite(
            dbapi_connection,
            _WRITER_BUSY_TIMEOUT_MS,
            synchronous="FULL",
            autocheckpoint=autocheckpoint,  # see SqliteWriter
        )

    return writer
