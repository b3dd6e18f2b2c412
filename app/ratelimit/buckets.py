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


# Tokens are kept as seconds, sums of 1 / per_s that floats round: a wait shorter than this
# is an exact boundary (the last token of a burst), not a refusal.
_ROUNDING_S = 1e-9


class LocalRateLimiter:
    """Buckets in this process's memory: a few dictionary operations per request.

    A bucket is kept as one number, the moment it will be full again (``full_at``): at
    ``now`` it holds ``burst - (full_at - now) * per_s`` tokens, and taking ``n`` moves
    that moment ``n / per_s`` later. A bucket already full is the same as no bucket.

    Memory is bounded: full buckets are swept away; past ``max_buckets`` the oldest go
    first (their owners get a fresh burst).
    """

    SWEEP_EVERY_S = 10.0

    def __init__(
        self, *, max_buckets: int = 200_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_buckets = max_buckets
        self._clock = clock
        self._full_at: dict[str, float] = {}  # bucket → when it is full again
        self._next_sweep = clock() + self.SWEEP_EVERY_S

    def __len__(self) -> int:
        return len(self._full_at)

    async def acquire(self, charges: Sequence[Charge]) -> Refusal | None:
        return self.acquire_now(charges)

    def acquire_now(self, charges: Sequence[Charge]) -> Refusal | None:
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        full_at = self._full_at
        refusal: Refusal | None = None
        for charge in charges:
            limit = charge.limit
            behind = full_at.get(charge.bucket, now) - now  # seconds of tokens missing
            # Wait until at least the tokens it takes (one, for a cost of 0) are there.
            wait = behind - (limit.burst - (charge.cost or 1)) / limit.per_s
            if wait > _ROUNDING_S and (refusal is None or wait > refusal.retry_after_s):
                refusal = Refusal(wait, charge)
        if refusal is not None:
            return refusal
        for charge in charges:
            if charge.cost:
                was = full_at.get(charge.bucket, now)
                taken = charge.cost / charge.limit.per_s
                full_at[charge.bucket] = (was if was > now else now) + taken
        if len(full_at) > self.max_buckets:
            self._evict()
        return None

    async def penalize(self, charge: Charge) -> None:
        now = self._clock()
        limit = charge.limit
        was = self._full_at.get(charge.bucket, now)
        behind = (was if was > now else now) - now
        # Never below an empty bucket.
        self._full_at[charge.bucket] = now + min(
            behind + charge.cost / limit.per_s, limit.burst / limit.per_s
        )
        if len(self._full_at) > self.max_buckets:
            self._evict()

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self.SWEEP_EVERY_S
        full = [bucket for bucket, full_at in self._full_at.items() if full_at <= now]
        for bucket in full:
            del self._full_at[bucket]

    def _evict(self) -> None:
        self._sweep(self._clock())
        excess = len(self._full_at) - self.max_buckets
        if excess > 0:
            for bucket in list(self._full_at)[: max(excess, self.max_buckets // 10)]:
                del self._full_at[bucket]

    async def aclose(self) -> None:
        self._full_at.clear()
