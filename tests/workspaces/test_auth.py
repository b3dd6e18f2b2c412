"""How each kind of caller is recognised, and refused."""

import hashlib
from typing import NotRequired, TypedDict

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ApiKey
from tests.fixtures.factories import create_key
from tests.fixtures.tenants import Tenant


class FieldError(TypedDict):
    field: str
    message: str
    type: str


class Problem(TypedDict):
    """An error's body as app/errors.py's ``Problem`` documents it."""

    type: str
    title: str
    status: int
    detail: str
    errors: NotRequired[list[FieldError] | None]
    request_id: NotRequired[str | None]


def assert_problem(response: httpx.Response, status: int) -> Problem:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: Problem = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


def field_names(problem: Problem) -> list[str]:
    """The fields a 422 names, in its order."""
    errors = problem.get("errors")
    assert errors is not None, problem
    return [error["field"] for error in errors]


class TestSecretKey:
    async def test_valid_key_opens_the_admin_api(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        response = await client.get("/v1/workspace", headers=tenant.auth)
        assert response.status_code == 200
        assert response.json()["id"] == tenant.workspace_id

    async def test_missing_key_is_401_with_bearer_challenge(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/v1/workspace")
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")

    @pytest.mark.parametrize(
        "authorization",
        [
            "Bearer sk_short",
            "Bearer sk_" + "A" * 43,
            "Bearer nonsense",
            "Basic dXNlcjpwYXNz",
        ],
    )
    async def test_wrong_key_is_401(
        self, client: httpx.AsyncClient, tenant: Tenant, authorization: str
    ) -> None:
        response = await client.get("/v1/workspace", headers={"Authorization": authorization})
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")

    async def test_key_with_right_prefix_but_wrong_rest_is_401(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        forged = tenant.secret_key[:20] + ("x" if tenant.secret_key[20] != "x" else "y")
        forged += tenant.secret_key[21:]
        response = await client.get("/v1/workspace", headers={"Authorization": f"Bearer {forged}"})
        assert_problem(response, 401)

    async def test_publishable_key_on_admin_route_is_403(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        response = await client.get(
            "/v1/workspace", headers={"Authorization": f"Bearer {tenant.publishable_key}"}
        )
        body = assert_problem(response, 403)
        assert "secret key" in str(body["detail"])

    async def test_secret_key_in_query_string_is_refused(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        response = await client.get("/v1/workspace", params={"key": tenant.secret_key})
        body = assert_problem(response, 401)
        assert "never accepted in a URL" in str(body["detail"])
        # Even alongside a valid header: a secret in a URL is a leak, not a credential.
        response = await client.get(
            "/v1/workspace", params={"api_key": tenant.secret_key}, headers=tenant.auth
        )
        assert_problem(response, 401)

    async def test_keys_are_stored_only_as_hashes(
        self, session: AsyncSession, tenant: Tenant
    ) -> None:
        rows = (await session.execute(select(ApiKey))).scalars().all()
        secret_rows = [
            row for row in rows if row.workspace_id == tenant.workspace_id and row.kind == "secret"
        ]
        assert len(secret_rows) == 1
        row = secret_rows[0]
        assert row.key_hash == hashlib.sha256(tenant.secret_key.encode()).hexdigest()
        for value in (row.lookup, row.preview, row.name, row.key_hash):
            assert tenant.secret_key not in value
        assert len(row.lookup) < len(tenant.secret_key) // 2

    async def test_revocation_is_immediate(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        spare = await create_key(session, tenant.workspace_id)
        spare_auth = {"Authorization": f"Bearer {spare.key}"}
        assert (await client.get("/v1/workspace", headers=spare_auth)).status_code == 200

        response = await client.delete(f"/v1/keys/{spare.api_key.id}", headers=tenant.auth)
        assert response.status_code == 200
        assert response.json()["revoked_at"] is not None

        response = await client.get("/v1/workspace", headers=spare_auth)
        body = assert_problem(response, 401)
        assert "revoked" in str(body["detail"])

    async def test_last_used_at_is_recorded(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        await client.get("/v1/workspace", headers=tenant.auth)
        keys = (await client.get("/v1/keys", headers=tenant.auth)).json()
        secret = next(key for key in keys if key["kind"] == "secret")
        assert secret["last_used_at"] is not None


class TestAdminToken:
    async def test_creates_workspace(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/v1/workspaces",
            json={"name": "Acme"},
            headers={"Authorization": "Bearer test-admin-token-0123456789abcdef"},
        )
        assert response.status_code == 201, response.text

    @pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Bearer "])
    async def test_wrong_or_missing_token_is_401(
        self, client: httpx.AsyncClient, authorization: str | None
    ) -> None:
        headers = {"Authorization": authorization} if authorization else {}
        response = await client.post("/v1/workspaces", json={"name": "Acme"}, headers=headers)
        assert_problem(response, 401)

    async def test_secret_key_is_not_an_admin_token(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        response = await client.post("/v1/workspaces", json={"name": "Acme"}, headers=tenant.auth)
        assert_problem(response, 401)
