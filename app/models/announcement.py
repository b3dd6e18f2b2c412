from datetime import datetime
from typing import Any

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import json_field, timestamp_field


class Announcement(SQLModel, table=True):
    """One announcement as its authors wrote it; engagement lives elsewhere."""

    __tablename__ = "announcements"
    __table_args__ = (
        UniqueConstraint("workspace_id", "slug"),
        Index("ix_announcements_workspace_id_status", "workspace_id", "status"),
    )

    workspace_id: str = Field(
        foreign_key="workspaces.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    id: str = Field(primary_key=True, max_length=40)
    # Stable handle for announcements kept in files (`tidings announce`); optional.
    slug: str | None = Field(default=None, max_length=100)
    title: str = Field(max_length=200)
    body: str = Field(sa_type=Text)
    body_html: str = Field(sa_type=Text)
    category: str = Field(max_length=32)
    image_url: str | None = Field(default=None, max_length=2000)
    cta: dict[str, Any] | None = json_field(lambda: None, nullable=True)
    display: str = Field(max_length=16)
    pinned: bool = Field(default=False)
    priority: int = Field(default=0)
    status: str = Field(max_length=16)
    publish_at: datetime | None = timestamp_field(nullable=True)
    expire_at: datetime | None = timestamp_field(nullable=True)
    # When it first went live: the feed's "newest first" means newest to its readers.
    published_at: datetime | None = timestamp_field(nullable=True)
    audience: dict[str, Any] = json_field(dict)
    frequency: str = Field(max_length=16)
    public: bool = Field(default=False)
    # The author confirmed that a targeted announcement may be on the public changelog.
    public_despite_audience: bool = Field(default=False)
    # {locale: {"title", "body", "body_html"}}
    translations: dict[str, Any] = json_field(dict)
    version: int = Field(default=1)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
