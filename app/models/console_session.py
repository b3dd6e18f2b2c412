from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.models.base import timestamp_field


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; only its hash is stored."""

    __tablename__ = "console_sessions"
    __table_args__ = (Index("ix_console_sessions_member_id", "member_id"),)

    token_hash: str = Field(primary_key=True, max_length=64)
    member_id: str = Field(foreign_key="members.id", max_length=40, ondelete="CASCADE")
    # Synchronizer token for the session's forms (CSRF); not secret from its own browser.
    csrf_token: str = Field(max_length=64)
    created_at: datetime = timestamp_field()
    last_seen_at: datetime = timestamp_field()
    # The absolute end, whatever the activity; idle expiry is last_seen_at + the idle limit.
    expires_at: datetime = timestamp_field()
    user_agent: str = Field(default="", max_length=200)
    client: str = Field(default="", max_length=64)
