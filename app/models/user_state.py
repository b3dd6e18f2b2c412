from datetime import datetime

from sqlalchemy import ForeignKeyConstraint
from sqlmodel import Field, SQLModel

from app.models.base import timestamp_field


class UserState(SQLModel, table=True):
    """One end user's engagement with one announcement, kept on the server for every device."""

    __tablename__ = "user_states"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "end_user_id"],
            ["end_users.workspace_id", "end_users.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["workspace_id", "announcement_id"],
            ["announcements.workspace_id", "announcements.id"],
            ondelete="CASCADE",
        ),
        # Stored in key order on SQLite, one user's states together (see the migration).
        {"sqlite_with_rowid": False},
    )

    workspace_id: str = Field(primary_key=True, max_length=40)
    end_user_id: str = Field(primary_key=True, max_length=40)
    announcement_id: str = Field(primary_key=True, max_length=40)
    first_seen_at: datetime | None = timestamp_field(nullable=True)
    last_seen_at: datetime | None = timestamp_field(nullable=True)
    seen_count: int = Field(default=0)
    # Seen by an impression (the feed's "open" marks items seen without one).
    first_impression_at: datetime | None = timestamp_field(nullable=True)
    clicked_at: datetime | None = timestamp_field(nullable=True)
    dismissed_at: datetime | None = timestamp_field(nullable=True)
    reaction: str | None = Field(default=None, max_length=16)
    reacted_at: datetime | None = timestamp_field(nullable=True)
    # Last time a popover, banner or modal of it was shown unasked: the daily cap counts these.
    auto_shown_at: datetime | None = timestamp_field(nullable=True)
