from datetime import datetime

from sqlalchemy import ForeignKeyConstraint
from sqlmodel import Field, SQLModel

from app.kit.db_types import UTCDateTime


class AnnouncementStats(SQLModel, table=True):
    """Engagement counts per announcement per quarter hour (UTC), kept with the events.

    Quarter hours, not hours, so that days and hours in any time zone (India's +05:30,
    Nepal's +05:45) are exact sums of whole buckets. The unique columns count each end
    user once, in the bucket of their first impression, click or dismissal; they survive
    the erasure of the user's own rows, which is what keeps the aggregates anonymous.
    """

    __tablename__ = "announcement_stats"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "announcement_id"],
            ["announcements.workspace_id", "announcements.id"],
            ondelete="CASCADE",
        ),
    )

    workspace_id: str = Field(primary_key=True, max_length=40)
    announcement_id: str = Field(primary_key=True, max_length=40)
    bucket: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    impressions: int = Field(default=0)
    clicks: int = Field(default=0)
    dismissals: int = Field(default=0)
    reactions_positive: int = Field(default=0)
    reactions_neutral: int = Field(default=0)
    reactions_negative: int = Field(default=0)
    unique_viewers: int = Field(default=0)
    unique_clickers: int = Field(default=0)
    unique_dismissers: int = Field(default=0)
