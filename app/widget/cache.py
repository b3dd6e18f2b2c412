"""What the widget shows for each workspace, compiled once and shared by every request.

A snapshot holds the workspace's widget settings and its published, unexpired
announcements with compiled audiences. Each process keeps one per workspace and checks the
workspace's ``content_version`` (one primary-key read) in the background once a snapshot
is half of ``recheck_s`` old, and before serving one that is older (app/kit/refresh.py):
every write that changes what the widget shows bumps that version, so a replica serves a
change made on another replica within ``recheck_s`` plus one query (up to five times
``recheck_s`` when the server is so overloaded that the re-check itself queues).
"""

import asyncio
import time
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.announcements.schemas import Status
from app.kit.refresh import Renewals
from app.kit.time import utc_now
from app.models import Announcement, Workspace
from app.targeting.audience import (
    CompiledAudience,
    compile_audience,
    current_segment_conditions,
)

if TYPE_CHECKING:
    from app.widget.feed import Candidate


@dataclass(frozen=True, slots=True)
class CachedAnnouncement:
    id: str
    title: str
    body_html: str
    translations: dict[str, dict[str, str]]
    locales: tuple[str, ...]  # the translations' locales, for cached locale choices
    category: str
    image_url: str | None
    cta: dict[str, Any] | None
    display: str
    pinned: bool
    priority: int
    frequency: str
    pages: tuple[str, ...]
    publish_at: datetime | None
    expire_at: datetime | None
    published_at: datetime
    audience: CompiledAudience
    is_targeted: bool  # False: everyone sees it, no need to evaluate the audience

    def is_live(self, now: datetime) -> bool:
        return (self.publish_at is None or self.publish_at <= now) and (
            self.expire_at is None or now < self.expire_at
        )


