"""Token buckets: the arithmetic, and the in-process store that keeps them.

A bucket holds up to ``burst`` tokens and refills at ``per_s`` tokens a second; a request
takes one. One request may be charged to several buckets at once (its key and its
address): it passes only if every bucket has a token, and then takes one from each, so a
refused request costs nothing.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol


@dataclass(frozen=True, slots=True)
class Limit:
    per_s: float  # > 0
    burst: int


class Charge(NamedTuple):
    """Take ``cost`` tokens from ``bucket``; a cost of 0 only requires one to be there.

    A named tuple, not a dataclass: a few are made per request, and tuples are cheapest.
    """

    bucket: str
    limit: Limit
    cost: int = 1
    kind: str = ""  # what the bucket counts, for the 429's detail and the metrics


@dataclass(frozen=True, slots=True)
class Refusal:
    retry_after_s: float
    charge: Charge  # the bucket that ran dry (the one with the longest wait)


class RateLimiter(Protocol):
    async def acquire(self, charges: Sequence[Charge]) -> Refusal | None:
        """Take the charges, all or none; ``None`` when the request may go on."""

    async def penalize(self, charge: Charge) -> None:
        """Take ``charge.cost`` tokens whatever is left (never below zero)."""

    async def aclose(self) -> None: ...


class LocalRateLimiter:
    """Buckets in this process's memory: a few dictionary operations per request.

    Memory is bounded: a bucket that has refilled is the same as no bucket and is swept
    away; past ``max_buckets`` the oldest go first (their owners get a fresh burst).
    """

    SWEEP_EVERY_S = 10.0

    def __init__(
        self, *, max_buckets: int = 200_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_buckets = max_buckets
        self._clock = clock
        # bucket → [tokens, updated_at, full_at]
        self._buckets: dict[str, list[float]] = {}
        self._next_sweep = clock() + self.SWEEP_EVERY_S

    def __len__(self) -> int:
        return len(self._buckets)

    async def acquire(self, charges: Sequence[Charge]) -> Refusal | None:
        return self.acquire_now(charges)

    def acquire_now(self, charges: Sequence[Charge]) -> Refusal | None:
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        buckets = self._buckets
        levels: list[float] = []
        refusal: Refusal | None = None
        for charge in charges:
            limit = charge.limit
            state = buckets.get(charge.bucket)
            if state is None:
                level = float(limit.burst)
            else:
                level = min(limit.burst, state[0] + (now - state[1]) * limit.per_s)
            needed = charge.cost or 1
            if level < needed:
                wait = (needed - level) / limit.per_s
                if refusal is None or wait > refusal.retry_after_s:
                    refusal = Refusal(wait, charge)
            levels.append(level)
        if refusal is not None:
            return refusal
        for charge, level in zip(charges, levels, strict=True):
            if charge.cost:
                self._store(charge, level - charge.cost, now)
        return None

    async def penalize(self, charge: Charge) -> None:
        now = self._clock()
        limit = charge.limit
        state = self._buckets.get(charge.bucket)
        level = (
            float(limit.burst)
            if state is None
            else min(limit.burst, state[0] + (now - state[1]) * limit.per_s)
        )
        self._store(charge, max(0.0, level - charge.cost), now)

    def _store(self, charge: Charge, level: float, now: float) -> None:
        limit = charge.limit
        full_at = now + (limit.burst - level) / limit.per_s
        state = self._buckets.get(charge.bucket)
        if state is None:
            self._buckets[charge.bucket] = [level, now, full_at]
            if len(self._buckets) > self.max_buckets:
                self._evict()
        else:
            state[0], state[1], state[2] = level, now, full_at

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self.SWEEP_EVERY_S
        full = [bucket for bucket, state in self._buckets.items() if state[2] <= now]
        for bucket in full:
            del self._buckets[bucket]

    def _evict(self) -> None:
        self._sweep(self._clock())
        excess = len(self._buckets) - self.max_buckets
        if excess > 0:
            for bucket in list(self._buckets)[: max(excess, self.max_buckets // 10)]:
                del self._buckets[bucket]

    async def aclose(self) -> None:
        self._buckets.clear()
