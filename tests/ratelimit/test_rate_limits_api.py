"""Rate limits through the whole app: which requests share a bucket, and the 429."""

from typing import Any

import httpx
import pytest

from app.config import Settings
from tests.fixtures.apps import NO_RATE_LIMITS, client_with, running_app
from tests.fixtures.tenants import Tenant
from tests.workspaces.test_auth import assert_problem

FEED = "/v1/widget/announcements"
VISITOR = "0b7e3f6a-4a59-4d43-9a8e-0d6c1f7f5a10"


def only(**limits: Any) -> dict[str, Any]:
    """Every limit off but these."""
    return {**NO_RATE_LIMITS, **limits}


async def feed(client: httpx.AsyncClient, key: str, address: str = "203.0.113.1") -> int:
    response = await client.get(
        FEED, params={"key": key, "anonymous_id": VISITOR}, headers={"X-Forwarded-For": address}
    )
    return response.status_code


def assert_rate_limited(response: httpx.Response, retry_after_s: int) -> None:
    body = assert_problem(response, 429)
    assert body["type"] == "urn:tidings:problem:rate-limited"
    assert response.headers["retry-after"] == str(retry_after_s)


class TestWidgetLimits:
    async def test_a_client_past_its_burst_gets_429_with_retry_after(
        self, settings: Settings, tenant: Tenant
    ) -> None:
        limits = only(rate_limit_widget_ip_per_s=0.5, rate_limit_widget_ip_burst=3)
        async with client_with(settings, **limits) as client:
            assert [await feed(client, tenant.publishable_key) for _ in range(3)] == [200] * 3
            response = await client.get(
                FEED,
                params={"key": tenant.publishable_key, "anonymous_id": VISITOR},
                headers={"X-Forwarded-For": "203.0.113.1"},
            )
            assert_rate_limited(response, 2)  # one token at 0.5/s
            assert "address" in str(response.json()["detail"])
            # Another address has its own bucket; the key sent as a header is the same key.
            assert await feed(client, tenant.publishable_key, "203.0.113.2") == 200
            same = await client.get(
                FEED,
                params={"anonymous_id": VISITOR},
                headers={"X-Tidings-Key": tenant.publishable_key, "X-Forwarded-For": "203.0.113.1"},
            )
            assert same.status_code == 429

    async def test_one_workspace_never_throttles_another(
        self, settings: Settings, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        limits = only(
            rate_limit_widget_ip_per_s=0.01,
            rate_limit_widget_ip_burst=2,
            rate_limit_widget_key_per_s=0.01,
            rate_limit_widget_key_burst=5,
        )
        async with client_with(settings, **limits) as client:
            # One visitor address uses up tenant's buckets...
            for _ in range(5):
                await feed(client, tenant.publishable_key)
            assert await feed(client, tenant.publishable_key) == 429
            # ...and from that very address the other workspace's widget still works.
            assert await feed(client, other_tenant.publishable_key) == 200
            assert await feed(client, other_tenant.publishable_key) == 200

    async def test_the_key_limit_spans_addresses(
        self, settings: Settings, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        limits = only(rate_limit_widget_key_per_s=0.1, rate_limit_widget_key_burst=3)
        async with client_with(settings, **limits) as client:
            addresses = [f"198.51.100.{n}" for n in range(1, 5)]
            statuses = [await feed(client, tenant.publishable_key, a) for a in addresses]
            assert statuses == [200, 200, 200, 429]
            assert await feed(client, other_tenant.publishable_key, addresses[0]) == 200


class TestAdminLimits:
    async def test_each_secret_key_has_its_own_bucket(
        self, settings: Settings, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        limits = only(rate_limit_admin_key_per_s=1, rate_limit_admin_key_burst=2)
        async with client_with(settings, **limits) as client:
            statuses = [
                (await client.get("/v1/workspace", headers=tenant.auth)).status_code
                for _ in range(3)
            ]
            assert statuses == [200, 200, 429]
            response = await client.get("/v1/keys", headers=tenant.auth)
            assert_rate_limited(response, 1)
            assert "secret key" in str(response.json()["detail"])
            other = await client.get("/v1/workspace", headers=other_tenant.auth)
            assert other.status_code == 200


class TestFailedAuthentication:
    async def test_an_address_that_keeps_failing_is_refused_before_the_database(
        self, settings: Settings, tenant: Tenant
    ) -> None:
        limits = only(rate_limit_auth_failures_per_min=6, rate_limit_auth_failures_burst=3)
        wrong = {"Authorization": "Bearer sk_" + "A" * 43, "X-Forwarded-For": "192.0.2.66"}
        async with client_with(settings, **limits) as client:
            for _ in range(3):
                assert_problem(await client.get("/v1/workspace", headers=wrong), 401)
            # Three failures: now even the right key is refused, for 10 s (6 a minute).
            right = {**tenant.auth, "X-Forwarded-For": "192.0.2.66"}
            response = await client.get("/v1/workspace", headers=right)
            assert_rate_limited(response, 10)
            assert "failed authentications" in str(response.json()["detail"])
            # Other addresses are not concerned.
            fine = {**tenant.auth, "X-Forwarded-For": "192.0.2.67"}
            assert (await client.get("/v1/workspace", headers=fine)).status_code == 200

    async def test_bad_secret_keys_never_lock_out_a_widget_at_the_same_address(
        self, settings: Settings, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        limits = only(rate_limit_auth_failures_per_min=6, rate_limit_auth_failures_burst=3)
        office = "192.0.2.70"
        wrong = {"Authorization": "Bearer sk_" + "A" * 43, "X-Forwarded-For": office}
        async with client_with(settings, **limits) as client:
            for _ in range(20):
                await client.get("/v1/workspace", headers=wrong)
            assert (await client.get("/v1/workspace", headers=wrong)).status_code == 429
            # Every workspace's widget still works for the people behind that address.
            for key in (tenant.publishable_key, other_tenant.publishable_key):
                assert [await feed(client, key, office) for _ in range(5)] == [200] * 5

    async def test_one_workspaces_failing_widget_never_locks_out_another(
        self, settings: Settings, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        limits = only(rate_limit_auth_failures_per_min=6, rate_limit_auth_failures_burst=3)
        await _require_identity_verification(settings, tenant)
        office = "192.0.2.71"
        async with client_with(settings, **limits) as client:
            for _ in range(5):  # the workspace demands a user_hash; these carry a wrong one
                response = await client.get(
                    FEED,
                    params={"key": tenant.publishable_key, "user_id": "u1", "user_hash": "0" * 64},
                    headers={"X-Forwarded-For": office},
                )
                assert response.status_code in (401, 429)
            assert response.status_code == 429  # that workspace's widget at that address
            assert await feed(client, other_tenant.publishable_key, office) == 200
            for _ in range(5):  # unknown keys fail in a bucket of their own too
                await feed(client, "pk_" + "C" * 43, office)
            assert await feed(client, other_tenant.publishable_key, office) == 200

    async def test_refusals_other_than_401_are_not_failures(
        self, settings: Settings, tenant: Tenant
    ) -> None:
        limits = only(rate_limit_auth_failures_per_min=1, rate_limit_auth_failures_burst=1)
        async with client_with(settings, **limits) as client:
            wrong_kind = {"Authorization": f"Bearer {tenant.publishable_key}"}
            for _ in range(3):
                assert_problem(await client.get("/v1/workspace", headers=wrong_kind), 403)
            assert_problem(await client.get("/v1/announcements/ann_x", headers=tenant.auth), 404)
            assert (await client.get("/v1/workspace", headers=tenant.auth)).status_code == 200


class TestSwitches:
    async def test_zero_switches_every_limit_off(self, settings: Settings, tenant: Tenant) -> None:
        async with running_app(settings, **NO_RATE_LIMITS) as app:
            assert app.state.rate_limits.limiter is None
        async with client_with(settings, **NO_RATE_LIMITS) as client:
            for _ in range(30):
                assert (await client.get("/v1/workspace", headers=tenant.auth)).status_code == 200

    @pytest.mark.parametrize("path", ["/healthz", "/metrics", "/openapi.json"])
    async def test_probes_and_documents_are_never_limited(
        self, settings: Settings, path: str
    ) -> None:
        limits = {"rate_limit_auth_failures_per_min": 1, "rate_limit_auth_failures_burst": 1}
        async with client_with(settings, **limits) as client:
            await client.get("/v1/workspace")  # a failure: the address is now out of tokens
            assert (await client.get("/v1/workspace")).status_code == 429
            assert (await client.get(path)).status_code == 200

    async def test_refusals_are_counted_in_metrics(
        self, settings: Settings, tenant: Tenant
    ) -> None:
        limits = only(rate_limit_admin_key_per_s=1, rate_limit_admin_key_burst=1)
        async with client_with(settings, **limits) as client:
            for _ in range(2):
                await client.get("/v1/workspace", headers=tenant.auth)
            text = (await client.get("/metrics")).text
            assert 'tidings_rate_limited_total{limit="admin_key"}' in text


async def _require_identity_verification(settings: Settings, tenant: Tenant) -> None:
    async with client_with(settings, **NO_RATE_LIMITS) as client:
        response = await client.patch(
            "/v1/workspace", json={"identity_verification": "required"}, headers=tenant.auth
        )
        assert response.status_code == 200, response.text
