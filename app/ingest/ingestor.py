"""Group commit for widget events: many requests' events in one durable transaction.

Each request validates its batch, then ``submit``s it and waits. A single writer task
collects what arrives within a short window (or until the group is full; under load, what
queued while the previous group was being committed), writes it all in one transaction,
commits, and only then answers every waiting request. Idempotency is unchanged:
``INSERT ... ON CONFLICT DO NOTHING`` on (workspace, event id).

What a group writes, and how, is ``app/ingest/writer.py`` (``write_group``, the same on
every backend, on a synchronous facade); this module is the queue, the grouping and the
transactions around it.

On SQLite the statements run on a plain synchronous connection on the event loop thread
(``BEGIN IMMEDIATE``, ``synchronous=FULL``): milliseconds of work per group instead of
thousands of thread hand-offs through aiosqlite. The commit, which mostly waits for the
disk, runs in a thread; WAL checkpoints run beside the writer, not inside its commits, and
once the WAL is long the writer lets one catch up between two groups (``SqliteWriter``).
On PostgreSQL the transaction runs through the async engine, and up to
``postgresql_groups_in_flight`` groups are written at once, each in its own transaction:
one group alone left the worker and the database taking turns (each about half busy).
What queued is shared among the free ones: under light load requests arrive together
(their clients were answered together), and two groups of half the size, side by side,
are answered sooner than one. Concurrent groups are safe as concurrent replicas are: every
writer takes its row locks in one order (app/ingest/writer.py), and the event insert
itself says which events were new. The engine is the writer's own (``create_engine``'s
``pool_size``): a connection per group in flight, checked only after it idled.

The queue is bounded: past ``max_pending_events`` a request is refused with 503 and
``Retry-After`` instead of growing memory, and under overload it is refused before its
body is even parsed (``refuse_when_busy``). A submission is written only if the writer
takes it while its request still has time to be answered; one that waits too long is
answered 503 and dropped (``submit``). A group is committed only once the deadline of
every request in it is held (app/kit/deadlines.py), in the same turn of the loop that
saw none has passed; the late ones are answered 503 and the others written again without
them: 202 means committed, 503 means not written.
``stop()`` drains the queue before the engine closes, so an acknowledged event is never
lost on shutdown.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable

from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.errors import ServiceUnavailable
from app.ingest.health import WriteHealth
from app.ingest.schemas import MAX_EVENTS_PER_BATCH
from app.ingest.sqlite_writer import SqliteWriter
from app.ingest.writer import IngestResult, Submission, write_group
from app.kit.database import (
    is_locked,
    is_out_of_reach,
    sqlstate_of,
)
from app.kit.deadlines import Deadline

logger = logging.getLogger("tidings.ingest")


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
        postgresql_groups_in_flight: int = 2,
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
        self._sqlite: SqliteWriter | None = None
        if engine.dialect.name == "sqlite":
            self._sqlite = SqliteWriter(
                engine, sqlite_busy_timeout_ms, wal_restart_frames=sqlite_wal_restart_frames
            )
        # PostgreSQL only: SQLite's writer holds the whole database, one group at a time.
        self._slots = asyncio.Semaphore(max(1, postgresql_groups_in_flight))
        self._free_slots = max(1, postgresql_groups_in_flight)
        self._groups_writing = 0
        self._writing: set[asyncio.Task[None]] = set()

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
    def groups_in_flight(self) -> int:
        """How many groups are being written now."""
        return self._groups_writing

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
        if self.is_busy(content_length):
            raise _busy()

    def is_busy(self, content_length: str | None) -> bool:
        """Whether a batch with this declared size would be refused now (see above).

        Also asked by the HTTP connection itself (app/serving.py), before the request
        reaches the application at all."""
        return (
            self._pending_events + _most_events_in(content_length) > self.max_pending_events
            or self._queue_wait_s() > self.max_queue_wait_s
        )

    async def submit(
        self, submission: Submission, deadline: Deadline | None = None
    ) -> IngestResult:
        """Queue a submission and wait for its result.

        ``deadline`` is when the request is answered 503 whatever happens
        (app/middleware.py). A submission the writer has not taken ``write_margin_s``
        before it is dropped and answered 503 here, never written afterwards. One taken
        in time is committed only if its deadline has not passed when the commit begins
        (the commit holds it): 202 and written, or 503 and not written.
        """
        self._refuse_unless_running()
        if self._pending_events + len(submission.events) > self.max_pending_events:
            raise _busy()
        now = time.monotonic()
        timer: asyncio.TimerHandle | None = None
        if deadline is not None:
            time_left = deadline.at - self.write_margin_s - now
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
            # Groups still being written are answered by their own transaction.
            if self._writing:
                await asyncio.gather(*self._writing, return_exceptions=True)
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
            if self._sqlite is None:
                await self._write_beside_others()
                continue
            await self._gather()
            group = self._take_group()
            if group:
                await self._write(group)
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

    def _take_group(self, most_events: int | None = None) -> list[Submission]:
        """The next group: what is queued, in order, but not what could not be written in time."""
        group: list[Submission] = []
        size = 0
        in_time = time.monotonic() + self.write_margin_s
        pending = self._pending
        most_events = most_events or self.max_group_events
        while pending and (not group or size < most_events):
            submission = pending.popleft()
            if submission.is_cancelled:
                continue  # answered 503 already; no longer counted in _pending_events
            self._pending_events -= len(submission.events)
            if submission.deadline.at < in_time:
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

    async def _write_beside_others(self) -> None:
        """PostgreSQL: once a slot is free, gather a group and write it in its own task."""
        await self._slots.acquire()  # a group in flight finished (or none was)
        self._free_slots -= 1
        await self._gather()  # what queued meanwhile joins this group
        # What queued is shared among this slot and the other free ones: requests that came
        # together (under light load, all of them) are written side by side, each part on
        # its own connection, rather than as one group that takes longer.
        share = -(-self._pending_events // (self._free_slots + 1))
        group = self._take_group(min(share, self.max_group_events))
        if not group:
            self._release_slot()
            return
        writing = asyncio.get_running_loop().create_task(self._write_in_slot(group))
        self._writing.add(writing)
        writing.add_done_callback(self._writing.discard)

    async def _write_in_slot(self, group: list[Submission]) -> None:
        try:
            await self._write(group)
        finally:
            self._release_slot()

    def _release_slot(self) -> None:
        self._free_slots += 1
        self._slots.release()

    async def _write(self, group: list[Submission]) -> None:
        self._groups_writing += 1
        try:
            await self._write_group(group)
        finally:
            self._groups_writing -= 1

    async def _write_group(self, group: list[Submission]) -> None:
        try:
            results = await self._transaction(group)
        except _TooLateToCommit as late:
            self._write_again_without(group, late.submissions)
            return
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

    def _write_again_without(self, group: list[Submission], late: list[Submission]) -> None:
        """Rolled back because some requests ran out of time: they are answered 503, the
        others go back to the head of the queue, to be written in the next group."""
        _fail(late, _too_late())
        answered = {id(submission) for submission in late}
        for submission in reversed(group):
            if id(submission) in answered:
                continue
            submission.is_taken = False
            self._pending.appendleft(submission)
            self._pending_events += len(submission.events)
        self._wakeup.set()

    async def _write_one_by_one(self, group: list[Submission]) -> None:
        """One submission's bad data must not sink the others: each in its own transaction."""
        failure: Exception | None = None
        written = 0
        for submission in group:
            try:
                (result,) = await self._transaction([submission])
            except _TooLateToCommit:
                _fail([submission], _too_late())
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
        if not is_out_of_reach(exc):
            self.health.failed(exc, batches)

    async def _transaction(self, group: list[Submission]) -> list[IngestResult]:
        if self._sqlite is None:
            async with self.engine.begin() as connection:
                results = await connection.run_sync(write_group, group)
                _hold_deadlines(group)  # or roll back
                return results
        # The SQLite writer blocks the event loop, so it never waits for the lock inside
        # SQLite (busy_timeout is tiny); it yields the loop and tries again until the deadline.
        deadline = time.monotonic() + self.lock_wait_s
        pause = 0.001
        while True:
            try:
                return await self._sqlite.transaction(group, _hold_deadlines)
            except OperationalError as exc:
                if not is_locked(exc) or time.monotonic() + pause > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)


