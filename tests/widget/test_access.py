"""Who may call the widget API: keys, identity verification, anonymity, origins."""

import asyncio
import time

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.end_users.identity import user_hash
from app.main import create_app
from tests.fixtures.factories import create_announcement
from tests.fixtures.tenants import Tenant
from tests.fixtures.widget_client import WidgetClient
from tests.widget.test_feed_and_events import event, ids
from tests.workspaces.test_auth import assert_problem, field_names


async def workspace(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, object]:
    return dict((await client.get("/v1/workspace", headers=tenant.auth)).json())


async def set_workspace(
    client: httpx.AsyncClient, tenant: Tenant, **changes: object
) -> dict[str, object]:
    response = await client.patch("/v1/workspace", json=changes, headers=tenant.auth)
    assert response.status_code == 200, response.text
    return dict(response.json())


def secrets_of(settings: dict[str, object]) -> list[str]:
    return [s["secret"] for s in settings["identity_secrets"]]  # type: ignore[attr-defined]


class TestKeys:
    async def test_unknown_or_missing_key_is_401(self, client: httpx.AsyncClient) -> None:
        assert_problem(
            await client.get("/v1/widget/announcements", params={"anonymous_id": "a"}), 401
        )
        response = await client.get(
            "/v1/widget/announcements", params={"anonymous_id": "a", "key": "pk_" + "x" * 43}
        )
        assert_problem(response, 401)

    async def test_key_in_header_works(self, client: httpx.AsyncClient, tenant: Tenant) -> None:
        response = await client.get(
            "/v1/widget/announcements",
            params={"anonymous_id": "a"},
            headers={"X-Tidings-Key": tenant.publishable_key},
        )
        assert response.status_code == 200

    async def test_secret_key_is_refused(self, client: httpx.AsyncClient, tenant: Tenant) -> None:
        in_url = await client.get(
            "/v1/widget/announcements", params={"anonymous_id": "a", "key": tenant.secret_key}
        )
        assert_problem(in_url, 401)
        in_header = await client.get(
            "/v1/widget/announcements",
            params={"anonymous_id": "a"},
            headers={"X-Tidings-Key": tenant.secret_key},
        )
        assert_problem(in_header, 403)

    async def test_visitor_must_be_named(self, widget: WidgetClient) -> None:
        response = await widget.feed()
        assert_problem(response, 422)

    @pytest.mark.parametrize(
        "params",
        [
            {"user_id": "u" * 257},
            {"anonymous_id": "a" * 65},
            {"anonymous_id": "a", "locale": "x" * 36},
        ],
    )
    async def test_overlong_parameters_are_422(
        self, widget: WidgetClient, params: dict[str, str]
    ) -> None:
        assert_problem(await widget.feed(headers=None, **params), 422)


