from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index
from sqlmodel import Field, SQLModel

from app.models.base import timestamp_field


class WebhookDelivery(SQLModel, table=True):
    """One message owed to one endpoint: its state, when it is tried next, how it went."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "endpoint_id"],
            ["webhook_endpoints.workspace_id", "webhook_endpoints.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["workspace_id", "message_id"],
            ["webhook_messages.workspace_id", "webhook_messages.id"],
            ondelete="CASCADE",
        ),
        Index("ix_webhook_deliveries_workspace_id_endpoint_id", "workspace_id", "endpoint_id"),
        # The delivery worker serves every workspace: its queue is ordered by due time alone
        # (the one index here that does not start with workspace_id).
        Index("ix_webhook_deliveries_next_attempt_at", "next_attempt_at"),
    )

    workspace_id: str = Field(
        foreign_key="workspaces.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    id: str = Field(primary_key=True, max_length=40)
    endpoint_id: str = Field(max_length=40)
    message_id: str = Field(max_length=40)
    # pending | delivered | failed
    status: str = Field(max_length=16)
    attempts: int = Field(default=0)
    # Due time while pending (a claimed delivery's is pushed past its send); null otherwise.
    next_attempt_at: datetime | None = timestamp_field(nullable=True)
    # Which worker's batch claimed it last (so it records only what it sent).
    claim_token: str | None = Field(default=None, max_length=40)
    # Retries stop one retry window after this: its creation, or its last redelivery.
    retry_from: datetime = timestamp_field()
    last_attempt_at: datetime | None = timestamp_field(nullable=True)
    response_status: int | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=1000)
    delivered_at: datetime | None = timestamp_field(nullable=True)
    created_at: datetime = timestamp_field()
