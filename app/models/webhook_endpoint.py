from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from app.models.base import json_field, timestamp_field


class WebhookEndpoint(SQLModel, table=True):
    """Where a workspace wants to hear about announcement changes, and how to sign for it."""

    __tablename__ = "webhook_endpoints"

    workspace_id: str = Field(
        foreign_key="workspaces.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    id: str = Field(primary_key=True, max_length=40)
    url: str = Field(max_length=2000)
    # standard (signed JSON) or slack (an incoming-webhook URL).
    kind: str = Field(max_length=16)
    description: str = Field(default="", max_length=500)
    event_types: list[str] = json_field(list)
    is_enabled: bool = Field(default=True)
    # Kept in clear: signing needs them. [{"secret", "created_at", "expires_at"}], newest
    # first; an older one signs too until its expires_at (rotation with overlap).
    secrets: list[dict[str, Any]] = json_field(list)
    # When the current run of failed attempts began; cleared by any success.
    failing_since: datetime | None = timestamp_field(nullable=True)
    disabled_at: datetime | None = timestamp_field(nullable=True)
    disabled_reason: str | None = Field(default=None, max_length=1000)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
