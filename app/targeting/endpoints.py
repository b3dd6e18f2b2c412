from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from app.accounts.audit import Actor
from app.db import SessionDep
from app.errors import problem_responses
from app.kit.etags import quote_etag
from app.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from app.targeting.schemas import (
    SegmentCreate,
    SegmentPage,
    SegmentPublic,
    SegmentUpdate,
)
from app.targeting.service import segment_service
from app.workspaces.auth import SecretKeyAuth

router = APIRouter(prefix="/v1")

_ETAG_HEADER = {"ETag": {"description": "The segment's version, for If-Match."}}


@router.post(
    "/segments",
    status_code=status.HTTP_201_CREATED,
    tags=["segments"],
    responses={201: {"headers": _ETAG_HEADER}, **problem_responses(409)},
)
async def create_segment(
    data: SegmentCreate, session: SessionDep, auth: SecretKeyAuth, response: Response
) -> SegmentPublic:
    """Save a named condition that announcements can target with `audience.segments`."""
    segment = await segment_service.create(
        session, auth.workspace_id, data, actor=Actor.of_api_key(auth)
    )
    response.headers["ETag"] = quote_etag(segment.version)
    response.headers["Location"] = f"/v1/segments/{segment.id}"
    return SegmentPublic.model_validate(segment)


@router.get("/segments", tags=["segments"])
async def list_segments(
    session: SessionDep,
    auth: SecretKeyAuth,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> SegmentPage:
    """List the workspace's segments, newest first."""
    page = await segment_service.list(session, auth.workspace_id, limit, cursor)
    return SegmentPage(
        data=[SegmentPublic.model_validate(item) for item in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/segments/{segment_id}", tags=["segments"], responses={200: {"headers": _ETAG_HEADER}})
async def get_segment(
    segment_id: str, session: SessionDep, auth: SecretKeyAuth, response: Response
) -> SegmentPublic:
    """One segment, with its version as `ETag`."""
    segment = await segment_service.get(session, auth.workspace_id, segment_id)
    response.headers["ETag"] = quote_etag(segment.version)
    return SegmentPublic.model_validate(segment)


@router.patch(
    "/segments/{segment_id}",
    tags=["segments"],
    responses={200: {"headers": _ETAG_HEADER}, **problem_responses(409, 412)},
)
async def update_segment(
    segment_id: str,
    data: SegmentUpdate,
    session: SessionDep,
    auth: SecretKeyAuth,
    response: Response,
    if_match: Annotated[str | None, Header(description='The ETag you read, e.g. "3".')] = None,
) -> SegmentPublic:
    """Change the fields sent; a new condition applies at once to every announcement using it.

    With `If-Match`, a stale version is refused (412).
    """
    segment = await segment_service.update(
        session,
        auth.workspace_id,
        segment_id,
        data,
        actor=Actor.of_api_key(auth),
        if_match=if_match,
    )
    response.headers["ETag"] = quote_etag(segment.version)
    return SegmentPublic.model_validate(segment)


@router.delete(
    "/segments/{segment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["segments"],
    responses={409: {"description": "Announcements still use the segment; they are named."}},
)
async def delete_segment(segment_id: str, session: SessionDep, auth: SecretKeyAuth) -> None:
    """Delete a segment. While announcements use it, 409 names them (ids and titles)."""
    await segment_service.delete(
        session, auth.workspace_id, segment_id, actor=Actor.of_api_key(auth)
    )
