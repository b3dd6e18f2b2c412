from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import timestamp_field


class Invitation(SQLModel, table=True):
    """An owner's invitation to join a workspace; the link carries a token stored hashed."""

    __tablename__ = "invitations"

    workspace_id: str = Field(
        foreign_key="workspaces.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    id: str = Field(primary_key=True, max_length=40)
    email: str = Field(max_length=254)
    role: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    invited_by: str | None = Field(default=None, max_length=40)
    created_at: datetime = timestamp_field()
    expires_at: datetime = timestamp_field()
    accepted_at: datetime | None = timestamp_field(nullable=True)
    revoked_at: datetime | None = timestamp_field(nullable=True)