@dataclass(frozen=True, slots=True)
class WorkspaceSnapshot:
    workspace_id: str
    content_version: int
    allowed_origins: frozenset[str]
    identity_verification: str
    identity_secrets: tuple[str, ...]
    allow_anonymous: bool
    popover_daily_cap: int
    poll_after_s: int
    # Sorted as the feed shows them: pinned, then priority, then newest.
    announcements: tuple[CachedAnnouncement, ...]
    # Each (announcement, locale) as the feed shows it, its JSON rendered once for this
    # snapshot, on first use (feed.Candidate).
    candidates: "dict[tuple[str, str | None], Candidate]" = field(default_factory=dict)
    # Which announcements are live changes only at their publish_at and expire_at instants.
    _boundaries: tuple[datetime, ...] = field(init=False)
    _live_by_epoch: dict[int, tuple[CachedAnnouncement, ...]] = field(
        init=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        instants = {
            instant
            for announcement in self.announcements
            for instant in (announcement.publish_at, announcement.expire_at)
            if instant is not None
        }
        object.__setattr__(self, "_boundaries", tuple(sorted(instants)))

    def live_epoch(self, now: datetime) -> int:
        """How many publish/expire instants are past: the live set is the same within one."""
        return bisect_right(self._boundaries, now)

    def live(self, now: datetime) -> tuple[CachedAnnouncement, ...]:
        """The announcements live at ``now``, in feed order (computed once per epoch)."""
        epoch = self.live_epoch(now)
        live = self._live_by_epoch.get(epoch)
        if live is None:
            live = tuple(item for item in self.announcements if item.is_live(now))
            self._live_by_epoch[epoch] = live
        return live


@dataclass(slots=True)
class _Entry:
    snapshot: WorkspaceSnapshot
    checked_at: float


class WorkspaceSnapshotCache:
    def __init__(
        self, *, poll_after_s: int = 60, recheck_s: float = 1.0, max_workspaces: int = 10_000
    ) -> None:
        self.poll_after_s = poll_after_s
        self.recheck_s = recheck_s
        self.max_workspaces = max_workspaces
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._renewals = Renewals("widget snapshot")

    async def get(
        self, sessionmaker: async_sessionmaker[AsyncSession], workspace_id: str
    ) -> WorkspaceSnapshot | None:
        snapshot = self.get_now(sessionmaker, workspace_id)
        if snapshot is not None:
            return snapshot
        return await self._renew(sessionmaker, workspace_id)

    def get_now(
        self, sessionmaker: async_sessionmaker[AsyncSession], workspace_id: str
    ) -> WorkspaceSnapshot | None:
        """The snapshot if it can be served without waiting, as nearly every time."""
        entry = self._entries.get(workspace_id)
        if entry is None:
            return None
        age = time.monotonic() - entry.checked_at
        renewals = self._renewals
        if not renewals.may_serve(
            workspace_id, age, self.recheck_s, self._renew, sessionmaker, workspace_id
        ):
            return None
        return entry.snapshot

    async def renew(
        self, sessionmaker: async_sessionmaker[AsyncSession], workspace_id: str
    ) -> WorkspaceSnapshot | None:
        """The snapshot checked against the database now (unless it was ``recheck_s / 2`` ago).

        For a request that names an announcement its snapshot lacks: published a moment ago,
        another replica may already show it.
        """
        return await self._renew(sessionmaker, workspace_id)

    async def aclose(self) -> None:
        await self._renewals.aclose()

    async def _renew(
        self, sessionmaker: async_sessionmaker[AsyncSession], workspace_id: str
    ) -> WorkspaceSnapshot | None:
        lock = self._locks.setdefault(workspace_id, asyncio.Lock())
        async with lock, sessionmaker() as session:  # one reload at a time per workspace
            entry = self._entries.get(workspace_id)
            if entry is not None and time.monotonic() - entry.checked_at < self.recheck_s / 2:
                return entry.snapshot  # renewed while this one waited for the lock
            version = await _content_version(session, workspace_id)
            if version is None:
                self._entries.pop(workspace_id, None)
                return None
            if entry is not None and entry.snapshot.content_version == version:
                entry.checked_at = time.monotonic()
                return entry.snapshot
            snapshot = await load_snapshot(session, workspace_id, self.poll_after_s)
            if snapshot is None:
                return None
            self._entries[workspace_id] = _Entry(snapshot, time.monotonic())
            self._entries.move_to_end(workspace_id)
            while len(self._entries) > self.max_workspaces:
                evicted, _ = self._entries.popitem(last=False)
                self._locks.pop(evicted, None)
            return snapshot


async def _content_version(session: AsyncSession, workspace_id: str) -> int | None:
    statement = select(col(Workspace.content_version)).where(col(Workspace.id) == workspace_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def load_snapshot(
    session: AsyncSession, workspace_id: str, poll_after_s: int
) -> WorkspaceSnapshot | None:
    workspace = await session.get(Workspace, workspace_id, populate_existing=True)
    if workspace is None:
        return None
    now = utc_now()
    statement = select(Announcement).where(
        col(Announcement.workspace_id) == workspace_id,
        col(Announcement.status) == Status.published,
        or_(col(Announcement.expire_at).is_(None), col(Announcement.expire_at) > now),
    )
    rows = (await session.execute(statement)).scalars().all()
    segments = await current_segment_conditions(session, workspace_id, (r.audience for r in rows))
    announcements = [_cached(row, segments) for row in rows]
    announcements.sort(key=lambda item: (not item.pinned, -item.priority, _newest(item)))
    return WorkspaceSnapshot(
        workspace_id=workspace.id,
        content_version=workspace.content_version,
        allowed_origins=frozenset(workspace.allowed_origins),
        identity_verification=workspace.identity_verification,
        identity_secrets=tuple(secret["secret"] for secret in workspace.identity_secrets),
        allow_anonymous=workspace.allow_anonymous,
        popover_daily_cap=workspace.popover_daily_cap,
        poll_after_s=poll_after_s,
        announcements=tuple(announcements),
    )


def _newest(item: CachedAnnouncement) -> float:
    return -item.published_at.timestamp()


def _cached(row: Announcement, segments: dict[str, Any]) -> CachedAnnouncement:
    published_at = row.published_at or row.created_at
    if row.publish_at is not None and row.publish_at > published_at:
        published_at = row.publish_at
    audience = compile_audience(row.id, row.audience, segments)
    return CachedAnnouncement(
        id=row.id,
        title=row.title,
        body_html=row.body_html,
        translations=row.translations,
        locales=tuple(sorted(row.translations)),
        category=row.category,
        image_url=row.image_url,
        cta=row.cta,
        display=row.display,
        pinned=row.pinned,
        priority=row.priority,
        frequency=row.frequency,
        pages=tuple(row.audience.get("pages", ())),
        publish_at=row.publish_at,
        expire_at=row.expire_at,
        published_at=published_at,
        audience=audience,
        is_targeted=bool(
            audience.condition is not None or audience.segments or audience.rollout is not None
        ),
    )
