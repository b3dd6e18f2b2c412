"""Every query about workspaces and keys."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlmodel import col

from app.kit.repository import Repository
from app.models import ApiKey, Workspace


class WorkspaceRepository(Repository):
    async def get(self, workspace_id: str) -> Workspace | None:
        return await self.session.get(Workspace, workspace_id)

    async def get_by_slug(self, slug: str) -> Workspace | None:
        statement = select(Workspace).where(col(Workspace.slug) == slug)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def get_by_changelog_host(self, host: str) -> Workspace | None:
        statement = select(Workspace).where(col(Workspace.changelog_host) == host)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def changelog_host_taken(self, host: str, *, excluding: str) -> bool:
        statement = select(col(Workspace.id)).where(
            col(Workspace.changelog_host) == host, col(Workspace.id) != excluding
        )
        return (await self.session.execute(statement)).first() is not None

    async def list_all(self) -> Sequence[Workspace]:
        statement = select(Workspace).order_by(col(Workspace.created_at))
        return (await self.session.execute(statement)).scalars().all()

    async def bump_content_version(self, workspace_id: str) -> None:
        """Tell every process's widget cache that what the widget shows has changed."""
        await self.session.execute(
            update(Workspace)
            .where(col(Workspace.id) == workspace_id)
            .values(content_version=col(Workspace.content_version) + 1)
        )

    async def slug_taken(self, slug: str, *, excluding: str | None = None) -> bool:
        statement = select(col(Workspace.id)).where(col(Workspace.slug) == slug)
        if excluding is not None:
            statement = statement.where(col(Workspace.id) != excluding)
        return (await self.session.execute(statement)).first() is not None


class ApiKeyRepository(Repository):
    async def get_by_lookup(self, lookup: str) -> ApiKey | None:
        statement = select(ApiKey).where(col(ApiKey.lookup) == lookup)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def get(self, workspace_id: str, key_id: str) -> ApiKey | None:
        return await self.session.get(ApiKey, (workspace_id, key_id))

    async def list_for_workspace(self, workspace_id: str) -> Sequence[ApiKey]:
        statement = (
            select(ApiKey)
            .where(col(ApiKey.workspace_id) == workspace_id)
            .order_by(col(ApiKey.created_at), col(ApiKey.id))
        )
        return (await self.session.execute(statement)).scalars().all()

    async def count_active_secret_keys(self, workspace_id: str) -> int:
        statement = select(func.count()).where(
            col(ApiKey.workspace_id) == workspace_id,
            col(ApiKey.kind) == "secret",
            col(ApiKey.revoked_at).is_(None),
        )
        return int((await self.session.execute(statement)).scalar_one())

    async def touch_last_used(self, key: ApiKey, now: datetime) -> None:
        statement = (
            update(ApiKey)
            .where(col(ApiKey.workspace_id) == key.workspace_id, col(ApiKey.id) == key.id)
            .values(last_used_at=now)
        )
        await self.session.execute(statement)
