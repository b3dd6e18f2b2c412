"""Engagement for product managers: exact figures, per announcement and per workspace."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from app.announcements.lifecycle import state_at
from app.announcements.service import announcement_service
from app.engagement.repository import EngagementRepository
from app.engagement.series import (
    Interval,
    add_counts,
    buckets,
    empty_counts,
    figures,
    floor_to,
    fold_into_buckets,
    local_midnight,
)
from app.errors import invalid_field
from app.kit.pagination import decode_cursor, encode_cursor
from app.kit.time import supported_day, supported_instant, utc_now
from app.workspaces.repository import WorkspaceRepository

MAX_RANGE = timedelta(days=400)
DEFAULT_RANGE = timedelta(days=30)
SORTABLE = (
    "impressions",
    "unique_viewers",
    "clicks",
    "unique_clickers",
    "dismissals",
    "ctr",
    "dismiss_rate",
    "published_at",
    "title",
)


@dataclass(frozen=True, slots=True)
class StatsRange:
    start: datetime
    end: datetime
    interval: Interval
    zone: ZoneInfo

    def describe(self) -> dict[str, Any]:
        return {
            "from": self.start.astimezone(self.zone).isoformat(),
            "to": self.end.astimezone(self.zone).isoformat(),
            "interval": self.interval.value,
            "tz": self.zone.key,
        }


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid_field(
            "tz", f"{name!r} is not an IANA time zone (e.g. Europe/Berlin)"
        ) from None


def _moment(text: str, field: str, zone: ZoneInfo, *, end_of_day: bool) -> datetime:
    """A bound given as a date (a whole day in ``zone``) or a date-time, in the supported range."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
        else:
            parsed = datetime.fromisoformat(text)
    except ValueError:
        raise invalid_field(field, "must be a date (2026-11-30) or a date-time") from None
    try:
        if len(text) == 10:
            supported_day(day)
            return local_midnight(day + timedelta(days=1) if end_of_day else day, zone)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=zone)
        return supported_instant(parsed).astimezone(UTC)
    except ValueError as exc:
        raise invalid_field(field, str(exc)) from None


def resolve_range(
    from_: str | None,
    to: str | None,
    interval: Interval,
    tz: str,
    default_start: datetime | None = None,
) -> StatsRange:
    """The bounds as UTC instants on bucket boundaries in ``tz``: ``[from, to)``.

    A bare date ``to`` includes that whole day. Defaults: the last 30 days up to now.
    """
    zone = _zone(tz)
    now = utc_now()
    end = _moment(to, "to", zone, end_of_day=True) if to else now
    start = _moment(from_, "from", zone, end_of_day=False) if from_ else None
    if start is None:
        start = max(default_start or end - DEFAULT_RANGE, end - MAX_RANGE)
    if start > end:
        raise invalid_field("from", "must not be after to")
    if end - start > MAX_RANGE:
        raise invalid_field("to", "the range may span at most 400 days")
    aligned_start = floor_to(start, interval, zone)
    aligned_end = floor_to(end, interval, zone)
    if aligned_end < end:  # round up, so the bucket holding `to` is whole
        aligned_end = buckets(aligned_end, aligned_end + timedelta(days=2), interval, zone)[1].start
    return StatsRange(aligned_start, aligned_end, interval, zone)


class EngagementService:
    async def default_zone(self, session: AsyncSession, workspace_id: str) -> str:
        """The zone figures are counted in when the request names none: the workspace's
        ``time_zone``, else UTC."""
        workspace = await WorkspaceRepository(session).get(workspace_id)
        return (workspace.time_zone if workspace is not None else None) or "UTC"

    async def announcement_stats(
        self, session: AsyncSession, workspace_id: str, announcement_id: str, window: StatsRange
    ) -> dict[str, Any]:
        await announcement_service.get(session, workspace_id, announcement_id)
        rows = await EngagementRepository(session).buckets_of(
            workspace_id, announcement_id, window.start, window.end
        )
        series = buckets(window.start, window.end, window.interval, window.zone)
        sums = fold_into_buckets(series, rows)
        total = empty_counts()
        for counts in sums:
            add_counts(total, counts)
        return {
            "announcement_id": announcement_id,
            **window.describe(),
            "totals": figures(total),
            "series": [
                {"start": bucket.label.isoformat(), **figures(counts)}
                for bucket, counts in zip(series, sums, strict=True)
            ],
        }

    async def workspace_stats(
        self,
        session: AsyncSession,
        workspace_id: str,
        window: StatsRange,
        sort: str,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        repository = EngagementRepository(session)
        announcements = await repository.reportable_announcements(workspace_id)
        totals = await repository.totals_by_announcement(workspace_id, window.start, window.end)
        now = utc_now()
        rows = []
        for announcement in announcements:
            counts = totals.get(announcement.id) or empty_counts()
            rows.append(
                {
                    "announcement_id": announcement.id,
                    "title": announcement.title,
                    "state": state_at(
                        announcement.status, announcement.publish_at, announcement.expire_at, now
                    ).value,
                    "published_at": announcement.published_at,
                    **figures(counts),
                }
            )
        descending = sort.startswith("-")
        key = sort.lstrip("-")
        if key not in SORTABLE:
            raise invalid_field(
                "sort", f"sort by one of {', '.join(SORTABLE)} (prefix - for descending)"
            )
        rows.sort(key=lambda row: row["announcement_id"], reverse=True)
        rows.sort(key=lambda row: _sort_value(row[key]), reverse=descending)
        offset = _offset(cursor, sort) if cursor else 0
        page = rows[offset : offset + limit]
        more = offset + limit < len(rows)
        next_cursor = encode_cursor({"offset": offset + limit, "sort": sort}) if more else None
        return page, next_cursor

    async def purge_events(self, session: AsyncSession, older_than: timedelta) -> int:
        cutoff = utc_now() - older_than
        return await EngagementRepository(session).purge_events_received_before(cutoff)


def _sort_value(value: Any) -> tuple[int, Any]:
    # Missing figures (a ratio with no viewers, never published) sort as the smallest.
    return (0, 0) if value is None else (1, value)


def _offset(cursor: str, sort: str) -> int:
    position = decode_cursor(cursor)
    offset = position.get("offset")
    if not isinstance(offset, int) or offset < 0 or position.get("sort") != sort:
        raise invalid_field("cursor", "was made for another listing; start without one")
    return offset


engagement_service = EngagementService()
