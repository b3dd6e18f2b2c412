"""Limits shared through Redis: N replicas, one set of buckets; and Redis going away."""

import asyncio
import time

import httpx
import redis.asyncio as aioredis

from app.config import Settings
from app.ratelimit.buckets import Charge, Limit, LocalRateLimiter
from app.ratelimit.shared import RedisRateLimiter
from tests.fixtures.apps import NO_RATE_LIMITS, client_with
from tests.fixtures.redis_server import REDIS_URL, redis_prefix
from tests.fixtures.tenants import Tenant

__all__ = ["redis_prefix"]  # the fixture

VISITOR = "0b7e3f6a-4a59-4d43-9a8e-0d6c1f7f5a10"


def limiter(prefix: str) -> RedisRateLimiter:
    return RedisRateLimiter(REDIS_URL, key_prefix=prefix, fallback=LocalRateLimiter())


async def feed(client: httpx.AsyncClient, key: str) -> int:
    response = await client.get(
        "/v1/widget/announcements",
        params={"key": key, "anonymous_id": VISITOR},
        headers={"X-Forwarded-For": "203.0.113.1"},
    )
    return response.status_code


class TestSharedBuckets:
    async def test_concurrent_requests_take_exactly_the_burst(self, redis_prefix: str) -> None:
        replicas = [limiter(redis_prefix) for _ in range(3)]
        try:
            charge = Charge("wk:hot", Limit(per_s=0.001, burst=20))
            outcomes = await asyncio.gather(*(replicas[n % 3].acquire([charge]) for n in range(60)))
            assert sum(outcome is None for outcome in outcomes) == 20
            refusal = next(outcome for outcome in outcomes if outcome is not None)
            assert refusal.charge == charge
            assert refusal.retry_after_s > 900  # one token at 0.001/s
        finally:
            for replica in replicas:
                await replica.aclose()

    async def test_all_or_nothing_and_failures_are_shared(self, redis_prefix: str) -> None:
        first, second = limiter(redis_prefix), limiter(redis_prefix)
        try:
            roomy = Charge("roomy", Limit(per_s=1, burst=10))
            tight = Charge("tight", Limit(per_s=0.01, burst=1))
            assert await first.acquire([roomy, tight]) is None
            refusal = await second.acquire([roomy, tight])
            assert refusal is not None and refusal.charge == tight
            failures = Limit(per_s=0.01, burst=2)
            await first.penalize(Charge("af:x", failures))
            await second.penalize(Charge("af:x", failures))
            assert await first.acquire([Charge("af:x", failures, 0)]) is not None
        finally:
            await first.aclose()
            await second.aclose()

    async def test_buckets_expire_once_they_would_be_full(self, redis_prefix: str) -> None:
        shared = limiter(redis_prefix)
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            await shared.acquire([Charge("wk:k", Limit(per_s=2, burst=10))])
            ttl_ms = await client.pttl(f"{redis_prefix}wk:k")
            assert 0 < ttl_ms <= 1500  # one token back at 2/s, plus a second
        finally:
            await shared.aclose()
            await client.aclose()

    async def test_replicas_of_the_app_share_limits(
        self, settings: Settings, tenant: Tenant, redis_prefix: str
    ) -> None:
        shared = {
            **NO_RATE_LIMITS,
            "redis_url": REDIS_URL,
            "redis_key_prefix": redis_prefix,
            "rate_limit_widget_ip_per_s": 0.01,
            "rate_limit_widget_ip_burst": 4,
        }
        async with (
            client_with(settings, **shared) as first,
            client_with(settings, **shared) as second,
        ):
            assert [await feed(first, tenant.publishable_key) for _ in range(2)] == [200] * 2
            assert [await feed(second, tenant.publishable_key) for _ in range(2)] == [200] * 2
            assert await feed(first, tenant.publishable_key) == 429
            assert await feed(second, tenant.publishable_key) == 429


class TestRedisDown:
    async def test_limits_fall_back_to_the_process_without_delaying_requests(
        self, settings: Settings, tenant: Tenant
    ) -> None:
        down = {
            **NO_RATE_LIMITS,
            "redis_url": "redis://127.0.0.1:1/0",  # nothing listens: refused at once
            "rate_limit_admin_key_per_s": 0.01,
            "rate_limit_admin_key_burst": 5,
        }
        async with client_with(settings, **down) as client:
            started = time.monotonic()
            statuses = [
                (await client.get("/v1/workspace", headers=tenant.auth)).status_code
                for _ in range(6)
            ]
            assert statuses == [200] * 5 + [429]
            assert time.monotonic() - started < 3
