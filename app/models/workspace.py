from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from app.models.base import json_field, timestamp_field


class Workspace(SQLModel, table=True):
    """A tenant: one product team's announcements, keys, end users and settings."""

    __tablename__ = "workspaces"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=100)
    slug: str = Field(max_length=63, unique=True)
    allowed_origins: list[str] = json_field(list)
    identity_verification: str = Field(default="off", max_length=16)
    # [{"id", "secret", "created_at"}], newest first; the first is the current one.
    identity_secrets: list[dict[str, Any]] = json_field(list)
    allow_anonymous: bool = Field(default=True)
    popover_daily_cap: int = Field(default=1)
    # Grows with every change to what the widget shows (announcements, segments, settings),
    # so per-process caches know when to reload.
    content_version: int = Field(default=1)
    # The public changelog's look (app/changelog/): unset fields fall back to defaults.
    changelog_name: str | None = Field(default=None, max_length=100)
    changelog_logo_url: str | None = Field(default=None, max_length=2000)
    changelog_accent: str | None = Field(default=None, max_length=7)
    changelog_product_url: str | None = Field(default=None, max_length=2000)
    # A host name of the workspace's own (changelog.example.com) serving its changelog at /.
    changelog_host: str | None = Field(default=None, max_length=253, unique=True)
    # The IANA zone engagement is bucketed in by default (console charts, stats API).
    time_zone: str | None = Field(default=None, max_length=64)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
