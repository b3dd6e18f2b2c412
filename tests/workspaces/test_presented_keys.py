"""What a client presents as a key is checked before it is kept or looked up, and a secret
in a URL is refused wherever in the query it hides."""

from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI

from app.errors import Unauthorized
from app.workspaces.key_cache import PublishableKeyCache
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.tenants import Tenant

FEED = "/v1/widget/announcements"


def assert_refused_as_secret_in_url(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "never accepted in a URL" in response.json()["detail"]


@pytest.fixture
async def caching_app(app: FastAPI) -> AsyncIterator[FastAPI]:
    """The app with a key cache that keeps outcomes (the tests' settings keep none)."""
    uncached = app.state.publishable_keys
    app.state.publishable_keys = PublishableKeyCache(ttl_s=60)
    try:
        yield app
    finally:
        await app.state.publishable_keys.aclose()
        app.state.publishable_keys = uncached


class TestMalformedPublishableKeys:
    @pytest.mark.parametrize(
        "key",
        ["pk_" + "A" * 20_000, "pk_short", "pk_" + "A" * 42 + "!", "pk_" + "é" * 43, "x" * 46],
    )
    async def test_are_refused_before_any_lookup_and_never_kept(
        self, caching_app: FastAPI, client: httpx.AsyncClient, key: str
    ) -> None:
        cache: PublishableKeyCache = caching_app.state.publishable_keys
        for route in ("header", "query"):
            if route == "header":
                response = await client.get(
                    FEED,
                    params={"anonymous_id": "a"},
                    headers=[(b"X-Tidings-Key", key.encode())],
                )
            else:
                response = await client.get(FEED, params={"anonymous_id": "a", "key": key})
            assert response.status_code == 401, response.text
            assert "malformed" in response.json()["detail"]
        assert len(cache) == 0

    async def test_a_well_formed_unknown_key_is_401_and_remembered(
        self, caching_app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        for _ in range(2):
            response = await client.get(FEED, params={"anonymous_id": "a", "key": "pk_" + "A" * 43})
            assert response.status_code == 401
            assert "not valid" in response.json()["detail"]
        assert len(caching_app.state.publishable_keys) == 1


class TestRefusalsKept:
    async def test_are_bounded_in_number(self, app: FastAPI) -> None:
        cache = PublishableKeyCache(ttl_s=60, max_refusals=50)
        try:
            for index in range(200):
                with pytest.raises(Unauthorized):
                    await cache.principal(app.state.sessionmaker, f"pk_{index:043d}")
            assert len(cache) == 50
        finally:
            await cache.aclose()

    async def test_a_refusal_raised_again_and_again_carries_no_history(self, app: FastAPI) -> None:
        # A kept exception re-raised grows its traceback on every raise: memory per request.
        cache = PublishableKeyCache(ttl_s=60)
        key = "pk_" + "B" * 43
        try:
            depths = []
            for _ in range(50):
                try:
                    await cache.principal(app.state.sessionmaker, key)
                except Unauthorized as error:
                    depth, trace = 0, error.__traceback__
                    while trace is not None:
                        depth, trace = depth + 1, trace.tb_next
                    depths.append(depth)
            assert max(depths) <= min(depths) + 1
        finally:
            await cache.aclose()

    async def test_a_live_key_is_still_served(
        self, caching_app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        params = {"anonymous_id": "a", "key": tenant.publishable_key}
        for _ in range(2):
            assert (await client.get(FEED, params=params)).status_code == 200
        assert len(caching_app.state.publishable_keys) == 1


def _queries(secret: str) -> list[str]:
    """A secret key hidden in a query string, each way the review tried and more."""
    return [
        f"x={secret}&x=1",  # repeated name: only the last was checked
        f"x=1&x={secret}",
        f"key={secret}&key=pk_{'A' * 43}",
        f"q={quote('copied ' + secret)}",  # inside a longer value
        f"{secret}=1",  # as a name
        f"note=see%20{secret}%0A",
    ]


class TestSecretKeysInUrls:
    @pytest.mark.parametrize("index", range(6))
    async def test_are_refused_on_admin_routes(
        self, client: httpx.AsyncClient, tenant: Tenant, index: int
    ) -> None:
        query = _queries(tenant.secret_key)[index]
        response = await client.get(f"/v1/workspace?{query}", headers=tenant.auth)
        assert_refused_as_secret_in_url(response)

    @pytest.mark.parametrize("index", range(6))
    async def test_are_refused_on_every_widget_route(
        self, client: httpx.AsyncClient, tenant: Tenant, index: int
    ) -> None:
        query = _queries(tenant.secret_key)[index]
        key = {"X-Tidings-Key": tenant.publishable_key}
        responses = [
            await client.get(f"{FEED}?anonymous_id=a&{query}", headers=key),
            await client.post(
                f"/v1/widget/identify?{query}", json={"anonymous_id": "a"}, headers=key
            ),
            await client.post(
                f"/v1/widget/events?{query}",
                json={"anonymous_id": "a", "events": []},
                headers=key,
            ),
        ]
        for response in responses:
            assert_refused_as_secret_in_url(response)

    async def test_a_value_merely_containing_sk_is_fine(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        params = {"anonymous_id": "task_12345678", "user_id": "desk_" + "A" * 43}
        response = await client.get(
            FEED, params=params, headers={"X-Tidings-Key": tenant.publishable_key}
        )
        assert response.status_code == 200, response.text


class TestAdminTokenInUrls:
    @pytest.mark.parametrize(
        "query",
        [f"t={ADMIN_TOKEN}&t=1", f"t=1&t={ADMIN_TOKEN}", f"{ADMIN_TOKEN}=1"],
    )
    async def test_is_refused_wherever_it_is(self, client: httpx.AsyncClient, query: str) -> None:
        response = await client.post(
            f"/v1/workspaces?{query}",
            json={"name": "Acme"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert response.status_code == 401, response.text
        assert "never accepted in a URL" in response.json()["detail"]
