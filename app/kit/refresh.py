"""Refresh-ahead for the per-process caches on the widget's hot path.

An entry checked less than ``ttl`` ago is served. Past half its ``ttl`` it is still
served, and renewed by one background task, so under steady traffic no request waits for
the database and an entry is no older than ``ttl`` plus the time its renewal takes.
A missing entry, or one past its ``ttl`` with no renewal under way (no traffic for a
while), makes the request wait: behind one shared renewal, not one query per request.

While a renewal is under way the entry is served up to ``STALE_LIMIT`` ttls old. Under
overload the renewal's own steps queue behind the requests; making every request wait
for it turned a saturated second into stalls of seconds (feed p99 2.5 s, and 503s from
the request deadline, at 64 connections). With ``ttl`` 0 every read renews.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from typing import Any

logger = logging.getLogger("tidings.cache")


STALE_LIMIT = 5  # ttls: the oldest an entry is served while its renewal is under way


def is_due(age_s: float, ttl_s: float) -> bool:
    """Serve it, but renew it now: past half of its time to live."""
    return age_s >= ttl_s / 2


def must_wait(age_s: float, ttl_s: float, renewing: bool) -> bool:
    """Wait for a renewal instead of serving the entry."""
    if age_s < ttl_s:
        return False
    return not renewing or age_s >= ttl_s * STALE_LIMIT


class Renewals:
    """At most one renewal in flight per key; requests that must wait share it."""

    def __init__(self, what: str) -> None:
        self.what = what  # for the log line when a background renewal fails
        self._tasks: dict[Hashable, asyncio.Task[Any]] = {}

    def may_serve(
        self,
        key: Hashable,
        age_s: float,
        ttl_s: float,
        renew: Callable[..., Awaitable[Any]],
        *args: Any,
    ) -> bool:
        """Whether an entry this old is served now; past half its ttl, ``renew(*args)``
        runs meanwhile (the call is only built then: this is asked on every request)."""
        if must_wait(age_s, ttl_s, key in self._tasks):
            return False
        if is_due(age_s, ttl_s):
            self.start(key, partial(renew, *args))
        return True

    def start(self, key: Hashable, renew: Callable[[], Awaitable[Any]]) -> asyncio.Task[Any]:
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(_run(renew))
            self._tasks[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return task

    async def wait(self, key: Hashable, renew: Callable[[], Awaitable[Any]]) -> Any:
        # Shielded: one waiter giving up (a client gone) must not cancel it for the others.
        return await asyncio.shield(self.start(key, renew))

    def _finished(self, key: Hashable, task: asyncio.Task[Any]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled() and task.exception() is not None:
            # A waiting request got the exception too; a background one only logs it, and
            # the entry stays as it was until its ttl runs out.
            logger.warning(
                "renewing a cached %s failed: %s", self.what, type(task.exception()).__name__
            )

    async def aclose(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _run(renew: Callable[[], Awaitable[Any]]) -> Any:
    return await renew()
