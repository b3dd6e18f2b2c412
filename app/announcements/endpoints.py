from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from app.accounts.audit import Actor
from app.announcements.audience_preview import audience_preview_service
from app.announcements.lifecycle import state_at
from app.announcements.repository import ListFilters
from app.announcements.schemas import (
    AnnouncementCreate,
    AnnouncementPage,
    AnnouncementPublic,
    AnnouncementUpdate,
    State,
)
from app.announcements.service import announcement_service
from app.db import SessionDep
from app.errors import problem_responses
from app.kit.etags import quote_etag
from app.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from app.kit.time import utc_now
from app.models import Announcement
from app.targeting.schemas import AudiencePreview, AudiencePreviewRequest
from app.workspaces.auth import SecretKeyAuth

router = APIRouter(prefix="/v1/announcements", tags=["announcements"])
audience_preview_router = APIRouter(prefix="/v1")

_ETAG_HEADER = {"ETag": {"description": "The announcement's version, for If-Match."}}


def to_public(announcement: Announcement) -> AnnouncementPublic:
    state = state_at(
        announcement.status, announcement.publish_at, announcement.expire_at, utc_now()
    )
    return AnnouncementPublic.model_validate(
        {**announcement.model_dump(), "state": state}, from_attributes=False
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={201: {"headers": _ETAG_HEADER}, **problem_responses(409)},
)
async def create_announcement(
    data: AnnouncementCreate, session: SessionDep, auth: SecretKeyAuth, response: Response
) -> AnnouncementPublic:
    """Create an announcement (a draft unless `status` says otherwise)."""
    announcement = await announcement_service.create(
        session, auth.workspace_id, data, actor=Actor.of_api_key(auth)
    )
    response.headers["ETag"] = quote_etag(announcement.version)
    response.headers["Location"] = f"/v1/announcements/{announcement.id}"
    return to_public(announcement)


@router.get("")
async def list_announcements(
    session: SessionDep,
    auth: SecretKeyAuth,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    state: State | None = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in the title.")] = None,
    pinned_first: bool = False,
) -> AnnouncementPage:
    """List announcements, newest first (pinned ones first with `pinned_first=true`)."""
    filters = ListFilters(state=state, category=category, text=q, pinned_first=pinned_first)
    page = await announcement_service.list(session, auth.workspace_id, filters, limit, cursor)
    return AnnouncementPage(
        data=[to_public(item) for item in page.items], next_cursor=page.next_cursor
    )


@router.get("/{announcement_id}", responses={200: {"headers": _ETAG_HEADER}})
async def get_announcement(
    announcement_id: str, session: SessionDep, auth: SecretKeyAuth, response: Response
) -> AnnouncementPublic:
    """One announcement, with its version as `ETag`."""
    announcement = await announcement_service.get(session, auth.workspace_id, announcement_id)
    response.headers["ETag"] = quote_etag(announcement.version)
    return to_public(announcement)


@router.patch(
    "/{announcement_id}",
    responses={200: {"headers": _ETAG_HEADER}, **problem_responses(409, 412)},
)
async def update_announcement(
    announcement_id: str,
    data: AnnouncementUpdate,
    session: SessionDep,
    auth: SecretKeyAuth,
    response: Response,
    if_match: Annotated[str | None, Header(description='The ETag you read, e.g. "3".')] = None,
) -> AnnouncementPublic:
    """Change the fields sent. With `If-Match`, a stale version is refused (412)."""
    announcement = await announcement_service.update(
        session,
        auth.workspace_id,
        announcement_id,
        data,
        actor=Actor.of_api_key(auth),
        if_match=if_match,
    )
    response.headers["ETag"] = quote_etag(announcement.version)
    return to_public(announcement)


@router.delete(
    "/{announcement_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(409),
)
async def delete_announcement(
    announcement_id: str, session: SessionDep, auth: SecretKeyAuth
) -> None:
    """Delete a draft. Published or archived announcements are archived, not deleted (409)."""
    await announcement_service.delete(
        session, auth.workspace_id, announcement_id, actor=Actor.of_api_key(auth)
    )


@audience_preview_router.post("/audience/preview", tags=["targeting"])
async def preview_audience(
    data: AudiencePreviewRequest, session: SessionDep, auth: SecretKeyAuth
) -> AudiencePreview:
    """Would this user match, and why? Send one of `condition`, `segment_id`, `announcement_id`.

    `reasons` traces every sub-condition (pass or fail, with the user's value), each
    segment, the rollout bucket and, for an announcement, its status and publish window:
    `match` is true for an announcement only when its audience matches and it is live.
    Nothing is recorded; built-in attributes (`id`, `anonymous`, `locale`, `device`) come
    from `user`, under the user's own `attributes`.
    """
    return await audience_preview_service.preview(session, auth.workspace_id, data)
