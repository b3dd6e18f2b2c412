from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import json_field, timestamp_field


class WebhookMessage(SQLModel, table=True):
    """The outbox: one event to tell, written in the transaction of the change behind it.

    Its id is the ``webhook-id`` every delivery and retry of it carries.
    """

    __tablename__ = "webhook_messages"
    # Events nobody writes (a scheduled announcement going live, one expiring) are found by
    # the delivery worker; this key makes each such transition one message, whoever looks.
    __table_args__ = (UniqueConstraint("workspace_id", "dedupe_key"),)

    workspace_id: str = Field(
        foreign_key="workspaces.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    id: str = Field(primary_key=True, max_length=40)
    event_type: str = Field(max_length=40)
    announcement_id: str = Field(max_length=40)
    dedupe_key: str | None = Field(default=None, max_length=200)
    # The whole body as sent: {"type", "timestamp", "data"}; the same bytes on every retry.
    payload: dict[str, Any] = json_field(dict)
    created_at: datetime = timestamp_field()
