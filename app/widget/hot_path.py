"""The two routes every end user calls, served without FastAPI's per-request machinery.

``GET /v1/widget/announcements`` and ``POST /v1/widget/events`` decide what a Tidings
server costs to run, and FastAPI's and Starlette's own layers (error and telemetry
middleware, the exception middleware, the router, the request/response adapters) were
about a quarter of a feed poll (docs/performance.md). So ``TidingsApp`` hands these two
paths to ``HotRoutes`` before any of that. ``WIDGET_HOT_ROUTES`` declares each once: the
endpoint that serves it, and the pydantic models its OpenAPI entry is generated from
(``document_hot_routes``); the query's bounds the endpoint checks come from those models.

They still pass through the same request middleware as every other route (the list
``app.main.request_middleware`` returns: request id, log and metrics, rate limits,
deadline, body limit), and an exception is answered by the same handlers as anywhere
else (``app.errors.exception_response``). Both are raw ASGI endpoints: they read the few
query parameters and headers they need themselves, with the same rules and errors as
the rest of the API (``app.kit.bodies``, ``app.workspaces.auth``), and send bytes.
"""

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.end_users.visitors import Visitor
from app.errors import exception_response, invalid_field
from app.feed.plan import render_feed
from app.feed.render import changelog_url
from app.feed.schemas import FeedQuery, FeedResponse
from app.feed.snapshot import WorkspaceSnapshot
from app.ingest.ingestor import BUSY
from app.ingest.schemas import EventsRequest, EventsResult
from app.kit.bodies import parse_json_object, receive_body, refuse_other_than_json
from app.middleware import deadline_of
from app.serving import shed_when_busy
from app.widget.cors import add_cors_headers, refuse_foreign_origin
from app.widget.runtime import WidgetRuntime
from app.widget.schemas import beacon_body_doc
from app.workspaces.auth import QueryPairs, publishable_key_from
from app.workspaces.key_cache import PublishableKeyCache

Endpoint = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class HotRoute:
    path: str  # also the route's name in metrics and access logs, as for any route
    method: str
    endpoint: Endpoint
    # What OpenAPI says of it: its name (the operation id's first part), success status
    # and body, query parameters, request body, and other answers it gives.
    name: str
    status: int
    response: type[BaseModel]
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    other_responses: Mapping[int, str] = field(default_factory=dict)

    def operation(self) -> dict[str, Any]:
        """The route's OpenAPI operation, as FastAPI would write it for a route of its own."""
        operation: dict[str, Any] = {
            "tags": ["widget"],
            "summary": self.name.replace("_", " ").title(),
            "description": _description(self.endpoint),
            "operationId": _operation_id(self.name, self.path, self.method),
            "security": [{"APIKeyQuery": []}, {"APIKeyHeader": []}],
        }
        if self.query is not None:
            parameters = []
            for name, property_ in self.query.model_json_schema()["properties"].items():
                property_.pop("default", None)  # "not sent" is what an optional one means
                parameters.append(
                    {"name": name, "in": "query", "required": False, "schema": property_}
                )
            operation["parameters"] = parameters
        if self.body is not None:
            operation["requestBody"] = beacon_body_doc(self.body)["requestBody"]
        responses: dict[str, Any] = {
            str(self.status): {
                "description": "Successful Response",
                "content": {"application/json": {"schema": _ref(self.response)}},
            }
        }
        for status, description in self.other_responses.items():
            responses[str(status)] = {"description": description}
        operation["responses"] = responses
        return operation


