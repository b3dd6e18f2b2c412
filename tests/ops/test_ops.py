"""Liveness, readiness and metrics."""

import time

import httpx
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from tests.fixtures.tenants import Tenant
from tests.workspaces.test_auth import assert_problem


class TestProbes:
    async def test_healthz(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz")
        assert response.status_code == 200
        assert response.text == "ok"

    async def test_readyz_when_database_answers(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.text == "ready"

    async def test_readyz_and_api_fail_fast_when_database_is_down(self) -> None:
        # Port 1 on loopback: nothing listens, connections are refused at once.
        settings = Settings(
            _env_file=None,
            database_url="postgresql+asyncpg://postgres@127.0.0.1:1/nothing",
        )
        app: FastAPI = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                started = time.monotonic()
                ready = await client.get("/readyz")
                assert_problem(ready, 503)
                assert ready.headers["retry-after"].isdigit()
                api = await client.get(
                    "/v1/workspace", headers={"Authorization": "Bearer sk_" + "a" * 43}
                )
                assert_problem(api, 503)
                assert api.headers["retry-after"].isdigit()
                assert time.monotonic() - started < 5


class TestMetrics:
    async def test_counts_requests_by_route_template(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        await client.delete("/v1/keys/key_doesnotexist", headers=tenant.auth)
        text = (await client.get("/metrics")).text
        assert 'route="/v1/keys/{key_id}"' in text
        assert 'status="404"' in text
        assert "key_doesnotexist" not in text
        assert "tidings_http_request_duration_seconds_bucket" in text

    async def test_openapi_document_is_served(self, client: httpx.AsyncClient) -> None:
        document = (await client.get("/openapi.json")).json()
        assert "/v1/workspace" in document["paths"]
        assert (await client.get("/docs")).status_code == 200