class _TooLateToCommit(Exception):
    def __init__(self, submissions: list[Submission]) -> None:
        super().__init__(f"{len(submissions)} requests ran out of time before the commit")
        self.submissions = submissions


def _hold_deadlines(group: list[Submission]) -> None:
    """Just before the commit: hold every request's deadline, or refuse to commit at all.

    Checked and held in one turn of the event loop, so the deadline either answered
    already (and this finds it passed) or will wait for the commit's result.
    """
    now = time.monotonic()
    late = [submission for submission in group if submission.deadline.has_passed(now)]
    if late:
        raise _TooLateToCommit(late)
    for submission in group:
        submission.deadline.hold()


# The smallest event a batch can hold, in bytes of JSON: an "open" with a one-character
# id and a UTC time ({"id":"x","type":"open","occurred_at":"2026-12-01T09:00:00Z"}).
_SMALLEST_EVENT_BYTES = 60


def _most_events_in(content_length: str | None) -> int:
    """How many events a body of this declared size can hold, at most (unknown: a full batch)."""
    if content_length is None or not content_length.isdigit():
        return MAX_EVENTS_PER_BATCH
    return max(1, min(MAX_EVENTS_PER_BATCH, int(content_length) // _SMALLEST_EVENT_BYTES))


BUSY = "Too many events are waiting to be written; retry."


def _busy() -> ServiceUnavailable:
    return ServiceUnavailable(BUSY, retry_after_s=1)


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
    if isinstance(exc, DataError) or sqlstate_of(exc).startswith("22"):
        return exc  # a value the database refuses: the client's to fix (422, app/errors.py)
    if is_out_of_reach(exc):
        return ServiceUnavailable("The database is not reachable; retry shortly.")
    # A full disk, a read-only database, ...: logged once by WriteHealth, not per request.
    return ServiceUnavailable("The database refuses to write events right now; retry shortly.")
