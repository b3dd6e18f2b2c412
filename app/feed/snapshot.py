"""What the widget shows for each workspace, compiled once and shared by every request.

A snapshot holds the workspace's widget settings and its published, unexpired
announcements with compiled audiences; each process keeps one per workspace, re-checked
against the workspace's ``content_version`` (app/kit/snapshots.py).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.announcements.schemas import Status
from app.feed.items import CachedAnnouncement, RenderedItem
from app.feed.render import render_item
from app.kit.schedule import LiveSchedule
from app.kit.snapshots import SnapshotCache
from app.kit.time import utc_now
from app.models import Announcement, Workspace
from app.targeting.audience import (
    compile_audience,
    current_segment_conditions,
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
    # The public changelog's path (``/changelog/{slug}``) when it has something to show,
    # and the host name the workspace claimed for it, if any (app/changelog/hosts.py).
    changelog_path: str | None
    changelog_host: str | None
    # Sorted as the feed shows them: pinned, then priority, then newest.
    announcements: tuple[CachedAnnouncement, ...]
    # Each announcement in each of its locales (``None``: its default text), rendered once
    # when the snapshot is made; read-only from then on (a Mapping: never written to).
    rendered: Mapping[tuple[str, str | None], RenderedItem] = field(init=False)
    # Which announcements are live changes only at their publish_at and expire_at instants.
    _schedule: LiveSchedule[CachedAnnouncement] = field(init=False)

    def __post_init__(self) -> None:
        rendered = {
            (announcement.id, locale): render_item(announcement, locale)
            for announcement in self.announcements
            for locale in (None, *announcement.locales)
        }
        object.__setattr__(self, "rendered", rendered)
        object.__setattr__(self, "_schedule", LiveSchedule(self.announcements))

    def live_epoch(self, now: datetime) -> int:
        """How many publish/expire instants are past: the live set is the same within one."""
        return self._schedule.epoch(now)

    def live(self, now: datetime) -> tuple[CachedAnnouncement, ...]:
        """The announcements live at ``now``, in feed order (computed once per epoch)."""
        return self._schedule.live(now)


class WorkspaceSnapshotCache(SnapshotCache[WorkspaceSnapshot]):
    def __init__(
        self, *, poll_after_s: int = 60, recheck_s: float = 1.0, max_workspaces: int = 10_000
    ) -> None:
        self.poll_after_s = poll_after_s
        super().__init__(
            self._load, what="widget snapshot", recheck_s=recheck_s, max_workspaces=max_workspaces
        )

    async def _load(self, session: AsyncSession, workspace_id: str) -> WorkspaceSnapshot | None:
        return await load_snapshot(session, workspace_id, self.poll_after_s)


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
        changelog_path=f"/changelog/{workspace.slug}" if any(r.public for r in rows) else None,
        changelog_host=workspace.changelog_host,
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
