from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import timestamp_field


class WebhookLease(SQLModel, table=True):
    """Which process delivers webhooks now (one per deployment), and how far it has looked.

    Instance-wide, not a tenant table: one row, named ``delivery``.
    """

    __tablename__ = "webhook_leases"

    name: str = Field(primary_key=True, max_length=40)
    holder: str = Field(max_length=80)
    expires_at: datetime = timestamp_field()
    # Scheduled announcements going live and expiring are looked for up to here.
    scanned_until: datetime | None = timestamp_field(nullable=True)
