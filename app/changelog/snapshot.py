"""What a workspace's public changelog shows, built once per content version and process.

The snapshot is immutable, so what is rendered from it (a page, a feed, for one language
and URL) is kept on it too and served until the next content version: a visitor costs a
dictionary lookup, like the widget's feed (app/kit/snapshots.py re-checks the version).
"""

from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from app.changelog.repository import ChangelogRepository
from app.changelog.theme import DEFAULT_ACCENT, dark_mode_accent
from app.kit.schedule import LiveSchedule
from app.kit.time import as_utc, utc_now
from app.models import Announcement

MAX_RENDERED: Final = 512  # rendered responses kept per snapshot (pages x languages x hosts)


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    slug: str | None
    title: str
    body_html: str
    category: str
    image_url: str | None
    cta: dict[str, Any] | None
    translations: dict[str, dict[str, str]]
    publish_at: datetime | None
    expire_at: datetime | None
    published_at: datetime  # what readers see as its date: when it went live
    updated_at: datetime

    @property
    def handle(self) -> str:
        """The last segment of its permalink."""
        return self.slug or self.id


@dataclass(frozen=True, slots=True)
class Theme:
    name: str
    logo_url: str | None
    accent: str
    accent_dark: str
    product_url: str | None


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    etag: str  # the strong tag's value, unquoted: a hash of ``body``
    last_modified: datetime
    content_security_policy: str | None = None
    # What every answer with it carries, 200 or 304 (app/changelog/endpoints.py), encoded
    # once: it is served many times.
    headers: tuple[tuple[bytes, bytes], ...] = field(init=False)

    def __post_init__(self) -> None:
        last_modified = format_datetime(self.last_modified.replace(microsecond=0), usegmt=True)
        headers = [
            (b"etag", f'"{self.etag}"'.encode()),
            (b"last-modified", last_modified.encode()),
            # Short: a new announcement shows within a minute; revalidating is a cheap 304.
            (b"cache-control", b"public, max-age=60"),
            (b"vary", b"Accept-Language"),
            (b"x-content-type-options", b"nosniff"),
        ]
        if self.content_security_policy is not None:
            headers.append((b"content-security-policy", self.content_security_policy.encode()))
            headers.append((b"referrer-policy", b"strict-origin-when-cross-origin"))
        object.__setattr__(self, "headers", tuple(headers))


@dataclass(frozen=True, slots=True)
class ChangelogSnapshot:
    workspace_id: str
    slug: str
    host: str | None  # the workspace's own host name for its changelog, if it claimed one
    content_version: int
    theme: Theme
    entries: tuple[Entry, ...]  # newest first
    changed_at: datetime  # the latest change to anything the page shows
    rendered: dict[tuple[Any, ...], Rendered] = field(default_factory=dict)
    _schedule: LiveSchedule[Entry] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_schedule", LiveSchedule(self.entries))

    def live_epoch(self, now: datetime) -> int:
        return self._schedule.epoch(now)

    def live(self, now: datetime) -> tuple[Entry, ...]:
        return self._schedule.live(now)

    def last_modified(self, now: datetime) -> datetime:
        """``changed_at``, or the last publish/expire instant passed if that is later."""
        passed = self._schedule.last_passed(now)
        return passed if passed is not None and passed > self.changed_at else self.changed_at

    def remember(self, key: tuple[Any, ...], rendered: Rendered) -> Rendered:
        if len(self.rendered) < MAX_RENDERED:
            self.rendered[key] = rendered
        return rendered


async def load_changelog(session: AsyncSession, workspace_id: str) -> ChangelogSnapshot | None:
    repository = ChangelogRepository(session)
    workspace = await repository.workspace(workspace_id)
    if workspace is None:
        return None
    rows = await repository.public_announcements(workspace_id, utc_now())
    entries = sorted((_entry(row) for row in rows), key=lambda e: (e.published_at, e.id))
    entries.reverse()
    last_change = await repository.last_change(workspace_id)
    changed_at = as_utc(workspace.updated_at)
    if last_change is not None and as_utc(last_change) > changed_at:
        changed_at = as_utc(last_change)
    accent = workspace.changelog_accent or DEFAULT_ACCENT
    return ChangelogSnapshot(
        workspace_id=workspace.id,
        slug=workspace.slug,
        host=workspace.changelog_host,
        content_version=workspace.content_version,
        theme=Theme(
            name=workspace.changelog_name or workspace.name,
            logo_url=workspace.changelog_logo_url,
            accent=accent,
            accent_dark=dark_mode_accent(accent),
            product_url=workspace.changelog_product_url,
        ),
        entries=tuple(entries),
        changed_at=changed_at,
    )


def _entry(row: Announcement) -> Entry:
    published_at = as_utc(row.published_at or row.created_at)
    if row.publish_at is not None and as_utc(row.publish_at) > published_at:
        published_at = as_utc(row.publish_at)
    return Entry(
        id=row.id,
        slug=row.slug,
        title=row.title,
        body_html=row.body_html,
        category=row.category,
        image_url=row.image_url,
        cta=row.cta,
        translations=row.translations,
        publish_at=as_utc(row.publish_at) if row.publish_at else None,
        expire_at=as_utc(row.expire_at) if row.expire_at else None,
        published_at=published_at,
        updated_at=as_utc(row.updated_at),
    )
