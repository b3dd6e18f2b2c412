"""The two routes every end user calls, served without FastAPI's per-request machinery.

``GET /v1/widget/announcements`` and ``POST /v1/widget/events`` decide what a Tidings
server costs to run. FastAPI documents them (app/widget/endpoints.py), but a profile of a
feed poll put about a quarter of its time in FastAPI's and Starlette's own layers (error
and telemetry middleware, the exception middleware, the router, the request/response
adapters). So ``TidingsApp`` hands these two paths to ``HotRoutes`` before any of that.

They still pass through the same request middleware as every other route (the list
``app.main.request_middleware`` returns: request id, log and metrics, rate limits,
deadline, body limit), and an exception is answered by the same handlers as anywhere
else (``app.errors.exception_response``). Both are raw ASGI endpoints: they read the few
query parameters and headers they need themselves, with the same rules and errors as
the rest of the API (``app.kit.bodies``, ``app.workspaces.auth``), and send bytes.
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import exception_response, invalid_field
from app.kit.bodies import parse_json_object, receive_body, refuse_other_than_json
from app.middleware import deadline_of
from app.widget.cache import WorkspaceSnapshot
from app.widget.feed import Visitor, render_feed
from app.widget.runtime import WidgetRuntime
from app.widget.service import add_cors_headers, refuse_foreign_origin, widget_service
from app.workspaces.auth import QueryPairs, publishable_key_from
from app.workspaces.key_cache import PublishableKeyCache

Endpoint = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class HotRoute:
    path: str  # also the route's name in metrics and access logs, as for any route
    method: str
    endpoint: Endpoint


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
    )
)
_QUERY_LIMITS = {"user_id": 256, "user_hash": 128, "anonymous_id": 64, "locale": 35}


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
    return runtime, runtime.snapshot_now(workspace_id) or await runtime.snapshot(workspace_id)


def _cors_headers(origin: str | None, snapshot: WorkspaceSnapshot) -> list[tuple[bytes, bytes]]:
    if origin is None:  # not a browser's cross-origin request
        return [_VARY_ORIGIN]  # all that add_cors_headers adds without an Origin
    cors: dict[str, str] = {}
    add_cors_headers(cors, origin, snapshot)
    return [(name.lower().encode(), value.encode("latin-1")) for name, value in cors.items()]


async def serve_feed(scope: Scope, receive: Receive, send: Send) -> None:
    headers = _headers(scope)
    pairs = _query(scope)
    runtime, snapshot = await _workspace_of(scope, headers, pairs)
    query = dict(pairs)
    visitor = Visitor(
        _bounded(query, "user_id"), _bounded(query, "anonymous_id"), _bounded(query, "user_hash")
    )
    etag, plan = await widget_service.feed(
        runtime,
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
        status, body = 200, render_feed(snapshot, plan)
        raw += [_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


_NO_CACHE = (b"cache-control", b"private, no-cache")
_VARY_ORIGIN = (b"vary", b"Origin")
_JSON = (b"content-type", b"application/json")


# --- events ------------------------------------------------------------------------------


async def serve_events(scope: Scope, receive: Receive, send: Send) -> None:
    headers = _headers(scope)
    runtime, snapshot = await _workspace_of(scope, headers, _query(scope))
    origin = headers.get(b"origin")
    refuse_foreign_origin(origin, snapshot)
    refuse_other_than_json(headers.get(b"content-type"))
    content_length = headers.get(b"content-length")
    runtime.ingestor.refuse_when_busy(content_length)  # before the body costs anything
    payload = parse_json_object(await receive_body(receive, content_length))
    result = await widget_service.record_events(
        runtime, snapshot, payload, headers.get(b"user-agent"), deadline=deadline_of(scope)
    )
    body = result.model_dump_json().encode()
    raw = [_JSON, (b"content-length", str(len(body)).encode()), *_cors_headers(origin, snapshot)]
    await send({"type": "http.response.start", "status": 202, "headers": raw})
    await send({"type": "http.response.body", "body": body})
