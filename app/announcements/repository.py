"""Every query about announcements."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, false, func, or_, select, true
from sqlmodel import col

from app.announcements.schemas import State, Status
from app.kit.repository import Repository
from app.models import Announcement


@dataclass(frozen=True)
class ListFilters:
    state: State | None = None
    category: str | None = None
    text: str | None = None
    pinned_first: bool = False


def state_clause(state: State, now: datetime) -> ColumnElement[bool]:
    """SQL for "is in this state at ``now``", mirroring ``lifecycle.state_at``."""
    status, publish_at, expire_at = (
        col(Announcement.status),
        col(Announcement.publish_at),
        col(Announcement.expire_at),
    )
    published = status == Status.published
    started = or_(publish_at.is_(None), publish_at <= now)
    if state is State.draft:
        return status == Status.draft
    if state is State.archived:
        return status == Status.archived
    if state is State.scheduled:
        return and_(published, publish_at > now)
    if state is State.expired:
        return and_(published, started, expire_at <= now)
    return and_(published, started, or_(expire_at.is_(None), expire_at > now))


class AnnouncementRepository(Repository):
    async def get(self, workspace_id: str, announcement_id: str) -> Announcement | None:
        return await self.session.get(Announcement, (workspace_id, announcement_id))

    async def get_by_slug(self, workspace_id: str, slug: str) -> Announcement | None:
        statement = select(Announcement).where(
            col(Announcement.workspace_id) == workspace_id, col(Announcement.slug) == slug
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def slug_taken(self, workspace_id: str, slug: str, excluding: str | None) -> bool:
        statement = select(col(Announcement.id)).where(
            col(Announcement.workspace_id) == workspace_id, col(Announcement.slug) == slug
        )
        if excluding is not None:
            statement = statement.where(col(Announcement.id) != excluding)
        return (await self.session.execute(statement)).first() is not None

    async def list_page(
        self,
        workspace_id: str,
        filters: ListFilters,
        now: datetime,
        limit: int,
        after: tuple[bool, str] | None,
    ) -> Sequence[Announcement]:
        """Newest first (ids sort by creation time), pinned first when asked; keyset paged."""
        pinned, announcement_id = col(Announcement.pinned), col(Announcement.id)
        statement = select(Announcement).where(col(Announcement.workspace_id) == workspace_id)
        if filters.state is not None:
            statement = statement.where(state_clause(filters.state, now))
        if filters.category is not None:
            statement = statement.where(col(Announcement.category) == filters.category)
        if filters.text:
            statement = statement.where(
                func.lower(col(Announcement.title)).contains(filters.text.lower(), autoescape=True)
            )
        if after is not None:
            after_pinned, after_id = after
            if filters.pinned_first:
                later_group = pinned == false() if after_pinned else false()
                same_group = pinned == (true() if after_pinned else false())
                statement = statement.where(
                    or_(later_group, and_(same_group, announcement_id < after_id))
                )
            else:
                statement = statement.where(announcement_id < after_id)
        if filters.pinned_first:
            statement = statement.order_by(pinned.desc())
        statement = statement.order_by(announcement_id.desc()).limit(limit)
        return (await self.session.execute(statement)).scalars().all()

    async def delete(self, workspace_id: str, announcement_id: str) -> None:
        await self.session.execute(
            delete(Announcement).where(
                col(Announcement.workspace_id) == workspace_id,
                col(Announcement.id) == announcement_id,
            )
        )
