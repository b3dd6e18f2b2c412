"""Authoring announcements: validation beyond the schema, rendering, lifecycle, concurrency."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.audit import Actor, audit_service
from app.announcements.content import render_markdown
from app.announcements.repository import AnnouncementRepository, ListFilters
from app.announcements.schemas import AnnouncementCreate, AnnouncementUpdate, Status
from app.errors import Conflict, NotFound, invalid_field
from app.kit.etags import refuse_stale_version
from app.kit.ids import new_id
from app.kit.pagination import decode_cursor, encode_cursor
from app.kit.slugs import slugify
from app.kit.time import utc_now
from app.models import Announcement
from app.targeting.audience import record_segment_use, validate_audience
from app.webhooks.outbox import record_announcement_change
from app.workspaces.repository import WorkspaceRepository

# Room for a "-NNN" suffix within the column's 100 characters.
MAX_DERIVED_SLUG = 90


class UpsertAction(StrEnum):
    created = "created"
    updated = "updated"
    unchanged = "unchanged"


@dataclass(frozen=True)
class UpsertResult:
    action: UpsertAction
    changed_fields: list[str]
    announcement: Announcement


@dataclass(frozen=True)
class AnnouncementPageResult:
    items: Sequence[Announcement]
    next_cursor: str | None


class AnnouncementService:
    async def create(
        self, session: AsyncSession, workspace_id: str, data: AnnouncementCreate, *, actor: Actor
    ) -> Announcement:
        values = await self._stored_values(session, workspace_id, data.model_dump(), None)
        _check_window(values.get("publish_at"), values.get("expire_at"))
        _check_public_audience(
            values["public"], values["audience"], values["public_despite_audience"]
        )
        if values["status"] == Status.published and values.get("slug") is None:
            values["slug"] = await _unused_slug(session, workspace_id, values["title"])
        now = utc_now()
        announcement = Announcement(
            workspace_id=workspace_id,
            id=new_id("ann"),
            created_at=now,
            updated_at=now,
            published_at=now if values["status"] == Status.published else None,
            **values,
        )
        session.add(announcement)
        await _flush_or_slug_conflict(session, values.get("slug"))
        await record_segment_use(session, workspace_id, announcement.id, announcement.audience)
        await WorkspaceRepository(session).bump_content_version(workspace_id)
        await record_announcement_change(session, None, announcement)
        await _audit(session, actor, "created", announcement, {"status": announcement.status})
        return announcement

    async def get(
        self, session: AsyncSession, workspace_id: str, announcement_id: str
    ) -> Announcement:
        announcement = await AnnouncementRepository(session).get(workspace_id, announcement_id)
        if announcement is None:
            raise NotFound(f"No announcement {announcement_id!r} in this workspace.")
        return announcement

    async def list(
        self,
        session: AsyncSession,
        workspace_id: str,
        filters: ListFilters,
        limit: int,
        cursor: str | None,
    ) -> AnnouncementPageResult:
        after = _position_from_cursor(cursor, filters) if cursor else None
        items = await AnnouncementRepository(session).list_page(
            workspace_id, filters, utc_now(), limit + 1, after
        )
        if len(items) <= limit:
            return AnnouncementPageResult(items, None)
        last = items[limit - 1]
        position = {"id": last.id, "pinned": last.pinned, "pinned_first": filters.pinned_first}
        return AnnouncementPageResult(items[:limit], encode_cursor(position))

    async def update(
        self,
        session: AsyncSession,
        workspace_id: str,
        announcement_id: str,
        data: AnnouncementUpdate,
        *,
        actor: Actor,
        if_match: str | None = None,
    ) -> Announcement:
        """Partial update. ``if_match``: the ETag the author read, else 412."""
        announcement = await self.get(session, workspace_id, announcement_id)
        refuse_stale_version("announcement", announcement.version, if_match)
        changes = data.changes()
        values = await self._stored_values(session, workspace_id, changes, announcement.id)
        return await self._write(session, announcement, values, actor)

    async def delete(
        self, session: AsyncSession, workspace_id: str, announcement_id: str, *, actor: Actor
    ) -> None:
        announcement = await self.get(session, workspace_id, announcement_id)
        if announcement.status != Status.draft:
            raise Conflict(
                f"Only drafts can be deleted; this announcement is {announcement.status}. "
                'Archive it instead (PATCH {"status": "archived"}): that keeps its engagement '
                "history."
            )
        await AnnouncementRepository(session).delete(workspace_id, announcement_id)
        await WorkspaceRepository(session).bump_content_version(workspace_id)
        await _audit(session, actor, "deleted", announcement, {})

    async def upsert_by_slug(
        self, session: AsyncSession, workspace_id: str, data: AnnouncementCreate, *, actor: Actor
    ) -> UpsertResult:
        """Create or update the announcement with ``data.slug`` (publishing from files)."""
        if data.slug is None:
            raise invalid_field("slug", "is required to create or update by slug")
        existing = await AnnouncementRepository(session).get_by_slug(workspace_id, data.slug)
        if existing is None:
            created = await self.create(session, workspace_id, data, actor=actor)
            return UpsertResult(UpsertAction.created, [], created)
        wanted = await self._stored_values(session, workspace_id, data.model_dump(), existing.id)
        changed = {
            name: value for name, value in wanted.items() if getattr(existing, name) != value
        }
        if not changed:
            return UpsertResult(UpsertAction.unchanged, [], existing)
        updated = await self._write(session, existing, changed, actor)
        return UpsertResult(UpsertAction.updated, sorted(changed), updated)

    async def _write(
        self,
        session: AsyncSession,
        announcement: Announcement,
        values: dict[str, Any],
        actor: Actor,
    ) -> Announcement:
        _check_window(
            values.get("publish_at", announcement.publish_at),
            values.get("expire_at", announcement.expire_at),
        )
        _check_public_audience(
            values.get("public", announcement.public),
            values.get("audience", announcement.audience),
            values.get("public_despite_audience", announcement.public_despite_audience),
        )
        values = dict(values)
        previous_status = announcement.status
        # What the author changed: a form sends every field, an API client only some.
        changed = sorted(
            name
            for name, value in values.items()
            if name not in _SERVER_SET and getattr(announcement, name) != value
        )
        now = utc_now()
        values["updated_at"] = now
        if values.get("status") == Status.published and announcement.published_at is None:
            values["published_at"] = now
            if values.get("slug", announcement.slug) is None:
                title = values.get("title", announcement.title)
                values["slug"] = await _unused_slug(
                    session, announcement.workspace_id, title, excluding=announcement.id
                )
        repository = AnnouncementRepository(session)
        try:
            applied = await repository.compare_and_update(
                Announcement,
                announcement.workspace_id,
                announcement.id,
                announcement.version,
                values,
            )
        except IntegrityError:
            raise _slug_conflict(values.get("slug")) from None
        if not applied:
            raise Conflict("The announcement changed while this edit was applied; retry.")
        if "audience" in values:
            await record_segment_use(
                session, announcement.workspace_id, announcement.id, values["audience"]
            )
        await WorkspaceRepository(session).bump_content_version(announcement.workspace_id)
        await session.refresh(announcement)
        await record_announcement_change(session, previous_status, announcement)
        verb = _AUDITED_AS.get(announcement.status, "updated")
        if announcement.status == previous_status:
            verb = "updated"
        await _audit(
            session, actor, verb, announcement, {"version": announcement.version, "fields": changed}
        )
        return announcement

    async def _stored_values(
        self,
        session: AsyncSession,
        workspace_id: str,
        fields: dict[str, Any],
        announcement_id: str | None,
    ) -> dict[str, Any]:
        """Validate what schemas cannot, and turn sent fields into column values."""
        values = dict(fields)
        slug = values.get("slug")
        if slug is not None and await AnnouncementRepository(session).slug_taken(
            workspace_id, slug, excluding=announcement_id
        ):
            raise _slug_conflict(slug)
        if "body" in values:
            values["body_html"] = render_markdown(values["body"])
        if "audience" in values:
            values["audience"] = await validate_audience(session, workspace_id, values["audience"])
        if "translations" in values:
            values["translations"] = {
                locale: {**text, "body_html": render_markdown(text["body"])}
                for locale, text in values["translations"].items()
            }
        for name, value in values.items():
            if isinstance(value, StrEnum):
                values[name] = value.value
        return values


# A change of status names the entry; any other change is an update.
_AUDITED_AS = {"published": "published", "archived": "archived", "draft": "unpublished"}
# Columns the service sets itself (or derives) alongside the author's fields.
_SERVER_SET = {"updated_at", "published_at", "body_html"}


async def _audit(
    session: AsyncSession,
    actor: Actor,
    verb: str,
    announcement: Announcement,
    details: dict[str, Any],
) -> None:
    await audit_service.record(
        session,
        announcement.workspace_id,
        actor,
        f"announcement.{verb}",
        "announcement",
        announcement.id,
        announcement.title,
        details,
    )


def _check_window(publish_at: datetime | None, expire_at: datetime | None) -> None:
    if publish_at is not None and expire_at is not None and expire_at <= publish_at:
        raise invalid_field("expire_at", "must be after publish_at")


def _check_public_audience(
    public: bool, audience: dict[str, Any], public_despite_audience: bool
) -> None:
    """Nothing meant for a segment reaches the public changelog (which has no user) by
    mistake: a public announcement with an audience needs the author's confirmation."""
    narrowed = bool(
        audience.get("condition") or audience.get("segments") or audience.get("rollout") is not None
    )
    if public and narrowed and not public_despite_audience:
        raise invalid_field(
            "public",
            "is true but the audience is narrowed (condition, segments or rollout): the public "
            "changelog has no user, so everyone would see it there. Send "
            '"public_despite_audience": true to confirm, or make it not public',
            "public_with_audience",
        )