class HotRoutes:
    def __init__(self, routes: Sequence[HotRoute], middleware: Sequence[Middleware]) -> None:
        self._routes = {route.path: route for route in routes}
        app: ASGIApp = self._dispatch
        for cls, args, kwargs in reversed(middleware):
            app = cls(app, *args, **kwargs)
        self._app = app

    def route_for(self, scope: Scope) -> HotRoute | None:
        route = self._routes.get(_route_path(scope))
        if route is None:
            return None
        method = scope["method"]
        # HEAD is GET without the body (the server drops it), as on Starlette's routes.
        return route if method == route.method or (method, route.method) == _HEAD else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send, route: HotRoute) -> None:
        scope["route"] = route
        await self._app(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: HotRoute = scope["route"]
        try:
            await route.endpoint(scope, receive, send)
        except Exception as exc:
            # The endpoints send nothing before they are sure of their answer.
            response = await exception_response(Request(scope, receive), exc)
            await response(scope, receive, send)


_HEAD = ("HEAD", "GET")


def _route_path(scope: Scope) -> str:
    """The path the routes see: without the ``root_path`` a proxy mounts the app under."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if (
        root_path
        and path.startswith(root_path)
        and path[len(root_path) : len(root_path) + 1] == "/"
    ):
        return path[len(root_path) :]
    return path


# --- the feed --------------------------------------------------------------------------

# The headers the two routes read; the first of each counts, as for Starlette's
# ``Headers.get``.
_HEADERS = frozenset(
    (
        b"x-tidings-key",
        b"origin",
        b"if-none-match",
        b"user-agent",
        b"content-type",
        b"content-length",
        b"host",  # for the feed's changelog_url
    )
)


def _max_lengths(model: type[BaseModel]) -> dict[str, int]:
    """Each optional string field's greatest length, as the model's schema states it."""
    properties = model.model_json_schema()["properties"]
    return {
        name: next(option["maxLength"] for option in schema["anyOf"] if "maxLength" in option)
        for name, schema in properties.items()
    }


_QUERY_LIMITS = _max_lengths(FeedQuery)


def _headers(scope: Scope) -> dict[bytes, str]:
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _HEADERS and name not in found:
            found[name] = value.decode("latin-1")
    return found


def _query(scope: Scope) -> list[tuple[str, str]]:
    # As Starlette's QueryParams: latin-1, blank values kept, every pair in order (a
    # repeated name's values are all checked for secrets; for the rest the last one wins).
    query: str = scope["query_string"].decode("latin-1")
    if "%" in query or "+" in query:
        return parse_qsl(query, keep_blank_values=True)
    # Nothing to unescape (the widget's own polls): the same pairs, without parse_qsl.
    return [
        (name, value)
        for name, _, value in (pair.partition("=") for pair in query.split("&") if pair)
    ]


def _bounded(query: Mapping[str, str], name: str) -> str | None:
    value = query.get(name)
    if value is not None and not 1 <= len(value) <= _QUERY_LIMITS[name]:
        raise invalid_field(name, f"must be 1 to {_QUERY_LIMITS[name]} characters")
    return value


async def _workspace_of(
    scope: Scope, headers: Mapping[bytes, str], query: QueryPairs
) -> tuple[WidgetRuntime, WorkspaceSnapshot]:
    """The widget runtime and the snapshot of the workspace the publishable key opens."""
    state = scope["app"].state
    keys: PublishableKeyCache = state.publishable_keys
    sessionmaker = state.sessionmaker
    key = publishable_key_from(headers.get(b"x-tidings-key"), query)
    # Both come from caches nearly always: no coroutine for them then.
    principal = keys.principal_now(sessionmaker, key) or await keys.principal(sessionmaker, key)
    runtime: WidgetRuntime = state.widget
    workspace_id = principal.workspace_id
    feeds = runtime.feeds
    return runtime, feeds.snapshot_now(workspace_id) or await feeds.snapshot(workspace_id)


def _cors_headers(origin: str | None, snapshot: WorkspaceSnapshot) -> list[tuple[bytes, bytes]]:
    if origin is None:  # not a browser's cross-origin request
        return [_VARY_ORIGIN]  # all that add_cors_headers adds without an Origin
    cors: dict[str, str] = {}
    add_cors_headers(cors, origin, snapshot)
    return [(name.lower().encode(), value.encode("latin-1")) for name, value in cors.items()]


async def serve_feed(scope: Scope, receive: Receive, send: Send) -> None:
    """The announcements this end user should see, with their state and the unread count.

    Strong `ETag`; `If-None-Match` answers 304 with no body when nothing changed.
    """
    headers = _headers(scope)
    pairs = _query(scope)
    runtime, snapshot = await _workspace_of(scope, headers, pairs)
    query = dict(pairs)
    visitor = Visitor(
        _bounded(query, "user_id"), _bounded(query, "anonymous_id"), _bounded(query, "user_hash")
    )
    etag, plan = await runtime.feeds.feed(
        snapshot,
        visitor,
        _bounded(query, "locale"),
        headers.get(b"user-agent"),
        if_none_match=headers.get(b"if-none-match"),
    )
    raw = [(b"etag", etag.encode()), _NO_CACHE, *_cors_headers(headers.get(b"origin"), snapshot)]
    if plan is None:
        status, body = 304, b""
    else:
        changelog = changelog_url(
            snapshot.changelog_path,
            snapshot.changelog_host,
            scope["scheme"],
            headers.get(b"host"),
            scope.get("root_path", ""),
        )
        status, body = 200, render_feed(snapshot, plan, changelog)
        raw += [_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


_NO_CACHE = (b"cache-control", b"private, no-cache")
_VARY_ORIGIN = (b"vary", b"Origin")
_JSON = (b"content-type", b"application/json")


# --- events ------------------------------------------------------------------------------


async def serve_events(scope: Scope, receive: Receive, send: Send) -> None:
    """Record a batch of engagement events; each is accepted, a duplicate, or rejected.

    202 means committed. Retrying a batch never counts an event twice.
    """
    headers = _headers(scope)
    runtime, snapshot = await _workspace_of(scope, headers, _query(scope))
    origin = headers.get(b"origin")
    refuse_foreign_origin(origin, snapshot)
    refuse_other_than_json(headers.get(b"content-type"))
    content_length = headers.get(b"content-length")
    runtime.ingestor.refuse_when_busy(content_length)  # before the body costs anything
    payload = parse_json_object(await receive_body(receive, content_length))
    result = await runtime.events.record_events(
        snapshot, payload, headers.get(b"user-agent"), deadline=deadline_of(scope)
    )
    body = result.model_dump_json().encode()
    raw = [_JSON, (b"content-length", str(len(body)).encode()), *_cors_headers(origin, snapshot)]
    await send({"type": "http.response.start", "status": 202, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _description(endpoint: Endpoint) -> str:
    lines = (endpoint.__doc__ or "").strip().splitlines()
    # As FastAPI: the docstring, its indentation removed.
    return "\n".join(line.strip() for line in lines)


def _operation_id(name: str, path: str, method: str) -> str:
    # FastAPI's own rule, so the ids stay what clients generated from the document know.
    return re.sub(r"\W", "_", f"{name}{path}") + f"_{method.lower()}"


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


WIDGET_HOT_ROUTES = (
    HotRoute(
        "/v1/widget/announcements",
        "GET",
        serve_feed,
        name="get_feed",
        status=200,
        response=FeedResponse,
        query=FeedQuery,
        other_responses={304: "Not modified (If-None-Match matched the ETag)."},
    ),
    HotRoute(
        EVENTS_PATH := "/v1/widget/events",
        "POST",
        serve_events,
        name="record_events",
        status=202,
        response=EventsResult,
        body=EventsRequest,
    ),
)


def shed_events_when_busy(runtime: WidgetRuntime) -> Callable[[], None]:
    """While the event writer's queue is full, batches are refused before the application
    (app/serving.py), not after reaching ``serve_events``. Returns what undoes it."""
    return shed_when_busy("POST", EVENTS_PATH, runtime.ingestor.is_busy, BUSY)


def document_hot_routes(app: FastAPI, routes: Sequence[HotRoute]) -> None:
    """Add the hot routes to the app's OpenAPI document, with the schemas they refer to."""
    build_document = app.openapi

    def openapi() -> dict[str, Any]:
        document = build_document()  # built once and cached by FastAPI
        paths = document.setdefault("paths", {})
        if all(route.method.lower() in paths.get(route.path, {}) for route in routes):
            return document
        for route in routes:
            paths.setdefault(route.path, {})[route.method.lower()] = route.operation()
        models: list[tuple[type[BaseModel], Any]] = []
        for route in routes:
            models.append((route.response, "serialization"))
            if route.body is not None:
                models.append((route.body, "validation"))
        _, definitions = models_json_schema(models, ref_template="#/components/schemas/{model}")
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in definitions.get("$defs", {}).items():
            schemas.setdefault(name, schema)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
