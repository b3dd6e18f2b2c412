"""Webhooks never reach loopback, link-local, private or other non-public addresses."""

from collections import Counter
from ipaddress import ip_address

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.kit.ids import new_id
from app.kit.time import utc_now
from app.models import WebhookEndpoint
from app.webhooks.sender import WebhookSender
from app.webhooks.signing import new_secret, secret_entry
from app.webhooks.ssrf import BlockedAddress, checked_addresses, refusal_reason
from tests.fixtures.apps import client_with
from tests.fixtures.tenants import Tenant
from tests.webhooks.conftest import publish, wait_for_delivery
from tests.webhooks.receiver import Answer, Receiver, running_receiver
from tests.workspaces.test_auth import assert_problem, field_names

REFUSED = {
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "::1": "loopback",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "169.254.169.254": "link-local",
    "fe80::1": "link-local",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "fd00::1": "private",
    "100.64.0.1": "non-public",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "::ffff:127.0.0.1": "loopback",
    "::ffff:10.0.0.1": "private",
    "64:ff9b::a9fe:a9fe": "link-local",
    "2002:7f00:1::": "loopback",
    "fec0::1": "site-local",
    "240.0.0.1": "reserved",
}


class TestAddressRules:
    @pytest.mark.parametrize(("address", "kind"), REFUSED.items())
    def test_non_public_addresses_are_refused(self, address: str, kind: str) -> None:
        reason = refusal_reason(ip_address(address))
        assert reason is not None and kind in reason

    @pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111"])
    def test_public_addresses_pass(self, address: str) -> None:
        assert refusal_reason(ip_address(address)) is None

    async def test_one_private_answer_refuses_the_host(self) -> None:
        async def mixed(host: str, port: int) -> list[str]:
            return ["93.184.215.14", "127.0.0.1"]

        with pytest.raises(BlockedAddress, match=r"127\.0\.0\.1"):
            await checked_addresses("mixed.test", 443, allow_private=False, resolver=mixed)


class TestAtConfiguration:
    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:9000/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.5/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://localhost:8080/hook",  # a name that resolves to loopback
            "http://[fe80::1]/hook",
            "http://224.0.0.1/hook",
        ],
    )
    async def test_private_receivers_are_422(
        self, settings: Settings, tenant: Tenant, url: str
    ) -> None:
        async with client_with(settings, webhook_allow_private=False) as client:
            response = await client.post("/v1/webhooks", json={"url": url}, headers=tenant.auth)
            body = assert_problem(response, 422)
            assert field_names(body)[0] == "url"
            assert "TIDINGS_WEBHOOK_ALLOW_PRIVATE" in str(body["detail"])

    async def test_an_unknown_host_is_422(self, settings: Settings, tenant: Tenant) -> None:
        async with client_with(settings, webhook_allow_private=False) as client:
            response = await client.post(
                "/v1/webhooks", json={"url": "https://no-such-host.invalid/in"}, headers=tenant.auth
            )
            assert "does not resolve" in str(assert_problem(response, 422)["detail"])

    async def test_the_operator_may_allow_private_receivers(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        response = await client.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9000/hook"}, headers=tenant.auth
        )
        assert response.status_code == 201


class TestAtDelivery:
    """A checked URL can still point somewhere private later (DNS, or a setting changed)."""

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"webhook_allow_private": False})

    async def test_worker_refuses_a_stored_private_url_and_records_why(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        tenant: Tenant,
        receiver: Receiver,
    ) -> None:
        # Saved while the operator allowed private receivers; now they are not allowed.
        endpoint = WebhookEndpoint(
            workspace_id=tenant.workspace_id,
            id=new_id("whe"),
            url=receiver.url,
            kind="standard",
            event_types=["announcement.published"],
            secrets=[secret_entry(new_secret(), utc_now())],
        )
        session.add(endpoint)
        await session.commit()

        await publish(client, tenant)
        delivery = await wait_for_delivery(client, tenant, endpoint.id, status="pending")
        while not delivery["attempt_log"]:
            delivery = await wait_for_delivery(client, tenant, endpoint.id, status="pending")
        assert "127.0.0.1 is a loopback address" in delivery["attempt_log"][0]["error"]
        assert delivery["next_attempt_at"] is not None
        assert receiver.requests == []

    async def test_dns_answer_changing_after_the_check_is_caught(self, receiver: Receiver) -> None:
        answers = iter([["93.184.215.14"], ["127.0.0.1"]])

        async def rebinding(host: str, port: int) -> list[str]:
            return next(answers)

        # The configuration check sees a public address...
        await checked_addresses(
            "rebind.test", receiver.port, allow_private=False, resolver=rebinding
        )
        # ...and the connection, resolving for itself, refuses what it would connect to.
        sender = WebhookSender(timeout_s=1, allow_private=False, resolver=rebinding)
        try:
            result = await sender.post(f"http://rebind.test:{receiver.port}/in", {}, b"{}")
        finally:
            await sender.aclose()
        assert result.status is None
        assert "rebind.test resolves to 127.0.0.1" in str(result.error)
        assert receiver.requests == []


class TestPinnedConnection:
    async def test_connects_to_the_checked_address_with_the_original_host(
        self, receiver: Receiver
    ) -> None:
        lookups: Counter[str] = Counter()

        async def resolver(host: str, port: int) -> list[str]:
            lookups[host] += 1
            return ["127.0.0.1"]

        sender = WebhookSender(timeout_s=1, allow_private=True, resolver=resolver)
        try:
            result = await sender.post(f"http://receiver.test:{receiver.port}/in", {}, b"{}")
        finally:
            await sender.aclose()
        assert result.is_success, result.error
        (received,) = receiver.requests
        assert received.headers["host"] == f"receiver.test:{receiver.port}"
        assert lookups == {"receiver.test": 1}  # resolved once: the connection used that answer

    async def test_redirects_are_not_followed(self) -> None:
        async with running_receiver(Answer(302, body=b"")) as receiver:
            sender = WebhookSender(timeout_s=1, allow_private=True)
            try:
                result = await sender.post(receiver.url, {}, b"{}")
            finally:
                await sender.aclose()
        assert result.status == 302 and not result.is_success
        assert "redirects are not followed" in str(result.error)
        assert len(receiver.requests) == 1
