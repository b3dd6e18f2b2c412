"""The public widget API (publishable key), called from end users' browsers.

The feed and events routes are the hot path: every end user of every host product calls
them. FastAPI documents them (the functions below give their OpenAPI entries), but they
are served by app/widget/hot_path.py, before FastAPI's per-request machinery, with the
same rules and the same problem+json errors.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import ValidationError

from app.db import SessionDep
from app.errors import invalid_input
from app.kit.bodies import read_json_object
from app.kit.etags import if_none_match_hits
from app.widget.cache import WorkspaceSnapshot
from app.widget.feed import FeedPlan, render_feed
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
from app.widget.service import (
    add_cors_headers,
    is_allowed_origin,
    refuse_foreign_origin,
    widget_service,
)
from app.workspaces.auth import PublishableKeyAuth, authenticate_widget_request

router = APIRouter(prefix="/v1/widget", tags=["widget"])

PREFLIGHT_MAX_AGE_S = 600


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
    add_cors_headers(headers, request.headers.get("origin"), snapshot)


def _feed_response(request: Request, plan: FeedPlan, snapshot: WorkspaceSnapshot) -> Response:
    headers = {"ETag": plan.etag, "Cache-Control": "private, no-cache"}
    _cors(request, headers, snapshot)
    if if_none_match_hits(request.headers.get("if-none-match"), plan.etag.strip('"')):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(render_feed(snapshot, plan), media_type="application/json", headers=headers)


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
    raise AssertionError("served by app/widget/hot_path.py")  # pragma: no cover


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
    raise AssertionError("served by app/widget/hot_path.py")  # pragma: no cover


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
