from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from app.models.base import json_field, timestamp_field


class AuditEntry(SQLModel, table=True):
    """Who did what to which object of a workspace, and when. Written, never changed."""

    __tablename__ = "audit_log"

    workspace_id: str = Field(
        foreign_key="workspaces.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    # A ULID: entries sort by time as their ids do.
    id: str = Field(primary_key=True, max_length=40)
    occurred_at: datetime = timestamp_field()
    actor_kind: str = Field(max_length=16)  # member | api_key | cli
    actor_id: str = Field(default="", max_length=40)
    actor_label: str = Field(default="", max_length=254)
    action: str = Field(max_length=64)  # e.g. announcement.published
    target_kind: str = Field(max_length=32)
    target_id: str = Field(default="", max_length=40)
    target_label: str = Field(default="", max_length=200)
    details: dict[str, Any] = json_field(dict)
