from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.kit.limits import MAX_ANONYMOUS_ID_LENGTH, MAX_USER_ID_LENGTH
from app.kit.locales import MAX_LOCALE_LENGTH
from app.models.base import json_field, timestamp_field


class EndUser(SQLModel, table=True):
    """Someone who sees the widget: identified by the host's user id, or anonymous."""

    __tablename__ = "end_users"
    __table_args__ = (
        UniqueConstraint("workspace_id", "user_id"),
        UniqueConstraint("workspace_id", "anonymous_id"),
        Index("ix_end_users_workspace_id_merged_into", "workspace_id", "merged_into"),
    )

    workspace_id: str = Field(
        foreign_key="workspaces.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    id: str = Field(primary_key=True, max_length=40)
    user_id: str | None = Field(default=None, max_length=MAX_USER_ID_LENGTH)
    anonymous_id: str | None = Field(default=None, max_length=MAX_ANONYMOUS_ID_LENGTH)
    # An anonymous visitor who later identified: its state moved to this end user.
    merged_into: str | None = Field(default=None, max_length=40)
    attributes: dict[str, Any] = json_field(dict)
    locale: str | None = Field(default=None, max_length=MAX_LOCALE_LENGTH)
    # Grows with every change to this user's attributes or engagement: part of the ETag.
    state_version: int = Field(default=0)
    first_seen_at: datetime = timestamp_field()
    last_seen_at: datetime = timestamp_field()
