"""``tidings serve`` killed in the middle of a delivery, then started again: delivered."""

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.migrate import upgrade_database
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.databases import BACKENDS, fresh_database, in_thread
from tests.fixtures.live_server import LiveServer, live_server
from tests.webhooks.receiver import Hang, running_receiver, verified

SERVER_ENV = {
    "TIDINGS_ADMIN_TOKEN": ADMIN_TOKEN,
    "TIDINGS_WEBHOOK_ALLOW_PRIVATE": "true",
    "TIDINGS_WEBHOOK_TIMEOUT_S": "2",
    "TIDINGS_WEBHOOK_LEASE_TTL_S": "4",
    "TIDINGS_WEBHOOK_POLL_INTERVAL_S": "0.1",
    "TIDINGS_WEBHOOK_RETRY_BASE_S": "0.2",
}


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        in_thread(upgrade_database, url)
        yield url


async def start(stack: contextlib.ExitStack, database: str, directory: Path) -> LiveServer:
    # Started from a thread: its start-up wait must not stop this loop's receiver.
    return await asyncio.to_thread(
        stack.enter_context, live_server(database, directory, env=SERVER_ENV)
    )


async def recorded_delivery(
    client: httpx.AsyncClient, endpoint_id: str, auth: dict[str, str]
) -> dict[str, object]:
    async with asyncio.timeout(10):
        while True:
            listed = await client.get(f"/v1/webhooks/{endpoint_id}/deliveries", headers=auth)
            (delivery,) = listed.json()["data"]
            if delivery["status"] == "delivered":
                return dict(delivery)
            await asyncio.sleep(0.1)


class TestCrashBetweenCommitAndDelivery:
    async def test_killed_mid_send_and_restarted_the_message_is_delivered(
        self, database: str, tmp_path: Path
    ) -> None:
        async with running_receiver(Hang()) as receiver:
            with contextlib.ExitStack() as first_run:
                server = await start(first_run, database, tmp_path)
                async with httpx.AsyncClient(base_url=server.base_url) as client:
                    created = await client.post(
                        "/v1/workspaces",
                        json={"name": "Crash test"},
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                    )
                    assert created.status_code == 201, created.text
                    auth = {"Authorization": f"Bearer {created.json()['secret_key']}"}
                    endpoint = await client.post(
                        "/v1/webhooks", json={"url": receiver.url}, headers=auth
                    )
                    assert endpoint.status_code == 201, endpoint.text
                    published = await client.post(
                        "/v1/announcements",
                        json={"title": "Survives a crash", "status": "published"},
                        headers=auth,
                    )
                    assert published.status_code == 201  # committed
                await receiver.wait_for(1)  # the server is sending; the receiver hangs
                server.process.kill()  # SIGKILL: no shutdown, no release of anything
                server.wait(10)

            with contextlib.ExitStack() as second_run:
                server = await start(second_run, database, tmp_path)
                await receiver.wait_for_accepted(1, timeout_s=30)
                async with httpx.AsyncClient(base_url=server.base_url) as client:
                    delivery = await recorded_delivery(client, endpoint.json()["id"], auth)
        first, second = receiver.requests
        assert first.webhook_id == second.webhook_id
        assert list(receiver.accepted.values()) == [1]
        event = verified(second, endpoint.json()["secret"])
        assert event["data"]["title"] == "Survives a crash"  # type: ignore[index]
        # The killed attempt was never recorded: it died with the process.
        assert delivery["attempts"] == 1
