"""Engagement pages of the console: one announcement's figures over time (charts, the same
series as a table, CSV) and the workspace overview (every announcement's figures, sortable).

The figures are ``engagement_service``'s, for the range the API would be asked: the form's
preset or dates become the ``from``/``to``/``interval``/``tz`` of
``GET /v1/announcements/{id}/stats`` (and ``GET /v1/stats``), and the CSV links carry
exactly those, so a download is the API's CSV of what the page shows."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query, Request, Response

from app.announcements.endpoints import to_public
from app.announcements.service import announcement_service
from app.console.auth import WorkspaceDep
from app.console.routing import ConsoleRoute, Refused, pages_of
from app.db import SessionDep
from app.engagement.csv_export import announcement_csv, workspace_csv
from app.engagement.endpoints import csv_response
from app.engagement.series import Interval
from app.engagement.service import SORTABLE, StatsRange, engagement_service, resolve_range
from app.errors import InvalidInput
from app.kit.time import utc_now

router = APIRouter(prefix="/console/w/{slug}", route_class=ConsoleRoute, include_in_schema=False)

PRESETS = ("7", "30", "90")
DEFAULT_PRESET = "30"
# By hour, a month is 744 points: more would be a chart nobody can read and a huge table.
MAX_HOURLY_RANGE = timedelta(days=31)
# Set by console.js from the browser (Intl), so charts default to the reader's own zone.
ZONE_COOKIE = "tidings_tz"
# Chart series and table columns: (key in the figures, label).
SERIES = {
    "impressions": "Impressions",
    "unique_viewers": "Unique viewers",
    "clicks": "Clicks",
    "unique_clickers": "Unique clickers",
    "dismissals": "Dismissals",
    "reactions_positive": "Positive reactions",
    "reactions_neutral": "Neutral reactions",
    "reactions_negative": "Negative reactions",
}
CHARTS = (
    ("views", "Impressions and unique viewers", ("impressions", "unique_viewers")),
    ("actions", "Clicks and dismissals", ("clicks", "unique_clickers", "dismissals")),
    (
        "reactions",
        "Reactions",
        ("reactions_positive", "reactions_neutral", "reactions_negative"),
    ),
)


@dataclass
class RangeForm:
    """The range form as typed, its errors, and the API parameters it stands for."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    window: StatsRange | None = None

    @property
    def api_params(self) -> dict[str, str]:
        """The query of the API call (and of the CSV link) for this range."""
        return {
            "from": self.values["from"],
            "to": self.values["to"],
            "interval": self.values["interval"],
            "tz": self.values["tz"],
        }

    def query(self, **extra: str) -> str:
        return urlencode({**self.api_params, **extra})


def browser_zone(request: Request) -> str:
    """The zone console.js found in the browser, if it is a real one; else UTC."""
    name = request.cookies.get(ZONE_COOKIE, "")
    try:
        return ZoneInfo(name).key if name else "UTC"
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"


def read_range(
    request: Request,
    workspace_zone: str | None,
    range_: str | None,
    from_: str | None,
    to: str | None,
    interval: str | None,
    tz: str | None,
) -> RangeForm:
    """A preset (the last 7, 30 or 90 days, today included) or dates, resolved as the API
    resolves ``from``/``to`` (a bare ``to`` date includes that day). The zone: the one
    asked for, else the workspace's, else the browser's."""
    values = {
        "range": range_ if range_ in (*PRESETS, "custom") else DEFAULT_PRESET,
        "interval": Interval(interval).value if interval in tuple(Interval) else "day",
        "tz": (tz or "").strip() or workspace_zone or browser_zone(request),
        "from": (from_ or "").strip(),
        "to": (to or "").strip(),
    }
    form = RangeForm(values)
    if values["range"] == "custom":
        for name in ("from", "to"):
            if not values[name]:
                form.errors[name] = "Choose a date (or one of the presets)."
        if form.errors:
            return form
    else:
        try:
            today = utc_now().astimezone(ZoneInfo(values["tz"])).date()
        except (ZoneInfoNotFoundError, ValueError):
            today = utc_now().date()  # the zone's own error comes from resolve_range
        days = int(values["range"])
        values["from"] = (today - timedelta(days=days - 1)).isoformat()
        values["to"] = today.isoformat()
    try:
        window = resolve_range(
            values["from"], values["to"], Interval(values["interval"]), values["tz"]
        )
    except InvalidInput as exc:
        for error in exc.errors:
            form.errors.setdefault(error["field"], _sentence(error["message"]))
        return form
    if window.interval is Interval.hour and window.end - window.start > MAX_HOURLY_RANGE:
        form.errors["interval"] = "By hour, choose at most 31 days (or show the figures by day)."
        return form
    form.window = window
    return form


def _sentence(message: str) -> str:
    """The service's message about a parameter, as a sentence about the form's field."""
    message = message.replace("must not be after to", "must not be after the end date")
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def _render(
    request: Request, template: str, form: RangeForm, status_code: int = 200, **context: Any
) -> Response:
    return pages_of(request).render(
        template,
        status_code=status_code,
        form=form,
        presets=PRESETS,
        section="engagement",
        **context,
    )


# --- one announcement ---------------------------------------------------------------------


RangeQuery = Annotated[str | None, Query(alias="range", max_length=10)]
FromQuery = Annotated[str | None, Query(alias="from", max_length=40)]
DateQuery = Annotated[str | None, Query(max_length=40)]
IntervalQuery = Annotated[str | None, Query(max_length=10)]
ZoneQuery = Annotated[str | None, Query(max_length=64)]


