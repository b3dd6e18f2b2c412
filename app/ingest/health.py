"""Whether the event writer's writes succeed: for readiness, and for one log line per change.

A database can answer queries while refusing every write (a full disk, a read-only file, a
replica promoted away): ``SELECT 1`` says nothing about that. The writer records the
outcome of each write attempt here. While the latest attempts failed, ``/readyz`` answers
503 so a load balancer sends traffic elsewhere; one success makes it ready again. A
replica taken out of rotation gets no events to prove it recovered, so a failure older
than ``hold_s`` no longer counts: readiness comes back, and the next write decides.

A fault is logged once when writes start failing (with its traceback) and once when they
succeed again (with how many failed meanwhile), never once per refused request.
"""

import logging
import time
from dataclasses import dataclass

logger = logging.getLogger("tidings.ingest")


@dataclass(frozen=True, slots=True)
class WriteFault:
    """Writes are failing: since when, how often, and the latest error's kind."""

    since: float  # time.monotonic()
    failed_writes: int
    refused_batches: int
    error: str


class WriteHealth:
    def __init__(self, *, hold_s: float = 30.0) -> None:
        self.hold_s = hold_s
        self._since: float | None = None  # the first failure of the current run of them
        self._last_failure = 0.0
        self._failed_writes = 0
        self._refused_batches = 0
        self._error = ""

    def succeeded(self) -> None:
        if self._since is None:
            return
        logger.warning(
            "event writes succeed again, after %d failed writes (%d batches answered 503) "
            "over %.1f s",
            self._failed_writes,
            self._refused_batches,
            time.monotonic() - self._since,
        )
        self._since = None
        self._failed_writes = self._refused_batches = 0

    def failed(self, exc: BaseException, batches: int) -> None:
        now = time.monotonic()
        self._error = _describe(exc)
        if self._since is None:
            self._since = now
            logger.error(
                "event writes are failing (%s); /readyz answers 503 until one succeeds",
                self._error,
                exc_info=exc,
            )
        self._last_failure = now
        self._failed_writes += 1
        self._refused_batches += batches

    def fault(self) -> WriteFault | None:
        """The current fault, unless writes succeed or the last failure is over ``hold_s`` old."""
        if self._since is None or time.monotonic() - self._last_failure > self.hold_s:
            return None
        return WriteFault(self._since, self._failed_writes, self._refused_batches, self._error)


def _describe(exc: BaseException) -> str:
    # The driver's error says what is wrong ("database or disk is full"), SQLAlchemy's
    # wrapper adds the statement: the first line of the original is enough here.
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return f"{type(original).__name__}: {text[0][:200]}" if text else type(original).__name__
