"""Values at the edges of what parsers accept are a 422 problem, never a 500.

The class, not the examples: every admin operation with a JSON body (read from the OpenAPI
document, so a new route is covered the day it is added) gets a deeply nested body, and
every date-time field and stats bound gets the extremes of Python's datetime with the
largest offsets (where converting to UTC leaves datetime's range).
"""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.apps import NO_RATE_LIMITS, client_with
from tests.fixtures.tenants import Tenant
from tests.workspaces.test_auth import assert_problem, field_names

EXTREME_DATETIMES = [
    "0001-01-01T00:00:00+14:00",  # year 0 in UTC
    "0001-01-01T00:00:00Z",
    "0001-01-01T13:59:59+14:00",
    "9999-12-31T23:59:59-14:00",  # year 10000 in UTC
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T10:00:00-14:00",
    "1969-12-31T23:59:59Z",
]
EXTREME_BOUNDS = [
    *EXTREME_DATETIMES,
    "9999-12-31",
    "0001-01-01",
    "9999-12-31T23:59:59",  # no offset: read in tz
    "0001-01-01T00:00:00",
]
ZONES = ["UTC", "Pacific/Kiritimati", "Etc/GMT+12"]


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Many requests in a row: the rate limits have their own tests."""
    async with client_with(settings, **NO_RATE_LIMITS) as unlimited:
        yield unlimited


def deep_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def deep_array(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][name]
    return schema


def admin_json_operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, body schema) of every non-widget operation taking a JSON body."""
    document = app.openapi()
    found = []
    for path, item in document["paths"].items():
        if path.startswith("/v1/widget"):
            continue  # the widget's bodies are read by app/kit/bodies.py (orjson's limits)
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                schema = _resolve(document, content["application/json"]["schema"])
                found.append((method.upper(), path.replace("{", "").replace("}", ""), schema))
    return found


def date_time_fields(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, path, field) of every top-level date-time property of an admin body."""
    document = app.openapi()
    fields = []
    for method, path, schema in admin_json_operations(app):
        for name, declared in schema.get("properties", {}).items():
            options = [_resolve(document, s) for s in declared.get("anyOf", [declared])]
            if any(option.get("format") == "date-time" for option in options):
                fields.append((method, path, name))
    return fields


def _auth(path: str, tenant: Tenant) -> dict[str, str]:
    token = ADMIN_TOKEN if path == "/v1/workspaces" else tenant.secret_key
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


class TestDeeplyNestedBodies:
    @pytest.mark.parametrize("depth", [65, 900, 5000])
    async def test_every_admin_body_refuses_deep_nesting(
        self, app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, depth: int
    ) -> None:
        operations = admin_json_operations(app)
        assert len(operations) >= 6  # workspaces, workspace, keys, announcements, segments...
        for method, path, schema in operations:
            properties = list(schema.get("properties", {})) or ["value"]
            bodies = [deep_object(depth), deep_array(depth)]
            bodies += [
                f'{{"{name}":{nested}}}'
                for name in properties
                for nested in (deep_object(depth), deep_array(depth))
            ]
            for body in bodies:
                response = await client.request(
                    method, path, content=body.encode(), headers=_auth(path, tenant)
                )
                assert response.status_code in (400, 422), (method, path, response.text)
                assert_problem(response, response.status_code)

    def test_the_walk_itself_needs_no_stack(self) -> None:
        from app.kit.schemas import MAX_NESTING, unstorable_json_problem

        assert MAX_NESTING == 64
        value: Any = 1
        for _ in range(100_000):
            value = {"a": [value]}
        assert unstorable_json_problem(value) == f"is nested more than {MAX_NESTING} levels deep"
        assert unstorable_json_problem({"a": [{"b": "x"}]}) is None


class TestDateTimeFields:
    def test_the_document_lists_the_date_time_fields(self, app: FastAPI) -> None:
        names = {(path, field) for _, path, field in date_time_fields(app)}
        assert ("/v1/announcements", "publish_at") in names
        assert ("/v1/announcements", "expire_at") in names

    @pytest.mark.parametrize("value", EXTREME_DATETIMES)
    async def test_every_date_time_field_refuses_the_extremes(
        self, app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, value: str
    ) -> None:
        for method, path, field in date_time_fields(app):
            body = {field: value}
            if method == "POST" and path == "/v1/announcements":
                body |= {"title": "Hello", "body": "World"}
            response = await client.request(method, path, json=body, headers=_auth(path, tenant))
            problem = assert_problem(response, 422)
            fields = set(field_names(problem))
            assert field in fields, (method, path, response.text)
            assert "1970-01-01" in str(problem["detail"])

    async def test_the_supported_range_is_accepted(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        response = await client.post(
            "/v1/announcements",
            json={
                "title": "Far away",
                "body": "x",
                "publish_at": "1970-01-01T00:00:00Z",
                "expire_at": "9998-12-31T09:59:59-14:00",  # 23:59:59Z
            },
            headers=tenant.auth,
        )
        assert response.status_code == 201, response.text


class TestStatsBounds:
    @pytest.mark.parametrize("zone", ZONES)
    @pytest.mark.parametrize("bound", ["from", "to"])
    async def test_extreme_bounds_are_422_on_both_stats_routes(
        self, client: httpx.AsyncClient, tenant: Tenant, bound: str, zone: str
    ) -> None:
        created = await client.post(
            "/v1/announcements", json={"title": "T", "body": "B"}, headers=tenant.auth
        )
        routes = ["/v1/stats", f"/v1/announcements/{created.json()['id']}/stats"]
        for route in routes:
            for value in EXTREME_BOUNDS:
                for fmt in ("json", "csv"):
                    params = {bound: value, "tz": zone, "format": fmt}
                    response = await client.get(route, params=params, headers=tenant.auth)
                    problem = assert_problem(response, 422)
                    assert str(problem["detail"]).startswith(bound), (route, params)

    async def test_the_newest_supported_day_works(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        params = {"from": "9998-12-30", "to": "9998-12-31", "tz": "Etc/GMT+12"}
        response = await client.get("/v1/stats", params=params, headers=tenant.auth)
        assert response.status_code == 200, response.text


class TestWidgetEvents:
    @pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
    async def test_an_out_of_range_occurred_at_is_clamped_like_any_far_off_clock(
        self, client: httpx.AsyncClient, tenant: Tenant, value: str
    ) -> None:
        response = await client.post(
            "/v1/widget/events",
            json={
                "anonymous_id": "v-1",
                "events": [{"id": "e-1", "type": "open", "occurred_at": value}],
            },
            headers={"X-Tidings-Key": tenant.publishable_key},
        )
        assert response.status_code == 202, response.text
        assert response.json()["accepted"] == 1


def test_supported_instant_reads_naive_values_as_utc() -> None:
    from datetime import datetime

    from app.kit.time import supported_instant

    assert supported_instant(datetime(2026, 1, 1)) == datetime(2026, 1, 1)
    with pytest.raises(ValueError, match="1970-01-01"):
        supported_instant(datetime(1, 1, 1))
