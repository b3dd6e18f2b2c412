"""The widget API's long-lived parts, built in the app's lifespan: the feed and the events."""

from dataclasses import dataclass

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import create_engine
from app.feed.readers import (
    EngineUserReader,
    PostgresUserReader,
    SqliteUserReader,
    UserReader,
)
from app.feed.service import FeedService
from app.feed.snapshot import WorkspaceSnapshotCache
from app.ingest.ingestor import EventIngestor
from app.ingest.service import EventService


@dataclass(frozen=True, slots=True)
class WidgetRuntime:
    feeds: FeedService
    events: EventService
    # PostgreSQL: the event writer's own connections (``create_engine``'s ``pool_size``).
    writer_engine: AsyncEngine | None = None

    @property
    def ingestor(self) -> EventIngestor:
        """The event writer (its queue and health: /readyz asks it)."""
        return self.events.ingestor

    @property
    def reader(self) -> UserReader:
        return self.feeds.reader

    async def stop(self) -> None:
        await self.events.ingestor.stop()  # first: it writes what is still queued
        await self.feeds.stop()
        if self.writer_engine is not None:
            await self.writer_engine.dispose()


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
    writer_engine = None
    if engine.dialect.name == "postgresql":
        writer_engine = create_engine(settings, pool_size=settings.ingest_groups_in_flight)
    ingestor = EventIngestor(
        writer_engine or engine,
        window_s=settings.ingest_window_ms / 1000,
        max_pending_events=settings.ingest_max_pending_events,
        postgresql_groups_in_flight=settings.ingest_groups_in_flight,
        sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
    )
    ingestor.start()
    snapshots = WorkspaceSnapshotCache(
        poll_after_s=settings.widget_poll_after_s, recheck_s=settings.widget_cache_recheck_s
    )
    feeds = FeedService(sessionmaker, snapshots, reader)
    return WidgetRuntime(feeds, EventService(feeds, ingestor), writer_engine)
