"""The widget API's other routes (publishable key): identify and the CORS preflight.

The feed and events routes, which every end user of every host product calls, are served
and documented by app/widget/hot_path.py, before FastAPI's per-request machinery, with
the same rules and the same problem+json errors.
"""

from fastapi import APIRouter, Request, Response, status
from pydantic import ValidationError

from app.db import SessionDep
from app.errors import invalid_input
from app.feed.plan import FeedPlan, render_feed
from app.feed.render import changelog_url
from app.feed.schemas import FeedResponse
from app.feed.snapshot import WorkspaceSnapshot
from app.kit.bodies import read_json_object
from app.kit.etags import if_none_match_hits
from app.widget import service
from app.widget.cors import add_cors_headers, is_allowed_origin, refuse_foreign_origin
from app.widget.runtime import WidgetRuntime
from app.widget.schemas import IdentifyRequest, beacon_body_doc
from app.workspaces.auth import PublishableKeyAuth, authenticate_widget_request

router = APIRouter(prefix="/v1/widget", tags=["widget"])

PREFLIGHT_MAX_AGE_S = 600


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
    changelog = changelog_url(
        snapshot.changelog_path,
        snapshot.changelog_host,
        request.url.scheme,
        request.headers.get("host"),
        request.scope.get("root_path", ""),
    )
    body = render_feed(snapshot, plan, changelog)
    return Response(body, media_type="application/json", headers=headers)


@router.post(
    "/identify", response_model=FeedResponse, openapi_extra=beacon_body_doc(IdentifyRequest)
)
async def identify(request: Request, session: SessionDep, auth: PublishableKeyAuth) -> Response:
    """Store the end user's attributes (and merge an anonymous visitor), then return the feed."""
    runtime = _runtime(request)
    snapshot = await runtime.feeds.snapshot(auth.workspace_id)
    refuse_foreign_origin(request.headers.get("origin"), snapshot)
    payload = await read_json_object(request)
    try:
        identify_request = IdentifyRequest.model_validate(payload)
    except ValidationError as exc:
        raise invalid_input(exc) from None
    plan = await service.identify(
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
        snapshot = await _runtime(request).feeds.snapshot(principal.workspace_id)
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
