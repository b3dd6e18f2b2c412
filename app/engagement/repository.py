"""Queries over the per-quarter-hour counters (and the raw events' retention)."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlmodel import col

from app.engagement.counting import COUNTERS
from app.engagement.statements import add_stats
from app.kit.repository import Repository
from app.models import Announcement, AnnouncementStats, Event

_STATS = AnnouncementStats.__table__.c  # type: ignore[attr-defined]


class EngagementRepository(Repository):
    async def add_stats(self, rows: list[dict[str, Any]]) -> None:
        """Add to the quarter-hour counters (rows from ``StatsDelta.rows``)."""
        if rows:
            await self.session.execute(add_stats(self.dialect, rows))

    async def buckets_of(
        self, workspace_id: str, announcement_id: str, start: datetime, end: datetime
    ) -> Sequence[Any]:
        statement = (
            select(AnnouncementStats)
            .where(
                col(AnnouncementStats.workspace_id) == workspace_id,
                col(AnnouncementStats.announcement_id) == announcement_id,
                col(AnnouncementStats.bucket) >= start,
                col(AnnouncementStats.bucket) < end,
            )
            .order_by(col(AnnouncementStats.bucket))
        )
        rows = (await self.session.execute(statement)).scalars().all()
        return [row.model_dump() for row in rows]

    async def totals_by_announcement(
        self, workspace_id: str, start: datetime, end: datetime
    ) -> dict[str, dict[str, int]]:
        statement = (
            select(
                _STATS.announcement_id, *(func.sum(_STATS[name]).label(name) for name in COUNTERS)
            )
            .where(
                _STATS.workspace_id == workspace_id,
                _STATS.bucket >= start,
                _STATS.bucket < end,
            )
            .group_by(_STATS.announcement_id)
        )
        result = await self.session.execute(statement)
        return {
            row.announcement_id: {name: int(getattr(row, name) or 0) for name in COUNTERS}
            for row in result.all()
        }

    async def reportable_announcements(self, workspace_id: str) -> Sequence[Announcement]:
        """Everything that ever went out: drafts have nothing to report."""
        statement = select(Announcement).where(
            col(Announcement.workspace_id) == workspace_id,
            or_(col(Announcement.status) != "draft", col(Announcement.published_at).is_not(None)),
        )
        return (await self.session.execute(statement)).scalars().all()

    async def purge_events_received_before(self, cutoff: datetime) -> int:
        result = await self.session.execute(delete(Event).where(col(Event.received_at) < cutoff))
        return int(getattr(result, "rowcount", 0))
