from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index
from sqlmodel import Field, SQLModel

from app.models.base import timestamp_field


class WebhookAttempt(SQLModel, table=True):
    """One try at a delivery: what the receiver answered, or why there was no answer."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "delivery_id"],
            ["webhook_deliveries.workspace_id", "webhook_deliveries.id"],
            ondelete="CASCADE",
        ),
        Index("ix_webhook_attempts_workspace_id_delivery_id", "workspace_id", "delivery_id"),
    )

    workspace_id: str = Field(
        foreign_key="workspaces.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    id: str = Field(primary_key=True, max_length=40)
    delivery_id: str = Field(max_length=40)
    attempted_at: datetime = timestamp_field()
    response_status: int | None = Field(default=None)
    error: str | None = Field(default=None, max_length=1000)
    duration_ms: int = Field(default=0)