@router.get("/announcements/{announcement_id}/engagement")
async def announcement_engagement(
    request: Request,
    announcement_id: str,
    context: WorkspaceDep,
    session: SessionDep,
    range_: RangeQuery = None,
    from_: FromQuery = None,
    to: DateQuery = None,
    interval: IntervalQuery = None,
    tz: ZoneQuery = None,
) -> Response:
    announcement = to_public(
        await announcement_service.get(session, context.workspace.id, announcement_id)
    )
    form = read_range(request, context.workspace.time_zone, range_, from_, to, interval, tz)
    page = "engagement/announcement.html"
    if form.window is None:
        raise Refused(_render(request, page, form, 422, context=context, announcement=announcement))
    stats = await engagement_service.announcement_stats(
        session, context.workspace.id, announcement_id, form.window
    )
    return _render(
        request,
        page,
        form,
        context=context,
        announcement=announcement,
        stats=stats,
        rows=[_table_row(point, form.window.interval) for point in stats["series"]],
        chart=_chart_data(stats),
        charts=CHARTS,
        series_labels=SERIES,
    )


@router.get("/announcements/{announcement_id}/engagement.csv")
async def announcement_engagement_csv(
    request: Request,
    announcement_id: str,
    context: WorkspaceDep,
    session: SessionDep,
    from_: FromQuery = None,
    to: DateQuery = None,
    interval: IntervalQuery = None,
    tz: ZoneQuery = None,
) -> Response:
    """The series shown on the page, as ``GET /v1/announcements/{id}/stats?format=csv``."""
    await announcement_service.get(session, context.workspace.id, announcement_id)
    form = read_range(request, context.workspace.time_zone, "custom", from_, to, interval, tz)
    if form.window is None:
        raise InvalidInput("; ".join(form.errors.values()))
    stats = await engagement_service.announcement_stats(
        session, context.workspace.id, announcement_id, form.window
    )
    return csv_response(announcement_csv(stats), f"{announcement_id}-stats.csv")


def _flat_point(point: dict[str, Any]) -> dict[str, Any]:
    reactions = point["reactions"]
    return {**point, **{f"reactions_{value}": count for value, count in reactions.items()}}


def _table_row(point: dict[str, Any], interval: Interval) -> dict[str, Any]:
    start = datetime.fromisoformat(point["start"])
    shown = start.strftime("%a %Y-%m-%d")
    if interval is Interval.hour:
        shown = start.strftime("%a %Y-%m-%d %H:%M (UTC%z)")
    return {**_flat_point(point), "start_shown": shown}


def _chart_data(stats: dict[str, Any]) -> dict[str, Any]:
    """What engagement.js draws: bucket starts (Unix seconds) and one list per series."""
    points = [_flat_point(point) for point in stats["series"]]
    return {
        "tz": stats["tz"],
        "interval": stats["interval"],
        "x": [int(datetime.fromisoformat(point["start"]).timestamp()) for point in points],
        "series": {key: [point[key] for point in points] for key in SERIES},
        "labels": SERIES,
    }


# --- the workspace overview ---------------------------------------------------------------


def _sort(sort: str | None) -> str:
    key = (sort or "").lstrip("-")
    return sort if sort and key in SORTABLE else "-impressions"


@router.get("/engagement")
async def workspace_engagement(
    request: Request,
    context: WorkspaceDep,
    session: SessionDep,
    range_: RangeQuery = None,
    from_: FromQuery = None,
    to: DateQuery = None,
    tz: ZoneQuery = None,
    sort: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    form = read_range(request, context.workspace.time_zone, range_, from_, to, Interval.day, tz)
    order = _sort(sort)
    page = "engagement/workspace.html"
    if form.window is None:
        raise Refused(_render(request, page, form, 422, context=context, sort=order, rows=[]))
    rows, _ = await engagement_service.workspace_stats(
        session, context.workspace.id, form.window, order, limit=10**9, cursor=None
    )
    return _render(
        request,
        page,
        form,
        context=context,
        sort=order,
        rows=[_flat_point(row) for row in rows],
        columns=_COLUMNS,
    )


@router.get("/engagement.csv")
async def workspace_engagement_csv(
    request: Request,
    context: WorkspaceDep,
    session: SessionDep,
    from_: FromQuery = None,
    to: DateQuery = None,
    tz: ZoneQuery = None,
    sort: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """The overview's rows, as ``GET /v1/stats?format=csv``."""
    form = read_range(request, context.workspace.time_zone, "custom", from_, to, Interval.day, tz)
    if form.window is None:
        raise InvalidInput("; ".join(form.errors.values()))
    rows, _ = await engagement_service.workspace_stats(
        session, context.workspace.id, form.window, _sort(sort), limit=10**9, cursor=None
    )
    return csv_response(workspace_csv(rows), "stats.csv")


# The overview's sortable columns: (sort key, heading, is a number).
_COLUMNS = (
    ("title", "Announcement", False),
    ("published_at", "Published", False),
    ("impressions", "Impressions", True),
    ("unique_viewers", "Unique viewers", True),
    ("clicks", "Clicks", True),
    ("ctr", "CTR", True),
    ("dismissals", "Dismissals", True),
    ("dismiss_rate", "Dismiss rate", True),
)
