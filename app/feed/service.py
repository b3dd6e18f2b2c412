"""The feed of one visitor: their row read, the ETag named, the items planned.

One ``FeedService`` per process, built in the app's lifespan: it owns the workspace
snapshots, the reader of end users and the cache of targeting verdicts.
"""

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.end_users.visitors import Visitor, check_visitor
from app.errors import NotFound
from app.feed.plan import FeedPlan, FeedRequest, TargetingCache, feed_etag, plan_feed
from app.feed.readers import UserReader
from app.feed.snapshot import WorkspaceSnapshot, WorkspaceSnapshotCache
from app.kit.etags import if_none_match_hits
from app.kit.time import utc_now


@dataclass(frozen=True, slots=True)
class FeedService:
    sessionmaker: async_sessionmaker[AsyncSession]
    snapshots: WorkspaceSnapshotCache
    reader: UserReader
    targeting: TargetingCache = field(default_factory=TargetingCache)

    def snapshot_now(self, workspace_id: str) -> WorkspaceSnapshot | None:
        """The workspace's snapshot when it is cached and fresh enough, else ``None``."""
        return self.snapshots.get_now(self.sessionmaker, workspace_id)

    async def snapshot(self, workspace_id: str) -> WorkspaceSnapshot:
        snapshot = await self.snapshots.get(self.sessionmaker, workspace_id)
        if snapshot is None:
            raise NotFound("This workspace no longer exists.")
        return snapshot

    async def renewed_snapshot(self, workspace_id: str) -> WorkspaceSnapshot:
        """The workspace read again now, whatever the cache holds."""
        snapshot = await self.snapshots.renew(self.sessionmaker, workspace_id)
        if snapshot is None:
            raise NotFound("This workspace no longer exists.")
        return snapshot

    async def feed(
        self,
        snapshot: WorkspaceSnapshot,
        visitor: Visitor,
        locale: str | None,
        user_agent: str | None,
        if_none_match: str | None = None,
    ) -> tuple[str, FeedPlan | None]:
        """The feed's ETag, and its plan unless ``if_none_match`` holds that ETag (304)."""
        check_visitor(snapshot, visitor)
        reader = self.reader
        profile = await reader.read_profile(snapshot.workspace_id, visitor)
        request = FeedRequest(visitor, locale, user_agent, utc_now())
        etag = feed_etag(snapshot, request, profile)
        if if_none_match is not None and (
            if_none_match == etag or if_none_match_hits(if_none_match, etag.strip('"'))
        ):
            return etag, None
        user = None if profile is None else await reader.read_view(snapshot.workspace_id, profile)
        return etag, plan_feed(snapshot, request, user, etag, self.targeting)

    async def stop(self) -> None:
        await self.snapshots.aclose()
        await self.reader.aclose()
