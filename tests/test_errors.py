"""Every error is application/problem+json, and every response carries a request id."""

import httpx

from tests.workspaces.test_auth import assert_problem


class TestProblemDetails:
    async def test_unknown_route_is_404_problem(self, client: httpx.AsyncClient) -> None:
        body = assert_problem(await client.get("/v1/nope"), 404)
        assert "/v1/nope" in str(body["detail"])

    async def test_wrong_method_is_405_problem(self, client: httpx.AsyncClient) -> None:
        response = await client.put("/healthz")
        assert_problem(response, 405)
        assert "GET" in response.headers["allow"]

    async def test_problem_carries_the_request_id(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/nope", headers={"X-Request-ID": "trace-123"})
        assert response.headers["x-request-id"] == "trace-123"
        assert response.json()["request_id"] == "trace-123"


class TestResponseHeaders:
    async def test_request_id_is_made_when_absent(self, client: httpx.AsyncClient) -> None:
        first = await client.get("/healthz")
        second = await client.get("/healthz")
        assert len(first.headers["x-request-id"]) == 16
        assert first.headers["x-request-id"] != second.headers["x-request-id"]

    async def test_unsafe_request_id_is_replaced(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
        assert response.headers["x-request-id"] != "bad id\twith spaces"

    async def test_nosniff_everywhere(self, client: httpx.AsyncClient) -> None:
        for path in ("/healthz", "/v1/nope", "/openapi.json"):
            response = await client.get(path)
            assert response.headers["x-content-type-options"] == "nosniff"
