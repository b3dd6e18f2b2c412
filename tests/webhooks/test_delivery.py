"""Publishing reaches a local receiver signed, once, however the receiver behaves."""

import asyncio
import sys
import time

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.fixtures.tenants import Tenant
from tests.webhooks.conftest import add_endpoint, publish, wait_for_delivery
from tests.webhooks.receiver import (
    Answer,
    Behaviour,
    Close,
    Hang,
    Receiver,
    running_receiver,
    verified,
)


class TestSignedArrival:
    async def test_published_event_arrives_signed_with_its_permalink(
        self, client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
    ) -> None:
        endpoint = await add_endpoint(client, tenant, receiver.url)
        assert endpoint["secret"].startswith("whsec_")

        announcement = await publish(client, tenant, title="Dark <b>mode</b>")

        (received,) = await receiver.wait_for(1)
        event = verified(received, endpoint["secret"])
        assert event["type"] == "announcement.published"
        data = event["data"]
        assert isinstance(data, dict)
        assert data["id"] == announcement["id"]
        assert data["title"] == "Dark <b>mode</b>"
        assert data["state"] == "live"
        assert data["url"] == (
            f"https://tidings.example.com/changelog/{tenant.slug}/{announcement['id']}"
        )
        assert received.webhook_id.startswith("msg_")
        assert received.headers["content-type"] == "application/json"
        with pytest.raises(WebhookVerificationError):
            Webhook("whsec_" + "A" * 43 + "=").verify(received.body, received.headers)

    async def test_arrives_within_a_second_of_publishing(
        self,
        client: httpx.AsyncClient,
        tenant: Tenant,
        receiver: Receiver,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        endpoint = await add_endpoint(client, tenant, receiver.url)
        latencies, after_answer = [], []
        for number in range(5):
            started = time.monotonic()
            await publish(client, tenant, title=f"Release {number}")
            answered = time.monotonic()
            received = (await receiver.wait_for(number + 1))[number]
            verified(received, endpoint["secret"])
            latencies.append(received.at - started)
            after_answer.append(received.at - answered)
        with capsys.disabled():
            sys.stderr.write(
                f"\npublish → signed arrival (ms): {_ms(latencies)}; "
                f"of which after the 201: {_ms(after_answer)}\n"
            )
        assert max(latencies) < 1.0

    async def test_only_subscribed_events_are_sent(
        self, client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
    ) -> None:
        await add_endpoint(client, tenant, receiver.url, event_types=["announcement.archived"])
        draft = await publish(client, tenant, status="draft")
        await publish(client, tenant)
        response = await client.patch(
            f"/v1/announcements/{draft['id']}", json={"status": "archived"}, headers=tenant.auth
        )
        assert response.status_code == 200
        (received,) = await receiver.wait_for(1)
        assert received.json()["type"] == "announcement.archived"
        await asyncio.sleep(0.3)
        assert len(receiver.requests) == 1

    async def test_drafts_tell_nobody_and_edits_of_published_ones_are_updates(
        self, client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
    ) -> None:
        await add_endpoint(client, tenant, receiver.url)
        draft = await publish(client, tenant, status="draft")
        await client.patch(
            f"/v1/announcements/{draft['id']}", json={"title": "Still a draft"}, headers=tenant.auth
        )
        await client.patch(
            f"/v1/announcements/{draft['id']}", json={"status": "published"}, headers=tenant.auth
        )
        await client.patch(
            f"/v1/announcements/{draft['id']}", json={"title": "Fixed typo"}, headers=tenant.auth
        )
        received = await receiver.wait_for(2)
        await asyncio.sleep(0.3)
        assert [r.json()["type"] for r in received] == [
            "announcement.published",
            "announcement.updated",
        ]
        assert received[1].event()["data"]["title"] == "Fixed typo"


class TestRetries:
    async def test_failing_receiver_gets_the_message_accepted_once_with_one_id(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        async with running_receiver(Answer(500), Answer(503), Answer(429)) as receiver:
            endpoint = await add_endpoint(client, tenant, receiver.url)
            await publish(client, tenant)
            await receiver.wait_for_accepted(1)
            delivery = await wait_for_delivery(client, tenant, endpoint["id"])
            await asyncio.sleep(0.3)
        assert len(receiver.requests) == 4
        assert {r.webhook_id for r in receiver.requests} == {receiver.requests[0].webhook_id}
        assert list(receiver.accepted.values()) == [1]
        for received in receiver.requests:
            verified(received, endpoint["secret"])
        assert delivery["attempts"] == 4
        assert delivery["response_status"] == 200
        assert delivery["next_attempt_at"] is None
        assert [a["response_status"] for a in delivery["attempt_log"]] == [500, 503, 429, 200]
        assert delivery["attempt_log"][0]["error"] == "HTTP 500: ok"

    @pytest.mark.parametrize(
        ("behaviour", "error"),
        [
            (Hang(), "timeout"),
            (Answer(200, delay_s=20), "timeout"),
            (Close(), "closed the connection"),
        ],
        ids=["hangs", "answers-after-20s", "closes"],
    )
    async def test_misbehaving_receiver_is_a_recorded_failure_and_a_retry(
        self, client: httpx.AsyncClient, tenant: Tenant, behaviour: Behaviour, error: str
    ) -> None:
        async with running_receiver(behaviour) as receiver:
            endpoint = await add_endpoint(client, tenant, receiver.url)
            started = time.monotonic()
            await publish(client, tenant)
            await receiver.wait_for_accepted(1)
            elapsed = time.monotonic() - started
        # Timeout 1 s, then a retry after 0.1-0.2 s: the worker was never stuck on it.
        assert elapsed < 5
        delivery = await wait_for_delivery(client, tenant, endpoint["id"])
        first, second = delivery["attempt_log"]
        assert first["response_status"] is None and error in first["error"]
        assert second["response_status"] == 200

    async def test_a_hanging_receiver_does_not_delay_another(
        self, client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
    ) -> None:
        async with running_receiver(Hang()) as hanging:
            await add_endpoint(client, tenant, hanging.url)
            await add_endpoint(client, tenant, receiver.url)
            started = time.monotonic()
            await publish(client, tenant)
            await receiver.wait_for(1)
            assert time.monotonic() - started < 0.8
            await hanging.wait_for(1)


class TestRedelivery:
    async def test_redeliver_sends_the_same_message_again(
        self, client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
    ) -> None:
        endpoint = await add_endpoint(client, tenant, receiver.url)
        await publish(client, tenant)
        delivery = await wait_for_delivery(client, tenant, endpoint["id"])

        response = await client.post(
            f"/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/redeliver",
            headers=tenant.auth,
        )
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "pending"
        first, second = await receiver.wait_for(2)
        assert first.webhook_id == second.webhook_id == delivery["message_id"]
        verified(second, endpoint["secret"])

    async def test_unknown_delivery_is_404(
        self, client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
    ) -> None:
        endpoint = await add_endpoint(client, tenant, receiver.url)
        response = await client.post(
            f"/v1/webhooks/{endpoint['id']}/deliveries/whd_nope/redeliver", headers=tenant.auth
        )
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


def _ms(seconds: list[float]) -> str:
    return ", ".join(f"{value * 1000:.1f}" for value in seconds)
