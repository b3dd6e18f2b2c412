from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import timestamp_field


class ApiKey(SQLModel, table=True):
    """A publishable (``pk_``) or secret (``sk_``) key. Only a hash of the key is stored."""

    __tablename__ = "api_keys"

    workspace_id: str = Field(
        foreign_key="workspaces.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    id: str = Field(primary_key=True, max_length=40)
    kind: str = Field(max_length=16)
    name: str = Field(max_length=100)
    # The key's first characters: enough entropy to find the row, useless to an attacker.
    lookup: str = Field(max_length=24, unique=True)
    key_hash: str = Field(max_length=64)
    # Shown in listings: the whole key when publishable (it is public), a stub when secret.
    preview: str = Field(max_length=80)
    created_at: datetime = timestamp_field()
    last_used_at: datetime | None = timestamp_field(nullable=True)
    revoked_at: datetime | None = timestamp_field(nullable=True)
