from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.models.base import timestamp_field


class Membership(SQLModel, table=True):
    """A member's role in one workspace: ``owner``, ``editor`` or ``viewer``."""

    __tablename__ = "memberships"
    __table_args__ = (Index("ix_memberships_member_id", "member_id"),)

    workspace_id: str = Field(
        foreign_key="workspaces.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    member_id: str = Field(
        foreign_key="members.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    role: str = Field(max_length=16)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
