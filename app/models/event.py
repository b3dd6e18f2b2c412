from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index
from sqlmodel import Field, SQLModel

from app.kit.limits import MAX_EVENT_ID_LENGTH
from app.models.base import timestamp_field


class Event(SQLModel, table=True):
    """A raw engagement event as the widget sent it; its id makes retries harmless."""

    __tablename__ = "events"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "announcement_id"],
            ["announcements.workspace_id", "announcements.id"],
            ondelete="CASCADE",
        ),
        Index("ix_events_workspace_id_announcement_id", "workspace_id", "announcement_id"),
        Index("ix_events_workspace_id_end_user_id", "workspace_id", "end_user_id"),
    )

    workspace_id: str = Field(
        foreign_key="workspaces.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    id: str = Field(primary_key=True, max_length=MAX_EVENT_ID_LENGTH)
    end_user_id: str | None = Field(default=None, max_length=40)
    announcement_id: str | None = Field(default=None, max_length=40)
    type: str = Field(max_length=16)
    value: str | None = Field(default=None, max_length=32)
    surface: str | None = Field(default=None, max_length=16)
    occurred_at: datetime = timestamp_field()
    received_at: datetime = timestamp_field()
    # True when the client's clock was more than 24 h off and occurred_at was replaced.
    clamped: bool = Field(default=False)
    # Digest of what the client sent, to tell a retry from a reused id.
    payload_hash: str = Field(max_length=32)
