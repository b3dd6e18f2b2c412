"""Every query about saved segments and which announcements use them."""

from collections.abc import Collection, Sequence

from sqlalchemy import delete, insert, select
from sqlmodel import col

from app.kit.repository import Repository
from app.models import Announcement, AnnouncementSegment, Segment


class SegmentRepository(Repository):
    async def get(self, workspace_id: str, segment_id: str) -> Segment | None:
        return await self.session.get(Segment, (workspace_id, segment_id))

    async def get_many(self, workspace_id: str, segment_ids: Collection[str]) -> Sequence[Segment]:
        if not segment_ids:
            return []
        statement = select(Segment).where(
            col(Segment.workspace_id) == workspace_id, col(Segment.id).in_(segment_ids)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def existing_ids(self, workspace_id: str, segment_ids: Collection[str]) -> set[str]:
        if not segment_ids:
            return set()
        statement = select(col(Segment.id)).where(
            col(Segment.workspace_id) == workspace_id, col(Segment.id).in_(segment_ids)
        )
        return set((await self.session.execute(statement)).scalars().all())

    async def list_page(
        self, workspace_id: str, limit: int, after_id: str | None
    ) -> Sequence[Segment]:
        """Newest first (ids sort by creation time); keyset paged."""
        statement = select(Segment).where(col(Segment.workspace_id) == workspace_id)
        if after_id is not None:
            statement = statement.where(col(Segment.id) < after_id)
        statement = statement.order_by(col(Segment.id).desc()).limit(limit)
        return (await self.session.execute(statement)).scalars().all()

    async def name_taken(self, workspace_id: str, name: str, excluding: str | None) -> bool:
        statement = select(col(Segment.id)).where(
            col(Segment.workspace_id) == workspace_id, col(Segment.name) == name
        )
        if excluding is not None:
            statement = statement.where(col(Segment.id) != excluding)
        return (await self.session.execute(statement)).first() is not None

    async def delete(self, workspace_id: str, segment_id: str) -> None:
        await self.session.execute(
            delete(Segment).where(
                col(Segment.workspace_id) == workspace_id, col(Segment.id) == segment_id
            )
        )

    async def announcements_using(
        self, workspace_id: str, segment_id: str
    ) -> Sequence[tuple[str, str]]:
        """``(id, title)`` of the announcements whose audience lists the segment, newest first."""
        statement = (
            select(col(Announcement.id), col(Announcement.title))
            .join(
                AnnouncementSegment,
                (col(AnnouncementSegment.workspace_id) == col(Announcement.workspace_id))
                & (col(AnnouncementSegment.announcement_id) == col(Announcement.id)),
            )
            .where(
                col(AnnouncementSegment.workspace_id) == workspace_id,
                col(AnnouncementSegment.segment_id) == segment_id,
            )
            .order_by(col(Announcement.id).desc())
        )
        rows = (await self.session.execute(statement)).all()
        return [(row[0], row[1]) for row in rows]

    async def replace_links(
        self, workspace_id: str, announcement_id: str, segment_ids: Sequence[str]
    ) -> None:
        """Make the announcement's segment links exactly ``segment_ids``."""
        await self.session.execute(
            delete(AnnouncementSegment).where(
                col(AnnouncementSegment.workspace_id) == workspace_id,
                col(AnnouncementSegment.announcement_id) == announcement_id,
            )
        )
        if segment_ids:
            await self.session.execute(
                insert(AnnouncementSegment),
                [
                    {
                        "workspace_id": workspace_id,
                        "announcement_id": announcement_id,
                        "segment_id": segment_id,
                    }
                    for segment_id in segment_ids
                ],
            )
