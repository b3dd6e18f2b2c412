"""Saved segments, and the audience preview that explains who sees what and why."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.audit import Actor, audit_service
from app.announcements.lifecycle import state_at
from app.announcements.schemas import Display, State
from app.announcements.service import announcement_service
from app.errors import Conflict, NotFound, PreconditionFailed, invalid_field
from app.kit.etags import if_match_allows
from app.kit.ids import new_id
from app.kit.pagination import decode_cursor, encode_cursor
from app.kit.time import utc_now
from app.models import Announcement, Segment
from app.targeting.attributes import (
    builtin_attributes,
    merge_attributes,
    validate_user_attributes,
)
from app.targeting.audience import CompiledAudience, compile_audience, validated_condition
from app.targeting.conditions import compile_condition
from app.targeting.repository import SegmentRepository
from app.targeting.schemas import (
    AudiencePreview,
    AudiencePreviewRequest,
    PreviewUser,
    SegmentCreate,
    SegmentUpdate,
)
from app.workspaces.repository import WorkspaceRepository

# A 409 names the announcements in the way; past this many it gives a count for the rest.
_NAMED_USERS = 10
# An audience's size is counted among at most this many end users (the most recent).
MAX_SIZED_USERS = 100_000


@dataclass(frozen=True)
class AudienceSize:
    matching: int
    known: int
    is_capped: bool  # more end users exist than were counted


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
        if not if_match_allows(if_match, str(segment.version)):
            raise PreconditionFailed(
                f'The segment is at version "{segment.version}", not {if_match}: someone '
                "changed it since you read it. Fetch it again and reapply your edit."
            )
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
                workspace_id, segment_id, segment.version, changes
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


class AudiencePreviewService:
    async def preview(
        self, session: AsyncSession, workspace_id: str, request: AudiencePreviewRequest
    ) -> AudiencePreview:
        attributes = _preview_attributes(request.user)
        user_key = request.user.id or ""
        if request.condition is not None:
            validated_condition(request.condition, "condition")
            audience = compile_audience("preview", {"condition": request.condition}, {})
            match, reasons = audience.explain(attributes, user_key)
            return AudiencePreview(match=match, reasons=reasons)
        if request.segment_id is not None:
            segment = await segment_service.get(session, workspace_id, request.segment_id)
            match, lines = compile_condition(segment.condition).explain(attributes)
            verdict = "pass" if match else "fail"
            reasons = [f"segment {segment.id} ({segment.name}) → {verdict}"]
            reasons += [f"  {line}" for line in lines]
            return AudiencePreview(match=match, reasons=reasons)
        assert request.announcement_id is not None  # the schema allows exactly one
        announcement = await announcement_service.get(
            session, workspace_id, request.announcement_id
        )
        return await self._preview_announcement(session, announcement, attributes, user_key)

    async def _preview_announcement(
        self,
        session: AsyncSession,
        announcement: Announcement,
        attributes: dict[str, Any],
        user_key: str,
    ) -> AudiencePreview:
        now = utc_now()
        state = state_at(announcement.status, announcement.publish_at, announcement.expire_at, now)
        reasons = [
            f"status: {announcement.status}",
            f"state: {state} — {_window_note(state, announcement)}",
        ]
        audience_match, audience_reasons = await self._explain_audience(
            session,
            announcement.workspace_id,
            announcement.id,
            announcement.audience,
            attributes,
            user_key,
        )
        reasons += audience_reasons
        pages = announcement.audience.get("pages") or []
        if pages and announcement.display != Display.feed:
            reasons.append(
                f"pages: {', '.join(pages)} (the widget shows the {announcement.display} "
                "only on these paths)"
            )
        is_live = state is State.live
        blockers = [] if audience_match else ["the audience does not match"]
        if not is_live:
            blockers.append(f"the announcement is {state}")
        if blockers:
            reasons.append(f"→ not shown: {' and '.join(blockers)}")
        else:
            reasons.append("→ shown: the audience matches and the announcement is live")
        return AudiencePreview(match=audience_match and is_live, reasons=reasons)

    async def explain_audience(
        self,
        session: AsyncSession,
        workspace_id: str,
        seed: str,
        audience: Mapping[str, Any],
        user: PreviewUser,
    ) -> AudiencePreview:
        """Whether a whole audience (condition, segments, rollout) matches a user, and why:
        for an audience not saved yet (the console's editor). ``seed``: the rollout's."""
        match, reasons = await self._explain_audience(
            session, workspace_id, seed, audience, _preview_attributes(user), user.id or ""
        )
        return AudiencePreview(match=match, reasons=reasons)

    async def audience_size(
        self, session: AsyncSession, workspace_id: str, seed: str, audience: Mapping[str, Any]
    ) -> AudienceSize:
        """How many of the workspace's known end users an audience matches now.

        Users are tested with their stored attributes and built-ins (id, anonymous,
        locale); ``device`` depends on the browser of each visit and is left unknown."""
        compiled, _ = await self._compile(session, workspace_id, seed, audience)
        known = await SegmentRepository(session).known_end_users(workspace_id, MAX_SIZED_USERS)
        matching = 0
        for user_id, anonymous_id, locale, attributes in known:
            builtins = builtin_attributes(
                user_id=user_id, anonymous_id=anonymous_id, locale=locale, user_agent=None
            )
            key = user_id if user_id is not None else anonymous_id or ""
            matching += compiled.matches(merge_attributes(attributes or {}, builtins), key)
        return AudienceSize(
            matching=matching, known=len(known), is_capped=len(known) >= MAX_SIZED_USERS
        )

    async def _compile(
        self, session: AsyncSession, workspace_id: str, seed: str, audience: Mapping[str, Any]
    ) -> tuple[CompiledAudience, dict[str, str]]:
        segment_ids = list(audience.get("segments") or [])
        segments = await SegmentRepository(session).get_many(workspace_id, segment_ids)
        compiled = compile_audience(
            seed, audience, {segment.id: segment.condition for segment in segments}
        )
        return compiled, {segment.id: segment.name for segment in segments}

    async def _explain_audience(
        self,
        session: AsyncSession,
        workspace_id: str,
        seed: str,
        audience: Mapping[str, Any],
        attributes: dict[str, Any],
        user_key: str,
    ) -> tuple[bool, list[str]]:
        compiled, names = await self._compile(session, workspace_id, seed, audience)
        return compiled.explain(attributes, user_key, segment_names=names)


def _preview_attributes(user: PreviewUser) -> dict[str, Any]:
    own = validate_user_attributes(user.attributes, "user.attributes")
    is_anonymous = user.anonymous if user.anonymous is not None else user.id is None
    builtins = builtin_attributes(
        user_id=None if is_anonymous else user.id,
        anonymous_id=user.id if is_anonymous else None,
        locale=user.locale,
        user_agent=None,
    )
    if user.device is not None:
        builtins["device"] = user.device
    return merge_attributes(own, builtins)


def _moment(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _window_note(state: State, announcement: Announcement) -> str:
    publish_at, expire_at = announcement.publish_at, announcement.expire_at
    if state is State.draft:
        return "a draft is never shown; publish it"
    if state is State.archived:
        return "archived announcements are not shown"
    if state is State.scheduled:
        assert publish_at is not None
        return f"opens {_moment(publish_at)}"
    if state is State.expired:
        assert expire_at is not None
        return f"closed {_moment(expire_at)}"
    opened = f"open since {_moment(publish_at)}" if publish_at else "open"
    closes = f", closes {_moment(expire_at)}" if expire_at else ", no end date"
    return opened + closes


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
audience_preview_service = AudiencePreviewService()
