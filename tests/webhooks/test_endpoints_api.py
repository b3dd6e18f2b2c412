"""Configuring webhook endpoints: CRUD, secrets shown once and rotated, bad input as 4xx."""

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from app.config import Settings
from tests.fixtures.apps import client_with
from tests.fixtures.tenants import Tenant
from tests.webhooks.conftest import add_endpoint, publish
from tests.webhooks.receiver import Receiver
from tests.workspaces.test_auth import assert_problem, field_names

PUBLIC_URL = "https://93.184.215.14/hooks"  # a public address literal: no DNS in tests


class TestLifecycle:
    async def test_create_list_get_update_delete(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        created = await add_endpoint(client, tenant, PUBLIC_URL, description="Ops channel")
        assert created["kind"] == "standard"
        assert created["enabled"] is True
        assert created["event_types"] == [
            "announcement.published",
            "announcement.updated",
            "announcement.archived",
            "announcement.scheduled",
            "announcement.expired",
        ]
        endpoint_id = created["id"]

        listed = (await client.get("/v1/webhooks", headers=tenant.auth)).json()["data"]
        assert [item["id"] for item in listed] == [endpoint_id]
        assert "secret" not in listed[0]
        fetched = (await client.get(f"/v1/webhooks/{endpoint_id}", headers=tenant.auth)).json()
        assert "secret" not in fetched and fetched["description"] == "Ops channel"

        response = await client.patch(
            f"/v1/webhooks/{endpoint_id}",
            json={"event_types": ["announcement.archived"], "enabled": False},
            headers=tenant.auth,
        )
        assert response.status_code == 200, response.text
        assert response.json()["event_types"] == ["announcement.archived"]
        assert response.json()["enabled"] is False

        response = await client.delete(f"/v1/webhooks/{endpoint_id}", headers=tenant.auth)
        assert response.status_code == 204
        response = await client.get(f"/v1/webhooks/{endpoint_id}", headers=tenant.auth)
        assert_problem(response, 404)

    async def test_slack_kind_listens_for_new_announcements_by_default(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        created = await add_endpoint(client, tenant, PUBLIC_URL, kind="slack")
        assert created["kind"] == "slack"
        assert created["event_types"] == ["announcement.published", "announcement.scheduled"]

    async def test_another_workspace_cannot_see_or_touch_it(
        self, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        created = await add_endpoint(client, tenant, PUBLIC_URL)
        for method in ("GET", "PATCH", "DELETE"):
            response = await client.request(
                method,
                f"/v1/webhooks/{created['id']}",
                json={"enabled": False} if method == "PATCH" else None,
                headers=other_tenant.auth,
            )
            assert_problem(response, 404)
        listed = (await client.get("/v1/webhooks", headers=other_tenant.auth)).json()
        assert listed["data"] == []

    async def test_needs_a_secret_key(self, client: httpx.AsyncClient, tenant: Tenant) -> None:
        assert_problem(await client.get("/v1/webhooks"), 401)
        response = await client.get(
            "/v1/webhooks", headers={"Authorization": f"Bearer {tenant.publishable_key}"}
        )
        assert_problem(response, 403)


class TestSecretRotation:
    async def test_both_secrets_sign_during_the_overlap(
        self, client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
    ) -> None:
        created = await add_endpoint(client, tenant, receiver.url)
        response = await client.post(
            f"/v1/webhooks/{created['id']}/rotate-secret", headers=tenant.auth
        )
        assert response.status_code == 200, response.text
        rotated = response.json()
        assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
        overlap_end = datetime.fromisoformat(rotated["previous_secret_expires_at"])
        expected = datetime.now(UTC) + timedelta(days=1)
        assert abs((overlap_end - expected).total_seconds()) < 60

        await publish(client, tenant)
        (received,) = await receiver.wait_for(1)
        assert len(received.headers["webhook-signature"].split(" ")) == 2
        Webhook(created["secret"]).verify(received.body, received.headers)
        Webhook(rotated["secret"]).verify(received.body, received.headers)

    async def test_without_overlap_only_the_new_secret_signs(
        self, settings: Settings, tenant: Tenant, receiver: Receiver
    ) -> None:
        async with client_with(settings, webhook_secret_overlap_s=0) as client:
            created = await add_endpoint(client, tenant, receiver.url)
            response = await client.post(
                f"/v1/webhooks/{created['id']}/rotate-secret", headers=tenant.auth
            )
            rotated = response.json()
            assert rotated["previous_secret_expires_at"] is None
            await publish(client, tenant)
            (received,) = await receiver.wait_for(1)
        assert len(received.headers["webhook-signature"].split(" ")) == 1
        Webhook(rotated["secret"]).verify(received.body, received.headers)


class TestBadInput:
    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("not a url", "may not contain spaces"),
            ("hooks.example.com/in", "absolute http or https URL"),
            ("ftp://93.184.215.14/in", "absolute http or https URL"),
            ("https:///path-only", "absolute http or https URL"),
            ("https://user:pw@93.184.215.14/in", "credentials"),
            ("https://93.184.215.14:99999/in", "invalid port"),
            ("https://93.184.215.14/in#frag", "fragment"),
            ("", "at least 1 character"),
            ("https://93.184.215.14/" + "a" * 2000, "at most 2000 characters"),
        ],
    )
    async def test_bad_urls(
        self, client: httpx.AsyncClient, tenant: Tenant, url: str, message: str
    ) -> None:
        response = await client.post("/v1/webhooks", json={"url": url}, headers=tenant.auth)
        body = assert_problem(response, 422)
        assert field_names(body) == ["url"]
        assert message in str(body["errors"])

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({"event_types": ["announcement.deleted"]}, "event_types[0]"),
            ({"event_types": []}, "event_types"),
            ({"event_types": ["announcement.published"] * 2}, "event_types"),
            ({"kind": "teams"}, "kind"),
            ({"enabled": "maybe"}, "enabled"),
            ({"secret": "whsec_mine"}, "secret"),
            ({"description": "x" * 501}, "description"),
        ],
    )
    async def test_bad_fields(
        self, client: httpx.AsyncClient, tenant: Tenant, payload: dict[str, Any], field: str
    ) -> None:
        response = await client.post(
            "/v1/webhooks", json={"url": PUBLIC_URL, **payload}, headers=tenant.auth
        )
        body = assert_problem(response, 422)
        assert field_names(body) == [field]

    async def test_unknown_event_type_names_the_allowed_ones(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        response = await client.post(
            "/v1/webhooks",
            json={"url": PUBLIC_URL, "event_types": ["announcement.deleted"]},
            headers=tenant.auth,
        )
        assert "announcement.expired" in assert_problem(response, 422)["detail"]

    async def test_kind_cannot_change_and_null_is_refused(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        created = await add_endpoint(client, tenant, PUBLIC_URL)
        for payload, field in (({"kind": "slack"}, "kind"), ({"url": None}, "url")):
            response = await client.patch(
                f"/v1/webhooks/{created['id']}", json=payload, headers=tenant.auth
            )
            assert field_names(assert_problem(response, 422)) == [field]

    async def test_http_is_refused_in_production(self, settings: Settings, tenant: Tenant) -> None:
        async with client_with(
            settings, environment="production", admin_token=secrets.token_urlsafe(32)
        ) as client:
            response = await client.post(
                "/v1/webhooks", json={"url": "http://93.184.215.14/in"}, headers=tenant.auth
            )
            body = assert_problem(response, 422)
            assert "must use https" in str(body["detail"])
            response = await client.post(
                "/v1/webhooks", json={"url": "https://93.184.215.14/in"}, headers=tenant.auth
            )
            assert response.status_code == 201

    async def test_redeliver_to_a_disabled_endpoint_is_a_conflict(
        self, client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
    ) -> None:
        created = await add_endpoint(client, tenant, receiver.url)
        await publish(client, tenant)
        await receiver.wait_for(1)
        await client.patch(
            f"/v1/webhooks/{created['id']}", json={"enabled": False}, headers=tenant.auth
        )
        listed = await client.get(f"/v1/webhooks/{created['id']}/deliveries", headers=tenant.auth)
        delivery_id = listed.json()["data"][0]["id"]
        response = await client.post(
            f"/v1/webhooks/{created['id']}/deliveries/{delivery_id}/redeliver",
            headers=tenant.auth,
        )
        assert "enable it" in str(assert_problem(response, 409)["detail"])

    async def test_bad_delivery_listing_parameters(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        created = await add_endpoint(client, tenant, PUBLIC_URL)
        path = f"/v1/webhooks/{created['id']}/deliveries"
        for params, field in (
            ({"status": "lost"}, "status"),
            ({"limit": 0}, "limit"),
            ({"cursor": "garbage"}, "cursor"),
        ):
            response = await client.get(path, params=params, headers=tenant.auth)
            assert field_names(assert_problem(response, 422)) == [field]
