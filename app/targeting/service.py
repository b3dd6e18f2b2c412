"""Saved segments: named conditions that announcements' audiences refer to."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.audit import Actor, audit_service
from app.errors import Conflict, NotFound, invalid_field
from app.kit.etags import refuse_stale_version
from app.kit.ids import new_id
from app.kit.pagination import decode_cursor, encode_cursor
from app.kit.time import utc_now
from app.models import Segment
from app.targeting.audience import validated_condition
from app.targeting.repository import SegmentRepository
from app.targeting.schemas import (
    SegmentCreate,
    SegmentUpdate,
)
from app.workspaces.repository import WorkspaceRepository

# A 409 names the announcements in the way; past this many it gives a count for the rest.
_NAMED_USERS = 10


@dataclass(frozen=True)
class SegmentPageResult:
    items: Sequence[Segment]
    next_cursor: str | None


class SegmentService:
    async def create(
        self, session: AsyncSession, workspace_id: str, data: SegmentCreate, *, actor: Actor
    ) -> Segment:
        validated_condition(data.condition, "condition")
        repository = SegmentRepository(session)
        if await repository.name_taken(workspace_id, data.name, excluding=None):
            raise _name_conflict(data.name)
        now = utc_now()
        segment = Segment(
            workspace_id=workspace_id,
            id=new_id("seg"),
            name=data.name,
            description=data.description,
            condition=data.condition,
            created_at=now,
            updated_at=now,
        )
        session.add(segment)
        await _flush_or_name_conflict(session, data.name)
        await _audit(session, actor, "created", segment, {})
        return segment

    async def get(self, session: AsyncSession, workspace_id: str, segment_id: str) -> Segment:
        segment = await SegmentRepository(session).get(workspace_id, segment_id)
        if segment is None:
            raise NotFound(f"No segment {segment_id!r} in this workspace.")
        return segment

    async def list(
        self, session: AsyncSession, workspace_id: str, limit: int, cursor: str | None
    ) -> SegmentPageResult:
        after = _id_from_cursor(cursor) if cursor else None
        items = await SegmentRepository(session).list_page(workspace_id, limit + 1, after)
        if len(items) <= limit:
            return SegmentPageResult(items, None)
        return SegmentPageResult(items[:limit], encode_cursor({"id": items[limit - 1].id}))

    async def update(
        self,
        session: AsyncSession,
        workspace_id: str,
        segment_id: str,
        data: SegmentUpdate,
        *,
        actor: Actor,
        if_match: str | None = None,
    ) -> Segment:
        """Partial update. ``if_match``: the ETag the author read, else 412."""
        segment = await self.get(session, workspace_id, segment_id)
        refuse_stale_version("segment", segment.version, if_match)
        changes: dict[str, Any] = data.changes()
        if "condition" in changes:
            validated_condition(changes["condition"], "condition")
        repository = SegmentRepository(session)
        name = changes.get("name")
        if isinstance(name, str) and await repository.name_taken(
            workspace_id, name, excluding=segment_id
        ):
            raise _name_conflict(name)
        changes["updated_at"] = utc_now()
        try:
            applied = await repository.compare_and_update(
                Segment, workspace_id, segment_id, segment.version, changes
            )
        except IntegrityError:
            raise _name_conflict(name) from None
        if not applied:
            raise Conflict("The segment changed while this edit was applied; retry.")
        if "condition" in changes:
            # Announcements using it now target other users: widget caches must reload.
            await WorkspaceRepository(session).bump_content_version(workspace_id)
        await session.refresh(segment)
        fields = sorted(name for name in changes if name != "updated_at")
        await _audit(
            session, actor, "updated", segment, {"version": segment.version, "fields": fields}
        )
        return segment

    async def delete(
        self, session: AsyncSession, workspace_id: str, segment_id: str, *, actor: Actor
    ) -> None:
        """Delete a segment no announcement uses; else 409 naming the announcements."""
        segment = await self.get(session, workspace_id, segment_id)
        repository = SegmentRepository(session)
        users = await repository.announcements_using(workspace_id, segment.id)
        if users:
            raise _in_use(segment, users)
        try:
            await repository.delete(workspace_id, segment.id)
        except IntegrityError:
            # An announcement started using it between the check and the delete; the failed
            # statement spoiled the transaction, so name no one and let a retry say who.
            raise Conflict(
                f"Segment {segment.id} was just put to use by an announcement; retry to see "
                "which announcements use it."
            ) from None
        await _audit(session, actor, "deleted", segment, {})


def _id_from_cursor(cursor: str) -> str:
    segment_id = decode_cursor(cursor).get("id")
    if not isinstance(segment_id, str):
        raise invalid_field("cursor", "is not a cursor returned by this API; start without one")
    return segment_id


def _name_conflict(name: object) -> Conflict:
    return Conflict(f"A segment named {name!r} already exists in this workspace; pick another.")


def _in_use(segment: Segment, users: Sequence[tuple[str, str]]) -> Conflict:
    named = ", ".join(f'{ann_id} "{title}"' for ann_id, title in users[:_NAMED_USERS])
    more = f" and {len(users) - _NAMED_USERS} more" if len(users) > _NAMED_USERS else ""
    count = "1 announcement" if len(users) == 1 else f"{len(users)} announcements"
    return Conflict(
        f'Segment {segment.id} "{segment.name}" is used by {count}: {named}{more}. '
        "Remove it from their audience.segments first."
    )


async def _audit(
    session: AsyncSession, actor: Actor, verb: str, segment: Segment, details: dict[str, Any]
) -> None:
    await audit_service.record(
        session,
        segment.workspace_id,
        actor,
        f"segment.{verb}",
        "segment",
        segment.id,
        segment.name,
        details,
    )


async def _flush_or_name_conflict(session: AsyncSession, name: str) -> None:
    try:
        await session.flush()
    except IntegrityError:
        # Two requests raced for the same name; the loser gets the same answer as a check.
        raise _name_conflict(name) from None


segment_service = SegmentService()
