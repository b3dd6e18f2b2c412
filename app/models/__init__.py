"""Every table, imported here so Alembic and the tests see the whole schema."""

from app.models.api_key import ApiKey
from app.models.base import SQLModel
from app.models.workspace import Workspace

metadata = SQLModel.metadata

__all__ = ["ApiKey", "SQLModel", "Workspace", "metadata"]