async def _unused_slug(
    session: AsyncSession, workspace_id: str, title: str, *, excluding: str | None = None
) -> str | None:
    """A permalink slug from the title, made unique in the workspace (``-2``, ``-3``...).

    Given once, at first publication; later title edits keep it, so links keep working.
    """
    base = slugify(title, max_length=MAX_DERIVED_SLUG)
    if not base:
        return None  # nothing usable in the title (an emoji, say): the id is the permalink
    repository = AnnouncementRepository(session)
    for number in range(1, 1000):
        candidate = base if number == 1 else f"{base}-{number}"
        if not await repository.slug_taken(workspace_id, candidate, excluding=excluding):
            return candidate
    return None


def _position_from_cursor(cursor: str, filters: ListFilters) -> tuple[bool, str]:
    position = decode_cursor(cursor)
    announcement_id, pinned = position.get("id"), position.get("pinned")
    if not isinstance(announcement_id, str) or not isinstance(pinned, bool):
        raise invalid_field("cursor", "is not a cursor returned by this API; start without one")
    if position.get("pinned_first") != filters.pinned_first:
        raise invalid_field("cursor", "was made for another ordering; keep pinned_first the same")
    return pinned, announcement_id


def _slug_conflict(slug: object) -> Conflict:
    return Conflict(f"Another announcement in this workspace has the slug {slug!r}.")


async def _flush_or_slug_conflict(session: AsyncSession, slug: object) -> None:
    try:
        await session.flush()
    except IntegrityError:
        raise _slug_conflict(slug) from None


announcement_service = AnnouncementService()
