from sqlalchemy import ForeignKeyConstraint, Index
from sqlmodel import Field, SQLModel


class AnnouncementSegment(SQLModel, table=True):
    """Which segments an announcement's audience uses; kept in step with its audience.

    The foreign key to segments has no cascade on purpose: the database itself refuses to
    delete a segment that some announcement still uses.
    """

    __tablename__ = "announcement_segments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "announcement_id"],
            ["announcements.workspace_id", "announcements.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["workspace_id", "segment_id"], ["segments.workspace_id", "segments.id"]
        ),
        # "Who uses this segment?" is asked on every segment deletion.
        Index("ix_announcement_segments_workspace_id_segment_id", "workspace_id", "segment_id"),
    )

    workspace_id: str = Field(primary_key=True, max_length=40)
    announcement_id: str = Field(primary_key=True, max_length=40)
    segment_id: str = Field(primary_key=True, max_length=40)
