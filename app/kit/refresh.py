"""Refresh-ahead for the per-process caches on the widget's hot path.

An entry checked less than ``ttl`` ago is served. Past half its ``ttl`` it is still
served, and renewed by one background task, so under steady traffic no request waits for
the database and no entry is ever older than ``ttl`` (the bound the caches promise).
Only an entry past its ``ttl``, or a missing one, makes the request wait: behind one
shared renewal, not one query per waiting request. With ``ttl`` 0 every read renews.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

logger = logging.getLogger("tidings.cache")


def is_due(age_s: float, ttl_s: float) -> bool:
    """Serve it, but renew it now: past half of its time to live."""
    return age_s >= ttl_s / 2


class Renewals:
    """At most one renewal in flight per key; requests that must wait share it."""

    def __init__(self, what: str) -> None:
        self.what = what  # for the log line when a background renewal fails
        self._tasks: dict[Hashable, asyncio.Task[Any]] = {}

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
