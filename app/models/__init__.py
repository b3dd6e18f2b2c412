"""Every table, imported here so Alembic and the tests see the whole schema."""

from app.models.announcement import Announcement
from app.models.api_key import ApiKey
from app.models.base import SQLModel
from app.models.workspace import Workspace

metadata = SQLModel.metadata

__all__ = ["Announcement", "ApiKey", "SQLModel", "Workspace", "metadata"]
