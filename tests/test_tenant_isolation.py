"""Tenant isolation, generated from the OpenAPI document: a new route is covered by itself.

- Every route needs a credential, unless it is on the short list of public ones.
- With another workspace's secret key, every route with an id in its path answers 404,
  and nothing of the owner's changes (every tenant table is compared row by row); the
  owner's own key, sent the same request, does find the object.
- Ids carried in request bodies (``*_id``) are refused the same way.
- Every admin route refuses the publishable key (403; the instance route 401).
- No route accepts a secret key in a query string (401), even beside a valid credential.
"""

import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.main import create_app
from app.models import metadata
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.factories import create_announcement, create_key
from tests.fixtures.tenants import Tenant
from tests.workspaces.test_auth import assert_problem

DOCUMENT: dict[str, Any] = create_app(
    Settings(_env_file=None, database_url="sqlite+aiosqlite://")
).openapi()

PUBLIC = {
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
    "GET /widget.js",
    # The public changelog (docs/changelog.md): public announcements only, by design.
    "GET /changelog/{workspace_slug}",
    "GET /changelog/{workspace_slug}/feed.{kind}",
    "GET /changelog/{workspace_slug}/{announcement}",
    "GET /widget/{version}.js",
}
WIDGET_SCHEMES = {"APIKeyQuery", "APIKeyHeader"}
VISITOR = "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b"

# A valid body for each request schema, so that a refusal is never a 422 in disguise.
BODY_SAMPLES: dict[str, dict[str, Any]] = {
    "WorkspaceCreate": {"name": "Intruder"},
    "WorkspaceUpdate": {"name": "Renamed by someone else"},
    "ApiKeyCreate": {"kind": "secret", "name": "intruder"},
    "AnnouncementCreate": {"title": "Planted", "body": "x"},
    "AnnouncementUpdate": {"title": "Changed by someone else"},
    "SegmentCreate": {"name": "planted", "condition": {}},
    "SegmentUpdate": {"name": "changed-by-someone-else"},
    "AudiencePreviewRequest": {"condition": {}, "user": {"id": "u-1"}},
    "IdentifyRequest": {"anonymous_id": VISITOR, "attributes": {}},
    "EventsRequest": {"anonymous_id": VISITOR, "events": []},
    "EndpointCreate": {"url": "https://93.184.215.14/hooks"},
    "EndpointUpdate": {"description": "Changed by someone else"},
}
# Instance-wide tables: they belong to no workspace. Console members and their sessions
# too (a member may work in several workspaces; memberships, a tenant table, tie them).
INSTANCE_TABLES = {"webhook_leases", "members", "console_sessions"}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def schemes(self) -> set[str]:
        return {name for requirement in self.spec.get("security", []) for name in requirement}

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def body_schema(self) -> str | None:
        content = self.spec.get("requestBody", {}).get("content", {})
        ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
        return ref.rsplit("/", 1)[-1] or None

    def body(self, **fields: Any) -> dict[str, Any] | None:
        if self.body_schema is None:
            return None
        return {**BODY_SAMPLES[self.body_schema], **fields}

    def url(self, ids: dict[str, str]) -> str:
        return self.path.format(**{name: ids.get(name, "missing") for name in self.path_params})


OPERATIONS = [
    Operation(method.upper(), path, spec)
    for path, item in DOCUMENT["paths"].items()
    for method, spec in item.items()
]
SECRET_KEY_ROUTES = [op for op in OPERATIONS if "HTTPBearer" in op.schemes]
ADMIN_TOKEN_ROUTES = [op for op in OPERATIONS if "AdminToken" in op.schemes]
WIDGET_ROUTES = [op for op in OPERATIONS if op.schemes & WIDGET_SCHEMES]
AUTHENTICATED = [op for op in OPERATIONS if op.schemes]
WITH_PATH_IDS = [op for op in SECRET_KEY_ROUTES if op.path_params]
BODY_ID_FIELDS = [
    (op, field)
    for op in SECRET_KEY_ROUTES
    if op.body_schema
    for field in DOCUMENT["components"]["schemas"][op.body_schema].get("properties", {})
    if field.endswith("_id")
]


