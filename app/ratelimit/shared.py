"""Token buckets in Redis, shared by every replica: one atomic script call per request.

The script reads Redis's own clock, so replicas with drifting clocks still agree. When
Redis does not answer, requests are not refused for it: limits fall back to this
process's own buckets for a few seconds, then Redis is tried again.
"""

import logging
import math
import time
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.ratelimit.buckets import Charge, LocalRateLimiter, Refusal

logger = logging.getLogger("tidings.ratelimit")

# KEYS: buckets. ARGV[1]: "acquire" (all or none) or "penalize" (take regardless, floor 0);
# then per bucket: per_s, burst, cost. Returns 0, or {wait_ms, index} of the dry bucket.
_TOKEN_BUCKETS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local acquire = ARGV[1] == 'acquire'
local levels = {}
local worst_wait, worst_index = 0, 0
for i, key in ipairs(KEYS) do
  local per_s, burst, cost = tonumber(ARGV[3*i-1]), tonumber(ARGV[3*i]), tonumber(ARGV[3*i+1])
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local level = burst
  if state[1] then
    level = math.min(burst, tonumber(state[1]) + math.max(0, now - tonumber(state[2])) * per_s)
  end
  levels[i] = level
  local needed = math.max(cost, 1)
  if acquire and level < needed then
    local wait = (needed - level) / per_s
    if wait > worst_wait then worst_wait, worst_index = wait, i end
  end
end
if worst_index > 0 then
  return {math.ceil(worst_wait * 1000), worst_index}
end
for i, key in ipairs(KEYS) do
  local per_s, burst, cost = tonumber(ARGV[3*i-1]), tonumber(ARGV[3*i]), tonumber(ARGV[3*i+1])
  if cost > 0 then
    local level = math.max(0, levels[i] - cost)
    redis.call('HSET', key, 'tokens', tostring(level), 'ts', tostring(now))
    redis.call('PEXPIRE', key, math.ceil((burst - level) / per_s * 1000) + 1000)
  end
end
return 0
"""


class RedisRateLimiter:
    RETRY_REDIS_AFTER_S = 5.0

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str,
        fallback: LocalRateLimiter,
        timeout_s: float = 0.5,
    ) -> None:
        self.key_prefix = key_prefix
        self.fallback = fallback
        # No retries: an unreachable Redis must cost a request one short timeout, not three.
        self._redis = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self._script = self._redis.register_script(_TOKEN_BUCKETS)
        self._unavailable_until = 0.0

    async def acquire(self, charges: Sequence[Charge]) -> Refusal | None:
        if not charges:
            return None
        answer = await self._run("acquire", charges)
        if answer is _UNAVAILABLE:
            return await self.fallback.acquire(charges)
        if isinstance(answer, list):
            wait_ms, index = int(answer[0]), int(answer[1])
            return Refusal(wait_ms / 1000, charges[index - 1])
        return None

    async def penalize(self, charge: Charge) -> None:
        if await self._run("penalize", [charge]) is _UNAVAILABLE:
            await self.fallback.penalize(charge)

    async def _run(self, mode: str, charges: Sequence[Charge]) -> object:
        if time.monotonic() < self._unavailable_until:
            return _UNAVAILABLE
        keys = [self.key_prefix + charge.bucket for charge in charges]
        args: list[str | float | int] = [mode]
        for charge in charges:
            args += [charge.limit.per_s, charge.limit.burst, charge.cost]
        try:
            return await self._script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            self._unavailable_until = time.monotonic() + self.RETRY_REDIS_AFTER_S
            logger.warning(
                "Redis does not answer (%s); rate limits are per process for %d s",
                type(exc).__name__,
                math.ceil(self.RETRY_REDIS_AFTER_S),
            )
            return _UNAVAILABLE

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def aclose(self) -> None:
        await self._redis.aclose()
        await self.fallback.aclose()


_UNAVAILABLE = object()
