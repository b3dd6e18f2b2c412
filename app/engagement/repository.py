"""Queries over the per-quarter-hour counters and the end users' own rows."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import Announcement, AnnouncementStats, EndUser, Event, UserState
from app.widget.engagement import COUNTERS

_STATS = AnnouncementStats.__table__.c  # type: ignore[attr-defined]


class EngagementRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

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

    async def end_users_named(self, workspace_id: str, user_id: str) -> list[str]:
        """The end user with this host id and the anonymous visitors merged into it."""
        identified = (
            await self.session.execute(
                select(col(EndUser.id)).where(
                    col(EndUser.workspace_id) == workspace_id, col(EndUser.user_id) == user_id
                )
            )
        ).scalar_one_or_none()
        if identified is None:
            return []
        merged = (
            (
                await self.session.execute(
                    select(col(EndUser.id)).where(
                        col(EndUser.workspace_id) == workspace_id,
                        col(EndUser.merged_into) == identified,
                    )
                )
            )
            .scalars()
            .all()
        )
        return [identified, *merged]

    async def erase_end_users(
        self, workspace_id: str, end_user_ids: Sequence[str]
    ) -> dict[str, int]:
        counts = {}
        for name, model, column in (
            ("events", Event, col(Event.end_user_id)),
            ("states", UserState, col(UserState.end_user_id)),
            ("end_users", EndUser, col(EndUser.id)),
        ):
            result = await self.session.execute(
                delete(model).where(
                    col(model.workspace_id) == workspace_id,
                    column.in_(end_user_ids),
                )
            )
            counts[name] = int(getattr(result, "rowcount", 0))
        return counts

    async def purge_events_received_before(self, cutoff: datetime) -> int:
        result = await self.session.execute(delete(Event).where(col(Event.received_at) < cutoff))
        return int(getattr(result, "rowcount", 0))
