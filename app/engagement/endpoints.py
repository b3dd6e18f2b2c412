from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response

from app.announcements.service import announcement_service
from app.db import SessionDep
from app.engagement.csv_export import announcement_csv, workspace_csv
from app.engagement.schemas import AnnouncementStatsOut, WorkspaceStatsOut
from app.engagement.series import Interval
from app.engagement.service import engagement_service, resolve_range
from app.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from app.workspaces.auth import SecretKeyAuth

router = APIRouter(tags=["engagement"])

# Either form is accepted; the format names that for readers and for the API fuzzing.
_MOMENT = {"format": "date-or-date-time"}
FromQuery = Annotated[
    str | None,
    Query(
        alias="from",
        max_length=40,
        description="Start: a date (whole day) or a date-time.",
        json_schema_extra=_MOMENT,
    ),
]
ToQuery = Annotated[
    str | None,
    Query(
        max_length=40,
        description="End (exclusive; a bare date is included).",
        json_schema_extra=_MOMENT,
    ),
]
TzQuery = Annotated[
    str | None,
    Query(
        max_length=64,
        description="IANA time zone of the buckets (default: the workspace's `time_zone`, "
        "else UTC).",
    ),
]
SortQuery = Annotated[str, Query(max_length=32, description="A figure; prefix - to descend.")]
FormatQuery = Annotated[str | None, Query(pattern="^(json|csv)$", description="json or csv")]
_CSV = {"content": {"text/csv": {"schema": {"type": "string"}}}}


def _wants_csv(request: Request, format_: str | None) -> bool:
    if format_ is not None:
        return format_ == "csv"
    return "text/csv" in request.headers.get("accept", "")


def csv_response(text: str, filename: str) -> Response:
    return Response(
        text.encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _json_response(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


@router.get(
    "/v1/announcements/{announcement_id}/stats",
    response_model=AnnouncementStatsOut,
    responses={200: _CSV},
)
async def announcement_stats(
    announcement_id: str,
    request: Request,
    session: SessionDep,
    auth: SecretKeyAuth,
    from_: FromQuery = None,
    to: ToQuery = None,
    interval: Interval = Interval.day,
    tz: TzQuery = None,
    format: FormatQuery = None,
) -> Response:
    """Engagement of one announcement: totals and a series by hour or day in `tz`.

    Empty buckets are included as zeros. Unique figures count each end user once, in the
    bucket of their first impression, click or dismissal. CSV with `Accept: text/csv` or
    `?format=csv`.
    """
    announcement = await announcement_service.get(session, auth.workspace_id, announcement_id)
    zone = tz or await engagement_service.default_zone(session, auth.workspace_id)
    window = resolve_range(from_, to, interval, zone, default_start=announcement.created_at)
    stats = await engagement_service.announcement_stats(
        session, auth.workspace_id, announcement_id, window
    )
    if _wants_csv(request, format):
        return csv_response(announcement_csv(stats), f"{announcement_id}-stats.csv")
    return _json_response(stats)


@router.get("/v1/stats", response_model=WorkspaceStatsOut, responses={200: _CSV})
async def workspace_stats(
    request: Request,
    session: SessionDep,
    auth: SecretKeyAuth,
    from_: FromQuery = None,
    to: ToQuery = None,
    tz: TzQuery = None,
    sort: SortQuery = "-impressions",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    format: FormatQuery = None,
) -> Response:
    """One row per announcement that went out, with the same figures over the range.

    CSV (`Accept: text/csv` or `?format=csv`) has every row, not one page.
    """
    zone = tz or await engagement_service.default_zone(session, auth.workspace_id)
    window = resolve_range(from_, to, Interval.day, zone)
    wants_csv = _wants_csv(request, format)
    rows, next_cursor = await engagement_service.workspace_stats(
        session,
        auth.workspace_id,
        window,
        sort,
        limit=10**9 if wants_csv else limit,
        cursor=None if wants_csv else cursor,
    )
    if wants_csv:
        return csv_response(workspace_csv(rows), "stats.csv")
    described = window.describe()
    del described["interval"]
    return _json_response({**described, "data": rows, "next_cursor": next_cursor})
