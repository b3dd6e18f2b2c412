import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.config import Settings
from tests.fixtures.tenants import Tenant
from tests.webhooks.receiver import Receiver, running_receiver

# Short timings, so retries, timeouts and lease hand-overs happen within a test.
FAST_WEBHOOKS: dict[str, Any] = {
    "webhook_allow_private": True,  # the receivers listen on 127.0.0.1
    "webhook_timeout_s": 1.0,
    "webhook_retry_base_s": 0.2,
    "webhook_retry_max_delay_s": 0.5,
    "webhook_poll_interval_s": 0.05,
    "webhook_scan_interval_s": 0.1,
    "webhook_lease_ttl_s": 2.0,
    "public_url": "https://tidings.example.com",
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings (tests/conftest.py) with webhook timings a test can wait for."""
    return settings.model_copy(update=FAST_WEBHOOKS)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


async def add_endpoint(
    client: httpx.AsyncClient, tenant: Tenant, url: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post("/v1/webhooks", json={"url": url, **fields}, headers=tenant.auth)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def publish(client: httpx.AsyncClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    body = {"title": "Dark mode", "body": "Switch it on in **Settings**.", **fields}
    body.setdefault("status", "published")
    response = await client.post("/v1/announcements", json=body, headers=tenant.auth)
    assert response.status_code == 201, response.text
    announcement: dict[str, Any] = response.json()
    return announcement


async def deliveries(
    client: httpx.AsyncClient, tenant: Tenant, endpoint_id: str, **params: Any
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/webhooks/{endpoint_id}/deliveries", params=params, headers=tenant.auth
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["data"]
    return items


async def wait_for_delivery(
    client: httpx.AsyncClient,
    tenant: Tenant,
    endpoint_id: str,
    status: str = "delivered",
    timeout_s: float = 10.0,
) -> dict[str, Any]:
    """The endpoint's newest delivery once it has ``status`` (recorded after the answer)."""
    async with asyncio.timeout(timeout_s):
        while True:
            items = await deliveries(client, tenant, endpoint_id)
            if items and items[0]["status"] == status:
                return items[0]
            await asyncio.sleep(0.05)
