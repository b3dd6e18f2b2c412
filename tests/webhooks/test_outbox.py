"""The outbox: messages commit or roll back with their change; one sender per deployment."""

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.audit import CLI_ACTOR
from app.announcements.schemas import AnnouncementCreate
from app.announcements.service import announcement_service
from app.config import Settings
from app.kit.time import utc_now
from app.models import WebhookDelivery, WebhookMessage
from app.webhooks.repository import WebhookRepository
from tests.fixtures.apps import client_for, running_app
from tests.fixtures.tenants import Tenant
from tests.webhooks.conftest import (
    add_endpoint,
    publish,
    wait_for_delivery,
)
from tests.webhooks.receiver import Answer, Receiver, running_receiver


async def count(session: AsyncSession, table: type[WebhookMessage] | type[WebhookDelivery]) -> int:
    return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


class TestTransactions:
    async def test_a_rolled_back_change_sends_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant, receiver: Receiver
    ) -> None:
        await add_endpoint(client, tenant, receiver.url)
        data = AnnouncementCreate(title="Never happened", status="published")
        await announcement_service.create(session, tenant.workspace_id, data, actor=CLI_ACTOR)
        assert await count(session, WebhookMessage) == 1  # written, inside the transaction
        await session.rollback()

        announced = await publish(client, tenant, title="This one happened")
        (received,) = await receiver.wait_for(1)
        await asyncio.sleep(0.3)  # the worker polls every 50 ms: time to send a stray one
        assert len(receiver.requests) == 1
        assert received.event()["data"]["id"] == announced["id"]
        assert await count(session, WebhookMessage) == 1

    async def test_a_message_committed_while_no_worker_runs_is_sent_by_the_next(
        self, app: FastAPI, settings: Settings, tenant: Tenant, receiver: Receiver
    ) -> None:
        async with client_for(app) as client:
            await add_endpoint(client, tenant, receiver.url)
        await app.state.webhooks.stop()  # as if the process died after its commit
        async with app.state.sessionmaker() as session:
            data = AnnouncementCreate(title="Kept", status="published")
            await announcement_service.create(session, tenant.workspace_id, data, actor=CLI_ACTOR)
            await session.commit()
        await asyncio.sleep(0.3)
        assert receiver.requests == []

        async with running_app(settings):
            (received,) = await receiver.wait_for(1)
        assert received.event()["data"]["title"] == "Kept"


class TestReplicas:
    async def test_three_workers_send_each_message_once(
        self, client: httpx.AsyncClient, settings: Settings, tenant: Tenant, receiver: Receiver
    ) -> None:
        await add_endpoint(client, tenant, receiver.url)
        async with running_app(settings) as second, running_app(settings) as third:
            workers = [app_.state.webhooks for app_ in (second, third)]
            async with client_for(second) as client_2, client_for(third) as client_3:
                for number in range(12):
                    writer = (client, client_2, client_3)[number % 3]
                    await publish(writer, tenant, title=f"Release {number}")
                await receiver.wait_for_accepted(12)
                await asyncio.sleep(0.5)
            holders = [worker.holds_lease for worker in workers]
        ids = Counter(received.webhook_id for received in receiver.requests)
        assert len(ids) == 12 and set(ids.values()) == {1}
        assert holders.count(True) <= 1

    async def test_racing_claims_never_take_the_same_delivery(
        self, app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        await app.state.webhooks.stop()  # nobody else claims
        async with running_receiver(Answer(500)) as receiver:
            await add_endpoint(client, tenant, receiver.url)
        for number in range(10):
            await publish(client, tenant, title=f"Release {number}")

        async def claim(token: str) -> set[str]:
            async with app.state.sessionmaker() as session:
                now = utc_now()
                rows = await WebhookRepository(session).claim_due(
                    now, now + timedelta(minutes=1), token, 100
                )
                await session.commit()
            return {delivery.id for delivery, _, _ in rows}

        first, second = await asyncio.gather(claim("token-a"), claim("token-b"))
        assert first.isdisjoint(second)
        assert len(first | second) == 10


class TestTimeDrivenEvents:
    async def test_scheduled_and_expired_fire_once_without_a_write(
        self, client: httpx.AsyncClient, settings: Settings, tenant: Tenant, receiver: Receiver
    ) -> None:
        await add_endpoint(client, tenant, receiver.url)
        now = datetime.now(UTC)
        publish_at, expire_at = now + timedelta(seconds=1), now + timedelta(seconds=2)
        async with running_app(settings):  # a second replica scanning too
            announced = await publish(
                client, tenant, publish_at=publish_at.isoformat(), expire_at=expire_at.isoformat()
            )
            received = await receiver.wait_for(3, timeout_s=10)
            await asyncio.sleep(0.6)  # several scans later
        events = [(r.event()["type"], r.event()["data"]["state"]) for r in receiver.requests]
        assert events == [
            ("announcement.published", "scheduled"),
            ("announcement.scheduled", "live"),
            ("announcement.expired", "expired"),
        ]
        assert all(r.event()["data"]["id"] == announced["id"] for r in received)
        # Told when the time came: not before, and within a few scans after.
        assert 0 <= receiver.requests[1].wall - publish_at.timestamp() < 1.5
        assert 0 <= receiver.requests[2].wall - expire_at.timestamp() < 1.5

    async def test_publishing_after_the_publish_time_is_only_published(
        self, client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
    ) -> None:
        await add_endpoint(client, tenant, receiver.url)
        past = datetime.now(UTC) - timedelta(milliseconds=50)
        await publish(client, tenant, publish_at=past.isoformat())
        await receiver.wait_for(1)
        await asyncio.sleep(0.5)
        assert [r.json()["type"] for r in receiver.requests] == ["announcement.published"]


class TestGivingUp:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"webhook_retry_window_s": 1.5})

    async def test_endpoint_failing_for_the_whole_window_is_disabled_and_says_why(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        async with running_receiver(*[Answer(500, body=b"boom")] * 100) as receiver:
            endpoint = await add_endpoint(client, tenant, receiver.url)
            await publish(client, tenant)
            delivery = await wait_for_delivery(client, tenant, endpoint["id"], status="failed")
            attempts = len(receiver.requests)
        assert attempts >= 3
        assert delivery["attempts"] == attempts
        assert delivery["next_attempt_at"] is None
        fetched = (await client.get(f"/v1/webhooks/{endpoint['id']}", headers=tenant.auth)).json()
        assert fetched["enabled"] is False
        assert "every delivery failed since" in fetched["disabled_reason"]
        assert "HTTP 500: boom" in fetched["disabled_reason"]

        # Nothing new is queued for it; re-enabling clears the reason.
        await publish(client, tenant)
        response = await client.patch(
            f"/v1/webhooks/{endpoint['id']}", json={"enabled": True}, headers=tenant.auth
        )
        assert response.json()["disabled_reason"] is None
        listed = await client.get(f"/v1/webhooks/{endpoint['id']}/deliveries", headers=tenant.auth)
        assert len(listed.json()["data"]) == 1