def by_name(operations: list[Operation]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("op", operations, ids=str)


@pytest.fixture
async def owned(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
) -> dict[str, str]:
    """One object of each kind that a path id can name, all in ``tenant``'s workspace."""
    await app.state.webhooks.stop()  # its deliveries stay as they are while rows are compared
    endpoint = await client.post(
        "/v1/webhooks", json=BODY_SAMPLES["EndpointCreate"], headers=tenant.auth
    )
    assert endpoint.status_code == 201, endpoint.text
    announcement = await create_announcement(session, tenant.workspace_id, status="published")
    deliveries = await client.get(
        f"/v1/webhooks/{endpoint.json()['id']}/deliveries", headers=tenant.auth
    )
    spare_key = await create_key(session, tenant.workspace_id)
    segment = await client.post(
        "/v1/segments", json={"name": "pros", "condition": {"plan": "pro"}}, headers=tenant.auth
    )
    identified = await client.post(
        "/v1/widget/identify",
        params={"key": tenant.publishable_key},
        json={"user_id": "u-42", "attributes": {"plan": "pro"}},
    )
    assert segment.status_code == 201 and identified.status_code == 200
    return {
        "announcement_id": announcement.id,
        "segment_id": segment.json()["id"],
        "key_id": spare_key.api_key.id,
        "user_id": "u-42",
        "endpoint_id": endpoint.json()["id"],
        "delivery_id": deliveries.json()["data"][0]["id"],
    }


async def tenant_rows(app: FastAPI, workspace_id: str) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every tenant table that belongs to this workspace."""
    rows: dict[str, list[tuple[str, ...]]] = {}
    async with app.state.sessionmaker() as session:
        for table in metadata.sorted_tables:
            if table.name in INSTANCE_TABLES:
                continue
            column = table.c.get("workspace_id")
            if column is None and table.name == "workspaces":
                column = table.c.id
            assert column is not None, f"{table.name} has no workspace_id"
            result = await session.execute(select(table).where(column == workspace_id))
            rows[table.name] = sorted(tuple(map(str, row)) for row in result)
    return rows


class TestDocumentCoverage:
    def test_every_route_needs_a_credential_unless_declared_public(self) -> None:
        public = {str(op) for op in OPERATIONS if not op.schemes}
        assert public == PUBLIC, "a new route without authentication: secure it or declare it"

    def test_every_path_id_and_body_has_a_sample_here(self) -> None:
        assert {p for op in WITH_PATH_IDS for p in op.path_params} <= {
            "announcement_id",
            "segment_id",
            "key_id",
            "user_id",
            "endpoint_id",
            "delivery_id",
        }, "a new kind of id: add it to the `owned` fixture"
        assert {op.body_schema for op in OPERATIONS if op.body_schema} <= set(BODY_SAMPLES)

    def test_the_suite_sees_the_routes(self) -> None:
        assert len(WITH_PATH_IDS) >= 8 and len(SECRET_KEY_ROUTES) >= 15 and WIDGET_ROUTES


class TestAnotherWorkspacesKey:
    @by_name(WITH_PATH_IDS)
    async def test_path_ids_of_another_workspace_are_404_and_change_nothing(
        self,
        op: Operation,
        app: FastAPI,
        client: httpx.AsyncClient,
        tenant: Tenant,
        other_tenant: Tenant,
        owned: dict[str, str],
    ) -> None:
        before = await tenant_rows(app, tenant.workspace_id)
        response = await client.request(
            op.method, op.url(owned), json=op.body(), headers=other_tenant.auth
        )
        assert_problem(response, 404)
        assert await tenant_rows(app, tenant.workspace_id) == before
        # The same request from the owner finds the object: the 404 was the tenancy.
        own = await client.request(op.method, op.url(owned), json=op.body(), headers=tenant.auth)
        assert own.status_code not in (404, 422), own.text

    @pytest.mark.parametrize(("op", "field"), BODY_ID_FIELDS, ids=lambda v: str(v))
    async def test_ids_in_bodies_of_another_workspace_are_refused(
        self,
        op: Operation,
        field: str,
        app: FastAPI,
        client: httpx.AsyncClient,
        tenant: Tenant,
        other_tenant: Tenant,
        owned: dict[str, str],
    ) -> None:
        # The id replaces the sample's condition (preview takes one of condition or an id).
        body = {k: v for k, v in (op.body() or {}).items() if k != "condition"}
        body[field] = owned[field]
        before = await tenant_rows(app, tenant.workspace_id)
        response = await client.request(
            op.method, op.url(owned), json=body, headers=other_tenant.auth
        )
        assert_problem(response, 404)
        assert await tenant_rows(app, tenant.workspace_id) == before
        own = await client.request(op.method, op.url(owned), json=body, headers=tenant.auth)
        assert own.status_code not in (404, 422), own.text

    async def test_segments_of_another_workspace_cannot_be_targeted(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        tenant: Tenant,
        other_tenant: Tenant,
        owned: dict[str, str],
    ) -> None:
        before = await tenant_rows(app, tenant.workspace_id)
        response = await client.post(
            "/v1/announcements",
            json={"title": "x", "body": "y", "audience": {"segments": [owned["segment_id"]]}},
            headers=other_tenant.auth,
        )
        assert response.status_code in (404, 422), response.text
        assert await tenant_rows(app, tenant.workspace_id) == before


class TestWrongKindOfKey:
    @by_name(SECRET_KEY_ROUTES + ADMIN_TOKEN_ROUTES)
    async def test_admin_routes_refuse_the_publishable_key(
        self, op: Operation, client: httpx.AsyncClient, tenant: Tenant, owned: dict[str, str]
    ) -> None:
        response = await client.request(
            op.method,
            op.url(owned),
            json=op.body(),
            params={"key": tenant.publishable_key},
            headers={
                "Authorization": f"Bearer {tenant.publishable_key}",
                "X-Tidings-Key": tenant.publishable_key,
            },
        )
        assert_problem(response, 403 if "HTTPBearer" in op.schemes else 401)

    @by_name(WIDGET_ROUTES)
    async def test_widget_routes_refuse_the_secret_key(
        self, op: Operation, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        headers = {
            "X-Tidings-Key": tenant.secret_key,
            "Authorization": f"Bearer {tenant.secret_key}",
        }
        response = await client.request(
            op.method, op.path, json=op.body(), params={"anonymous_id": VISITOR}, headers=headers
        )
        assert_problem(response, 403)


class TestSecretsInUrls:
    @by_name(AUTHENTICATED)
    async def test_no_route_accepts_a_secret_key_in_the_query_string(
        self,
        op: Operation,
        app: FastAPI,
        client: httpx.AsyncClient,
        tenant: Tenant,
        owned: dict[str, str],
    ) -> None:
        if "HTTPBearer" in op.schemes:
            headers = tenant.auth
        elif "AdminToken" in op.schemes:
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        else:
            headers = {"X-Tidings-Key": tenant.publishable_key}
        before = await tenant_rows(app, tenant.workspace_id)
        for params in ({"key": tenant.secret_key}, {"api_key": tenant.secret_key}):
            response = await client.request(
                op.method, op.url(owned), json=op.body(), params=params, headers=headers
            )
            body = assert_problem(response, 401)
            assert "URL" in str(body["detail"])
        assert await tenant_rows(app, tenant.workspace_id) == before

    async def test_the_admin_token_is_not_accepted_in_the_query_string(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(
            "/v1/workspaces",
            json={"name": "Acme"},
            params={"token": ADMIN_TOKEN},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        body = assert_problem(response, 401)
        assert "URL" in str(body["detail"])
