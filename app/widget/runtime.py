"""The widget API's long-lived parts, built in the app's lifespan: caches, reader, ingestor."""

from dataclasses import dataclass, field

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.errors import NotFound
from app.widget.cache import WorkspaceSnapshot, WorkspaceSnapshotCache
from app.widget.feed import TargetingCache
from app.widget.ingest import EventIngestor
from app.widget.readers import (
    EngineUserReader,
    PostgresUserReader,
    SqliteUserReader,
    UserReader,
)


@dataclass(frozen=True, slots=True)
class WidgetRuntime:
    sessionmaker: async_sessionmaker[AsyncSession]
    snapshots: WorkspaceSnapshotCache
    reader: UserReader
    ingestor: EventIngestor
    targeting: TargetingCache = field(default_factory=TargetingCache)

    def snapshot_now(self, workspace_id: str) -> WorkspaceSnapshot | None:
        """The workspace's snapshot when it is cached and fresh enough, else ``None``."""
        return self.snapshots.get_now(self.sessionmaker, workspace_id)

    async def snapshot(self, workspace_id: str) -> WorkspaceSnapshot:
        snapshot = await self.snapshots.get(self.sessionmaker, workspace_id)
        if snapshot is None:
            raise NotFound("This workspace no longer exists.")
        return snapshot

    async def stop(self) -> None:
        await self.snapshots.aclose()
        await self.ingestor.stop()
        await self.reader.aclose()


def start_runtime(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> WidgetRuntime:
    database = make_url(settings.database_url).database
    reader: UserReader
    if settings.is_sqlite and database and database != ":memory:":
        reader = SqliteUserReader(database, settings.sqlite_busy_timeout_ms)
    elif engine.dialect.name == "postgresql" and engine.dialect.driver == "asyncpg":
        reader = PostgresUserReader(settings.database_url, settings)
    else:
        reader = EngineUserReader(engine)
    ingestor = EventIngestor(
        engine,
        window_s=settings.ingest_window_ms / 1000,
        max_pending_events=settings.ingest_max_pending_events,
        sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
    )
    ingestor.start()
    snapshots = WorkspaceSnapshotCache(
        poll_after_s=settings.widget_poll_after_s, recheck_s=settings.widget_cache_recheck_s
    )
    return WidgetRuntime(sessionmaker, snapshots, reader, ingestor)