class TestIdentify:
    async def test_attribute_limits(self, widget: WidgetClient) -> None:
        too_many = {f"k{n}": n for n in range(51)}
        response = await widget.identify({"user_id": "u", "attributes": too_many})
        assert "attributes" in field_names(assert_problem(response, 422))
        too_big = {"blob": "x" * 9000}
        assert_problem(await widget.identify({"user_id": "u", "attributes": too_big}), 422)
        assert_problem(await widget.identify({"user_id": "u" * 257, "attributes": {}}), 422)
        assert_problem(await widget.identify({"user_id": "u", "attributes": [1]}), 422)
        assert_problem(await widget.identify({"user_id": "u", "surprise": 1}), 422)

    async def test_attributes_are_replaced(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        beta = await create_announcement(
            session, tenant.workspace_id, status="published", audience={"condition": {"beta": True}}
        )
        assert ids(await widget.identify({"user_id": "u", "attributes": {"beta": True}})) == [
            beta.id
        ]
        assert ids(await widget.identify({"user_id": "u", "attributes": {}})) == []


class TestIdentityVerification:
    async def test_required(
        self, widget: WidgetClient, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        settings = await set_workspace(client, tenant, identity_verification="required")
        secret = secrets_of(settings)[0]
        good = user_hash(secret, "42")
        assert (await widget.feed(user_id="42", user_hash=good)).status_code == 200
        assert (await widget.feed(user_id="42", user_hash=good.upper())).status_code == 200
        assert_problem(await widget.feed(user_id="42"), 401)
        assert_problem(await widget.feed(user_id="42", user_hash=user_hash(secret, "43")), 401)
        refused = await widget.identify(
            {"user_id": "42", "user_hash": "00" * 32, "attributes": {"x": 1}}
        )
        assert_problem(refused, 401)
        sent = await widget.events({"user_id": "42", "events": [event("open")]})
        assert_problem(sent, 401)
        # Anonymous visitors stay allowed unless the workspace turns them off.
        assert (await widget.feed(anonymous_id="a")).status_code == 200
        await set_workspace(client, tenant, allow_anonymous=False)
        assert_problem(await widget.feed(anonymous_id="a"), 401)

    async def test_nothing_is_written_on_a_bad_hash(
        self, widget: WidgetClient, client: httpx.AsyncClient, tenant: Tenant, session: AsyncSession
    ) -> None:
        from sqlalchemy import func, select

        from app.models import EndUser

        await set_workspace(client, tenant, identity_verification="required")
        await widget.identify({"user_id": "42", "user_hash": "bad", "attributes": {"x": 1}})
        count = (await session.execute(select(func.count()).select_from(EndUser))).scalar_one()
        assert count == 0

    async def test_optional_checks_a_hash_when_given(
        self, widget: WidgetClient, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        settings = await set_workspace(client, tenant, identity_verification="optional")
        assert (await widget.feed(user_id="42")).status_code == 200
        assert_problem(await widget.feed(user_id="42", user_hash="deadbeef"), 401)
        good = user_hash(secrets_of(settings)[0], "42")
        assert (await widget.feed(user_id="42", user_hash=good)).status_code == 200

    async def test_off_ignores_hashes(self, widget: WidgetClient) -> None:
        assert (await widget.feed(user_id="42", user_hash="whatever")).status_code == 200

    async def test_rotation_accepts_both_secrets_until_the_old_one_is_removed(
        self, widget: WidgetClient, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        old_settings = await set_workspace(client, tenant, identity_verification="required")
        old_secret = secrets_of(old_settings)[0]
        rotated = await set_workspace(client, tenant, rotate_identity_secret=True)
        new_secret = secrets_of(rotated)[0]
        for secret in (old_secret, new_secret):
            assert (
                await widget.feed(user_id="42", user_hash=user_hash(secret, "42"))
            ).status_code == 200
        old_id = rotated["identity_secrets"][1]["id"]  # type: ignore[index]
        await set_workspace(client, tenant, remove_identity_secret=old_id)
        assert_problem(await widget.feed(user_id="42", user_hash=user_hash(old_secret, "42")), 401)
        assert (
            await widget.feed(user_id="42", user_hash=user_hash(new_secret, "42"))
        ).status_code == 200


class TestCors:
    async def test_allowed_origin_is_echoed(
        self, widget: WidgetClient, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        await set_workspace(client, tenant, allowed_origins=["https://app.example.com"])
        response = await widget.feed(
            anonymous_id="a", headers={"Origin": "https://app.example.com"}
        )
        assert response.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "Origin" in response.headers["vary"]
        assert response.headers["access-control-expose-headers"] == "ETag"

    async def test_foreign_origin_gets_no_cors_and_cannot_write(
        self, widget: WidgetClient, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        await set_workspace(client, tenant, allowed_origins=["https://app.example.com"])
        foreign = {"Origin": "https://evil.example"}
        read = await widget.feed(anonymous_id="a", headers=foreign)
        assert read.status_code == 200
        assert "access-control-allow-origin" not in read.headers
        assert_problem(
            await widget.events({"anonymous_id": "a", "events": []}, headers=foreign), 403
        )
        assert_problem(
            await widget.identify({"anonymous_id": "a", "attributes": {}}, headers=foreign), 403
        )

    async def test_any_origin_while_none_configured(self, widget: WidgetClient) -> None:
        response = await widget.feed(anonymous_id="a", headers={"Origin": "http://localhost:3000"})
        assert response.headers["access-control-allow-origin"] == "http://localhost:3000"

    async def test_preflight(self, client: httpx.AsyncClient, tenant: Tenant) -> None:
        await set_workspace(client, tenant, allowed_origins=["https://app.example.com"])
        headers = {
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        }
        allowed = await client.options(
            "/v1/widget/identify", params={"key": tenant.publishable_key}, headers=headers
        )
        assert allowed.status_code == 204
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "POST" in allowed.headers["access-control-allow-methods"]
        assert "Content-Type" in allowed.headers["access-control-allow-headers"]
        assert allowed.headers["access-control-max-age"] == "600"
        foreign = await client.options(
            "/v1/widget/identify",
            params={"key": tenant.publishable_key},
            headers={**headers, "Origin": "https://evil.example"},
        )
        assert "access-control-allow-origin" not in foreign.headers

    async def test_admin_routes_grant_no_cors(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        response = await client.get(
            "/v1/workspace", headers={**tenant.auth, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in response.headers


class TestCacheAcrossReplicas:
    async def test_a_change_on_one_replica_shows_on_another_within_the_bound(
        self, settings: Settings, tenant: Tenant, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        recheck_s = 0.5
        replica: FastAPI = create_app(
            settings.model_copy(update={"widget_cache_recheck_s": recheck_s})
        )
        async with replica.router.lifespan_context(replica):
            transport = httpx.ASGITransport(app=replica)
            async with httpx.AsyncClient(transport=transport, base_url="http://replica") as other:
                params = {"key": tenant.publishable_key, "anonymous_id": "a"}
                warm = await other.get("/v1/widget/announcements", params=params)
                assert warm.json()["announcements"] == []
                created = await client.post(
                    "/v1/announcements",
                    json={"title": "New", "status": "published"},
                    headers=tenant.auth,
                )
                changed_at = time.monotonic()
                while True:
                    feed = await other.get("/v1/widget/announcements", params=params)
                    if feed.json()["announcements"]:
                        break
                    assert time.monotonic() - changed_at < 2, "stale beyond 2 s"
                    await asyncio.sleep(0.05)
                assert feed.json()["announcements"][0]["id"] == created.json()["id"]

    async def test_a_revoked_key_stops_working_within_the_bound_while_polled(
        self, settings: Settings, tenant: Tenant, client: httpx.AsyncClient
    ) -> None:
        # Polled without pause, the key is renewed in the background (never waited for):
        # revocation must still show within the bound.
        recheck_s = 0.4
        replica: FastAPI = create_app(
            settings.model_copy(update={"widget_cache_recheck_s": recheck_s})
        )
        keys = (await client.get("/v1/keys", headers=tenant.auth)).json()
        key_id = next(k["id"] for k in keys if k["kind"] == "publishable")
        async with replica.router.lifespan_context(replica):
            transport = httpx.ASGITransport(app=replica)
            async with httpx.AsyncClient(transport=transport, base_url="http://replica") as other:
                params = {"key": tenant.publishable_key, "anonymous_id": "a"}
                started = time.monotonic()
                while time.monotonic() - started < recheck_s:  # past half: renewing ahead
                    assert (await other.get("/v1/widget/announcements", params=params)).is_success
                    await asyncio.sleep(0.01)
                revoked = await client.delete(f"/v1/keys/{key_id}", headers=tenant.auth)
                assert revoked.status_code == 200
                revoked_at = time.monotonic()
                while (await other.get("/v1/widget/announcements", params=params)).is_success:
                    assert time.monotonic() - revoked_at < recheck_s + 0.5, "stale beyond bound"
                    await asyncio.sleep(0.01)
