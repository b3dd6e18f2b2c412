from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import json_field, timestamp_field


class Segment(SQLModel, table=True):
    """A saved, named condition that announcements' audiences refer to by id."""

    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    workspace_id: str = Field(
        foreign_key="workspaces.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=100)
    description: str = Field(default="", max_length=500)
    condition: dict[str, Any] = json_field(dict)
    version: int = Field(default=1)
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
