"""The public widget API (publishable key), called from end users' browsers.

The feed and events routes are the hot path: every end user of every host product calls
them. FastAPI documents them (the functions below give their OpenAPI entries), but they are
served by plain Starlette handlers (``serve_feed``, ``serve_events``) that skip FastAPI's
per-request dependency machinery and validate their few inputs by hand, with the same
rules and the same problem+json errors. ``install_lean_handlers`` wires that up.
"""

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request, Response, status
from pydantic import ValidationError
from starlette.routing import Match, Route
from starlette.types import Scope

from app.db import SessionDep
from app.errors import invalid_field, invalid_input
from app.kit.bodies import read_json_object
from app.kit.etags import if_none_match_hits
from app.widget.cache import WorkspaceSnapshot
from app.widget.feed import FeedPlan, Visitor, render_feed
from app.widget.runtime import WidgetRuntime
from app.widget.schemas import (
    AnonymousId,
    EventsRequest,
    EventsResult,
    FeedResponse,
    IdentifyRequest,
    LocaleTag,
    UserHash,
    UserId,
)
from app.widget.service import is_allowed_origin, refuse_foreign_origin, widget_service
from app.workspaces.auth import PublishableKeyAuth, authenticate_widget_request

router = APIRouter(prefix="/v1/widget", tags=["widget"])

PREFLIGHT_MAX_AGE_S = 600
_QUERY_LIMITS = {"user_id": 256, "user_hash": 128, "anonymous_id": 64, "locale": 35}


def _body_doc(model: type[Any]) -> dict[str, Any]:
    content = {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}},
        "text/plain": {
            "schema": {"type": "string", "description": "The same JSON, as sendBeacon sends it."}
        },
    }
    return {"requestBody": {"required": True, "content": content}}


def _runtime(request: Request) -> WidgetRuntime:
    runtime: WidgetRuntime = request.app.state.widget
    return runtime


def _cors(request: Request, headers: dict[str, str], snapshot: WorkspaceSnapshot) -> None:
    """Echo an allowed Origin exactly; a foreign one gets no CORS headers at all."""
    headers["Vary"] = "Origin"
    origin = request.headers.get("origin")
    if origin is not None and is_allowed_origin(origin, snapshot):
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = "ETag"


def _feed_response(request: Request, plan: FeedPlan, snapshot: WorkspaceSnapshot) -> Response:
    headers = {"ETag": plan.etag, "Cache-Control": "private, no-cache"}
    _cors(request, headers, snapshot)
    if if_none_match_hits(request.headers.get("if-none-match"), plan.etag.strip('"')):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(render_feed(snapshot, plan), media_type="application/json", headers=headers)


def _query(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is not None and not 1 <= len(value) <= _QUERY_LIMITS[name]:
        raise invalid_field(name, f"must be 1 to {_QUERY_LIMITS[name]} characters")
    return value


async def serve_feed(request: Request) -> Response:
    principal = await authenticate_widget_request(request)
    runtime = _runtime(request)
    snapshot = await runtime.snapshot(principal.workspace_id)
    visitor = Visitor(
        _query(request, "user_id"), _query(request, "anonymous_id"), _query(request, "user_hash")
    )
    plan = await widget_service.feed(
        runtime, snapshot, visitor, _query(request, "locale"), request.headers.get("user-agent")
    )
    return _feed_response(request, plan, snapshot)


async def serve_events(request: Request) -> Response:
    principal = await authenticate_widget_request(request)
    runtime = _runtime(request)
    snapshot = await runtime.snapshot(principal.workspace_id)
    refuse_foreign_origin(request.headers.get("origin"), snapshot)
    payload = await read_json_object(request)
    result = await widget_service.record_events(
        runtime, snapshot, payload, request.headers.get("user-agent")
    )
    headers: dict[str, str] = {}
    _cors(request, headers, snapshot)
    return Response(
        result.model_dump_json().encode(),
        status_code=status.HTTP_202_ACCEPTED,
        media_type="application/json",
        headers=headers,
    )


@router.get(
    "/announcements",
    response_model=FeedResponse,
    responses={304: {"description": "Not modified (If-None-Match matched the ETag)."}},
)
async def get_feed(
    _auth: PublishableKeyAuth,
    user_id: Annotated[UserId | None, Query()] = None,
    user_hash: Annotated[UserHash | None, Query()] = None,
    anonymous_id: Annotated[AnonymousId | None, Query()] = None,
    locale: Annotated[LocaleTag | None, Query()] = None,
) -> Response:
    """The announcements this end user should see, with their state and the unread count.

    Strong `ETag`; `If-None-Match` answers 304 with no body when nothing changed.
    """
    raise AssertionError("served by serve_feed")  # pragma: no cover


@router.post(
    "/events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EventsResult,
    openapi_extra=_body_doc(EventsRequest),
)
async def record_events(_auth: PublishableKeyAuth) -> Response:
    """Record a batch of engagement events; each is accepted, a duplicate, or rejected.

    202 means committed. Retrying a batch never counts an event twice.
    """
    raise AssertionError("served by serve_events")  # pragma: no cover


@router.post("/identify", response_model=FeedResponse, openapi_extra=_body_doc(IdentifyRequest))
async def identify(request: Request, session: SessionDep, auth: PublishableKeyAuth) -> Response:
    """Store the end user's attributes (and merge an anonymous visitor), then return the feed."""
    runtime = _runtime(request)
    snapshot = await runtime.snapshot(auth.workspace_id)
    refuse_foreign_origin(request.headers.get("origin"), snapshot)
    payload = await read_json_object(request)
    try:
        identify_request = IdentifyRequest.model_validate(payload)
    except ValidationError as exc:
        raise invalid_input(exc) from None
    plan = await widget_service.identify(
        session, snapshot, identify_request, request.headers.get("user-agent")
    )
    return _feed_response(request, plan, snapshot)


@router.options("/{path:path}", include_in_schema=False)
async def preflight(request: Request, path: str) -> Response:
    """CORS preflight: allowed when the key's workspace admits the Origin."""
    origin = request.headers.get("origin")
    headers = {"Vary": "Origin"}
    if origin is not None and "key" in request.query_params:
        principal = await authenticate_widget_request(request)
        snapshot = await _runtime(request).snapshot(principal.workspace_id)
        if not is_allowed_origin(origin, snapshot):
            origin = None
    # Without a key in the URL the workspace is unknown here; the request itself is checked.
    if origin is not None:
        headers.update(
            {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": "GET, POST",
                "Access-Control-Allow-Headers": "Content-Type, X-Tidings-Key, If-None-Match",
                "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
            }
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=headers)


class _LeanRoute(Route):
    """A Starlette route that names itself in the scope, for metrics and access logs."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def install_lean_handlers(app: FastAPI) -> None:
    """Serve the documented hot routes with their Starlette handlers.

    The Starlette routes go first, so they match before the documented FastAPI ones.
    """
    lean = [
        _LeanRoute("/v1/widget/announcements", serve_feed, methods=["GET"]),
        _LeanRoute("/v1/widget/events", serve_events, methods=["POST"]),
    ]
    app.router.routes[0:0] = lean
