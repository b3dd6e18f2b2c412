"""Creating workspaces and changing their settings over the API."""

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN
from tests.fixtures.tenants import Tenant
from tests.workspaces.test_auth import assert_problem, field_names

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class TestCreateWorkspace:
    async def test_returns_ids_and_keys_once(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/v1/workspaces",
            json={"name": "Acme Corp.", "allowed_origins": ["HTTPS://App.Acme.com:443/"]},
            headers=ADMIN,
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["id"].startswith("ws_")
        assert body["slug"] == "acme-corp"
        assert body["allowed_origins"] == ["https://app.acme.com"]
        assert body["publishable_key"].startswith("pk_")
        assert body["secret_key"].startswith("sk_")
        assert body["identity_verification"] == "off"
        assert body["popover_daily_cap"] == 1
        assert len(body["identity_secrets"]) == 1

        # The new secret key works, and the workspace never shows it again.
        auth = {"Authorization": f"Bearer {body['secret_key']}"}
        workspace = (await client.get("/v1/workspace", headers=auth)).json()
        assert body["secret_key"] not in str(workspace)
        keys = (await client.get("/v1/keys", headers=auth)).json()
        assert body["secret_key"] not in str(keys)
        assert body["publishable_key"] in str(keys)

    async def test_existing_slug_is_409(self, client: httpx.AsyncClient, tenant: Tenant) -> None:
        response = await client.post(
            "/v1/workspaces", json={"name": "Other", "slug": tenant.slug}, headers=ADMIN
        )
        body = assert_problem(response, 409)
        assert tenant.slug in str(body["detail"])

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({"name": ""}, "name"),
            ({"name": "x" * 101}, "name"),
            ({"name": "Acme", "slug": "Not A Slug"}, "slug"),
            ({"name": "Acme", "allowed_origins": ["ftp://acme.com"]}, "allowed_origins[0]"),
            ({"name": "Acme", "allowed_origins": ["https://acme.com/path"]}, "allowed_origins[0]"),
            ({"name": "Acme", "id": "ws_mine"}, "id"),
            ({"name": "Acme", "secret_key": "sk_mine"}, "secret_key"),
            ({}, "name"),
        ],
    )
    async def test_bad_input_is_422_naming_the_field(
        self, client: httpx.AsyncClient, payload: dict[str, object], field: str
    ) -> None:
        response = await client.post("/v1/workspaces", json=payload, headers=ADMIN)
        body = assert_problem(response, 422)
        assert field in field_names(body)

    async def test_malformed_json_is_400(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/v1/workspaces",
            content=b'{"name": "Acme",',
            headers={**ADMIN, "Content-Type": "application/json"},
        )
        assert_problem(response, 400)


class TestUpdateWorkspace:
    async def test_changes_only_what_is_sent(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        before = (await client.get("/v1/workspace", headers=tenant.auth)).json()
        response = await client.patch(
            "/v1/workspace",
            json={
                "allowed_origins": [
                    "https://a.example",
                    "https://A.example/",
                    "http://localhost:3000",
                ],
                "identity_verification": "required",
                "popover_daily_cap": 3,
            },
            headers=tenant.auth,
        )
        assert response.status_code == 200, response.text
        after = response.json()
        assert after["allowed_origins"] == ["https://a.example", "http://localhost:3000"]
        assert after["identity_verification"] == "required"
        assert after["popover_daily_cap"] == 3
        assert after["name"] == before["name"]
        assert after["slug"] == before["slug"]
        assert after["updated_at"] > before["updated_at"]
        assert (await client.get("/v1/workspace", headers=tenant.auth)).json() == after

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({"name": None}, "name"),
            ({"popover_daily_cap": -1}, "popover_daily_cap"),
            ({"popover_daily_cap": 101}, "popover_daily_cap"),
            ({"identity_verification": "sometimes"}, "identity_verification"),
            ({"allowed_origins": ["not an origin"]}, "allowed_origins[0]"),
            ({"id": "ws_other"}, "id"),
            ({"created_at": "2020-01-01T00:00:00Z"}, "created_at"),
        ],
    )
    async def test_bad_input_is_422_and_changes_nothing(
        self, client: httpx.AsyncClient, tenant: Tenant, payload: dict[str, object], field: str
    ) -> None:
        before = (await client.get("/v1/workspace", headers=tenant.auth)).json()
        response = await client.patch(
            "/v1/workspace", json={"popover_daily_cap": 7, **payload}, headers=tenant.auth
        )
        body = assert_problem(response, 422)
        assert field in field_names(body)
        assert (await client.get("/v1/workspace", headers=tenant.auth)).json() == before

    async def test_taking_another_workspaces_slug_is_409(
        self, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        response = await client.patch(
            "/v1/workspace", json={"slug": other_tenant.slug}, headers=tenant.auth
        )
        assert_problem(response, 409)

    async def test_identity_secret_rotation(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        first = (await client.get("/v1/workspace", headers=tenant.auth)).json()["identity_secrets"]
        rotated = await client.patch(
            "/v1/workspace", json={"rotate_identity_secret": True}, headers=tenant.auth
        )
        secrets = rotated.json()["identity_secrets"]
        assert len(secrets) == 2
        assert secrets[1] == first[0]  # the old one stays valid during the rotation
        assert secrets[0]["secret"] != first[0]["secret"]

        # A third would leave hosts guessing which one signs: remove the old one first.
        again = await client.patch(
            "/v1/workspace", json={"rotate_identity_secret": True}, headers=tenant.auth
        )
        assert_problem(again, 409)
        current = await client.patch(
            "/v1/workspace", json={"remove_identity_secret": secrets[0]["id"]}, headers=tenant.auth
        )
        assert_problem(current, 409)

        removed = await client.patch(
            "/v1/workspace", json={"remove_identity_secret": first[0]["id"]}, headers=tenant.auth
        )
        assert removed.status_code == 200
        assert removed.json()["identity_secrets"] == [secrets[0]]


class TestKeys:
    async def test_create_list_revoke(self, client: httpx.AsyncClient, tenant: Tenant) -> None:
        created = await client.post(
            "/v1/keys", json={"kind": "secret", "name": "ci"}, headers=tenant.auth
        )
        assert created.status_code == 201
        key = created.json()
        assert key["key"].startswith("sk_")
        listed = (await client.get("/v1/keys", headers=tenant.auth)).json()
        assert [k["name"] for k in listed] == ["default", "default", "ci"]
        assert all("key" not in k for k in listed)

        revoked = await client.delete(f"/v1/keys/{key['id']}", headers=tenant.auth)
        assert revoked.status_code == 200
        failed = await client.get(
            "/v1/workspace", headers={"Authorization": f"Bearer {key['key']}"}
        )
        assert_problem(failed, 401)

    async def test_last_secret_key_cannot_be_revoked(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        keys = (await client.get("/v1/keys", headers=tenant.auth)).json()
        secret = next(k for k in keys if k["kind"] == "secret")
        response = await client.delete(f"/v1/keys/{secret['id']}", headers=tenant.auth)
        assert_problem(response, 409)
        assert (await client.get("/v1/workspace", headers=tenant.auth)).status_code == 200

    async def test_another_workspaces_key_is_404_and_stays_valid(
        self, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        other_keys = (await client.get("/v1/keys", headers=other_tenant.auth)).json()
        for key in other_keys:
            response = await client.delete(f"/v1/keys/{key['id']}", headers=tenant.auth)
            assert_problem(response, 404)
        assert (await client.get("/v1/workspace", headers=other_tenant.auth)).status_code == 200
