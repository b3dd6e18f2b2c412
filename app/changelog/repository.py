"""Every query of the public changelog: what one workspace shows, read once per snapshot."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlmodel import col

from app.announcements.schemas import Status
from app.kit.repository import Repository
from app.models import Announcement, Workspace


class ChangelogRepository(Repository):
    async def workspace(self, workspace_id: str) -> Workspace | None:
        return await self.session.get(Workspace, workspace_id, populate_existing=True)

    async def workspace_id_for_slug(self, slug: str) -> str | None:
        statement = select(col(Workspace.id)).where(col(Workspace.slug) == slug)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def public_announcements(
        self, workspace_id: str, now: datetime
    ) -> Sequence[Announcement]:
        """Published, public, not yet expired (scheduled ones too: they go live in memory)."""
        statement = select(Announcement).where(
            col(Announcement.workspace_id) == workspace_id,
            col(Announcement.status) == Status.published,
            col(Announcement.public).is_(True),
            or_(col(Announcement.expire_at).is_(None), col(Announcement.expire_at) > now),
        )
        return (await self.session.execute(statement)).scalars().all()

    async def last_change(self, workspace_id: str) -> datetime | None:
        """When any announcement of the workspace last changed (archived ones included:
        archiving one takes it off the page, and the page's Last-Modified must move)."""
        statement = select(func.max(col(Announcement.updated_at))).where(
            col(Announcement.workspace_id) == workspace_id
        )
        return (await self.session.execute(statement)).scalar_one_or_none()
