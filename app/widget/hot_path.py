"""The two routes every end user calls, served without FastAPI's per-request machinery.

``GET /v1/widget/announcements`` and ``POST /v1/widget/events`` decide what a Tidings
server costs to run. FastAPI documents them (app/widget/endpoints.py), but a profile of a
feed poll put about a quarter of its time in FastAPI's and Starlette's own layers (error
and telemetry middleware, the exception middleware, the router, the request/response
adapters). So ``TidingsApp`` hands these two paths to ``HotRoutes`` before any of that.

They still pass through the same middleware as every other route (request id, access log
and metrics; rate limits; deadline; body limit: the very classes, in the same order, from
``app.main.REQUEST_MIDDLEWARE``), and an exception is answered by the same handlers as
anywhere else (``app.errors.exception_response``). The feed is a raw ASGI endpoint: it
reads the few query parameters and headers it needs itself and sends pre-rendered bytes.
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import exception_response, invalid_field
from app.widget.feed import Visitor, render_feed
from app.widget.runtime import WidgetRuntime
from app.widget.service import add_cors_headers, widget_service
from app.workspaces.auth import publishable_key_from
from app.workspaces.key_cache import PublishableKeyCache

Endpoint = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class HotRoute:
    path: str  # also the route's name in metrics and access logs, as for any route
    method: str
    endpoint: Endpoint


def starlette_endpoint(endpoint: Callable[[Request], Awaitable[Response]]) -> Endpoint:
    """A ``Request -> Response`` function as a raw ASGI endpoint."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await endpoint(Request(scope, receive))
        await response(scope, receive, send)

    return app


class HotRoutes:
    def __init__(self, routes: Sequence[HotRoute], middleware: Sequence[Middleware]) -> None:
        self._routes = {route.path: route for route in routes}
        app: ASGIApp = self._dispatch
        for cls, args, kwargs in reversed(middleware):
            app = cls(app, *args, **kwargs)
        self._app = app

    def route_for(self, scope: Scope) -> HotRoute | None:
        route = self._routes.get(_route_path(scope))
        return route if route is not None and route.method == scope["method"] else None

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

_FEED_HEADERS = frozenset((b"x-tidings-key", b"origin", b"if-none-match", b"user-agent"))
_QUERY_LIMITS = {"user_id": 256, "user_hash": 128, "anonymous_id": 64, "locale": 35}


def _headers(scope: Scope) -> dict[bytes, str]:
    """The headers the feed reads (the first of each, as Starlette's ``Headers.get``)."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _FEED_HEADERS and name not in found:
            found[name] = value.decode("latin-1")
    return found


def _query(scope: Scope) -> dict[str, str]:
    # As Starlette's QueryParams: latin-1, blank values kept, the last of a name wins.
    query: str = scope["query_string"].decode("latin-1")
    if "%" in query or "+" in query:
        return dict(parse_qsl(query, keep_blank_values=True))
    # Nothing to unescape (the widget's own polls): the same pairs, without parse_qsl.
    return dict(pair.partition("=")[::2] for pair in query.split("&") if pair)


def _bounded(query: Mapping[str, str], name: str) -> str | None:
    value = query.get(name)
    if value is not None and not 1 <= len(value) <= _QUERY_LIMITS[name]:
        raise invalid_field(name, f"must be 1 to {_QUERY_LIMITS[name]} characters")
    return value


async def serve_feed(scope: Scope, receive: Receive, send: Send) -> None:
    state = scope["app"].state
    headers = _headers(scope)
    query = _query(scope)
    keys: PublishableKeyCache = state.publishable_keys
    key = publishable_key_from(headers.get(b"x-tidings-key"), query)
    principal = await keys.principal(state.sessionmaker, key)
    runtime: WidgetRuntime = state.widget
    snapshot = await runtime.snapshot(principal.workspace_id)
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
    cors: dict[str, str] = {}
    add_cors_headers(cors, headers.get(b"origin"), snapshot)
    raw = [(b"etag", etag.encode()), _NO_CACHE]
    raw += [(name.lower().encode(), value.encode("latin-1")) for name, value in cors.items()]
    if plan is None:
        status, body = 304, b""
    else:
        status, body = 200, render_feed(snapshot, plan)
        raw += [_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


_NO_CACHE = (b"cache-control", b"private, no-cache")
_JSON = (b"content-type", b"application/json")
