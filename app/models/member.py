from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import timestamp_field


class Member(SQLModel, table=True):
    """A person who signs in to the console. Instance-wide; workspaces through memberships."""

    __tablename__ = "members"

    id: str = Field(primary_key=True, max_length=40)
    # Stored lower-cased: one person, one account, whatever the case they type.
    email: str = Field(max_length=254, unique=True)
    name: str = Field(default="", max_length=100)
    password_hash: str = Field(max_length=255)
    # A password someone else saw (printed by the CLI, set by a reset) must be replaced.
    must_change_password: bool = Field(default=False)
    password_changed_at: datetime = timestamp_field()
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
