"""The public widget API (publishable key), called from end users' browsers."""

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response, status
from pydantic import ValidationError

from app.db import SessionDep
from app.errors import NotFound, invalid_input
from app.kit.bodies import read_json_object
from app.kit.etags import if_none_match_hits
from app.widget.cache import WorkspaceSnapshot, WorkspaceSnapshotCache
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
    Feed,
    Visitor,
    is_allowed_origin,
    refuse_foreign_origin,
    widget_service,
)
from app.workspaces.auth import PublishableKeyAuth, require_publishable_key

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


async def _snapshot(request: Request, session: SessionDep, workspace_id: str) -> WorkspaceSnapshot:
    cache: WorkspaceSnapshotCache = request.app.state.snapshot_cache
    snapshot = await cache.get(session, workspace_id)
    if snapshot is None:
        raise NotFound("This workspace no longer exists.")
    return snapshot


def _cors(request: Request, response: Response, snapshot: WorkspaceSnapshot) -> None:
    """Echo an allowed Origin exactly; a foreign one gets no CORS headers at all."""
    response.headers["Vary"] = "Origin"
    origin = request.headers.get("origin")
    if origin is not None and is_allowed_origin(origin, snapshot):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "ETag"


def _feed_response(request: Request, feed: Feed, snapshot: WorkspaceSnapshot) -> Response:
    headers = {"ETag": feed.etag, "Cache-Control": "private, no-cache"}
    if if_none_match_hits(request.headers.get("if-none-match"), feed.etag.strip('"')):
        response = Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    else:
        response = Response(orjson.dumps(feed.body), media_type="application/json", headers=headers)
    _cors(request, response, snapshot)
    return response


@router.get(
    "/announcements",
    response_model=FeedResponse,
    responses={304: {"description": "Not modified (If-None-Match matched the ETag)."}},
)
async def get_feed(
    request: Request,
    session: SessionDep,
    auth: PublishableKeyAuth,
    user_id: Annotated[UserId | None, Query()] = None,
    user_hash: Annotated[UserHash | None, Query()] = None,
    anonymous_id: Annotated[AnonymousId | None, Query()] = None,
    locale: Annotated[LocaleTag | None, Query()] = None,
) -> Response:
    """The announcements this end user should see, with their state and the unread count.

    Strong `ETag`; `If-None-Match` answers 304 with no body when nothing changed.
    """
    snapshot = await _snapshot(request, session, auth.workspace_id)
    visitor = Visitor(user_id, anonymous_id, user_hash)
    feed = await widget_service.feed(
        session, snapshot, visitor, locale, request.headers.get("user-agent")
    )
    return _feed_response(request, feed, snapshot)


@router.post("/identify", response_model=FeedResponse, openapi_extra=_body_doc(IdentifyRequest))
async def identify(request: Request, session: SessionDep, auth: PublishableKeyAuth) -> Response:
    """Store the end user's attributes (and merge an anonymous visitor), then return the feed."""
    snapshot = await _snapshot(request, session, auth.workspace_id)
    refuse_foreign_origin(request.headers.get("origin"), snapshot)
    payload = await read_json_object(request)
    try:
        identify_request = IdentifyRequest.model_validate(payload)
    except ValidationError as exc:
        raise invalid_input(exc) from None
    feed = await widget_service.identify(
        session, snapshot, identify_request, request.headers.get("user-agent")
    )
    return _feed_response(request, feed, snapshot)


@router.post(
    "/events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EventsResult,
    openapi_extra=_body_doc(EventsRequest),
)
async def record_events(
    request: Request, session: SessionDep, auth: PublishableKeyAuth
) -> Response:
    """Record a batch of engagement events; each is accepted, a duplicate, or rejected.

    202 means committed. Retrying a batch never counts an event twice.
    """
    snapshot = await _snapshot(request, session, auth.workspace_id)
    refuse_foreign_origin(request.headers.get("origin"), snapshot)
    payload = await read_json_object(request)
    result = await widget_service.record_events(
        session, snapshot, payload, request.headers.get("user-agent")
    )
    response = Response(
        result.model_dump_json().encode(),
        status_code=status.HTTP_202_ACCEPTED,
        media_type="application/json",
    )
    _cors(request, response, snapshot)
    return response


@router.options("/{path:path}", include_in_schema=False)
async def preflight(request: Request, session: SessionDep, path: str) -> Response:
    """CORS preflight: allowed when the key's workspace admits the Origin."""
    origin = request.headers.get("origin")
    response = Response(status_code=status.HTTP_204_NO_CONTENT, headers={"Vary": "Origin"})
    if origin is None:
        return response
    if "key" in request.query_params:
        key = request.query_params["key"]
        principal = await require_publishable_key(request, session, key, None)
        snapshot = await _snapshot(request, session, principal.workspace_id)
        if not is_allowed_origin(origin, snapshot):
            return response
    # Without a key in the URL the workspace is unknown here; the request itself is checked.
    response.headers.update(
        {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": "Content-Type, X-Tidings-Key, If-None-Match",
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
        }
    )
    return response
