"""The two routes every end user calls: ``GET /v1/widget/announcements`` and
``POST /v1/widget/events``, hot routes (app/kit/hot_routes.py) since they decide what a
Tidings server costs to run. ``WIDGET_HOT_ROUTES`` declares each once: the endpoint that
serves it, and the pydantic models its OpenAPI entry is generated from; the query's
bounds the endpoint checks come from those models.

Both are raw ASGI endpoints: they read the few query parameters and headers they need
themselves, with the same rules and errors as the rest of the API (``app.kit.bodies``,
``app.workspaces.auth``), and send bytes.
"""

from collections.abc import Callable, Mapping

from pydantic import BaseModel
from starlette.types import Receive, Scope, Send

from app.end_users.visitors import Visitor
from app.errors import invalid_field
from app.feed.plan import render_feed
from app.feed.render import changelog_url
from app.feed.schemas import FeedQuery, FeedResponse
from app.feed.snapshot import WorkspaceSnapshot
from app.ingest.ingestor import BUSY
from app.ingest.schemas import EventsRequest, EventsResult
from app.kit.bodies import parse_json_object, receive_body, refuse_other_than_json
from app.kit.hot_routes import HotRoute, headers_of, query_pairs
from app.middleware import deadline_of
from app.serving import shed_when_busy
from app.widget.cors import add_cors_headers, refuse_foreign_origin
from app.widget.runtime import WidgetRuntime
from app.widget.schemas import beacon_body_doc
from app.workspaces.auth import QueryPairs, publishable_key_from
from app.workspaces.key_cache import PublishableKeyCache

# --- the feed --------------------------------------------------------------------------

# The headers the two routes read.
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
    headers = headers_of(scope, _HEADERS)
    pairs = query_pairs(scope)
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
    headers = headers_of(scope, _HEADERS)
    runtime, snapshot = await _workspace_of(scope, headers, query_pairs(scope))
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


_TAGS = ("widget",)
_SECURITY: tuple[dict[str, list[str]], ...] = ({"APIKeyQuery": []}, {"APIKeyHeader": []})

WIDGET_HOT_ROUTES = (
    HotRoute(
        "/v1/widget/announcements",
        "GET",
        serve_feed,
        name="get_feed",
        status=200,
        tags=_TAGS,
        security=_SECURITY,
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
        tags=_TAGS,
        security=_SECURITY,
        response=EventsResult,
        body=EventsRequest,
        request_body=beacon_body_doc(EventsRequest)["requestBody"],
    ),
)


def shed_events_when_busy(runtime: WidgetRuntime) -> Callable[[], None]:
    """While the event writer's queue is full, batches are refused before the application
    (app/serving.py), not after reaching ``serve_events``. Returns what undoes it."""
    return shed_when_busy("POST", EVENTS_PATH, runtime.ingestor.is_busy, BUSY)
