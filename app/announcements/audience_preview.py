"""The audience preview: would this user see this, and why (the API's preview, the
console's "who would see this?" and the size of an audience among known end users)."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.announcements.lifecycle import state_at
from app.announcements.schemas import Display, State
from app.announcements.service import announcement_service
from app.end_users.repository import EndUserRepository
from app.kit.time import utc_now
from app.models import Announcement
from app.targeting.attributes import (
    builtin_attributes,
    merge_attributes,
    validate_user_attributes,
)
from app.targeting.audience import CompiledAudience, compile_audience, validated_condition
from app.targeting.conditions import compile_condition
from app.targeting.repository import SegmentRepository
from app.targeting.schemas import AudiencePreview, AudiencePreviewRequest, PreviewUser
from app.targeting.service import segment_service

# An audience's size is counted among at most this many end users (the most recent).
MAX_SIZED_USERS = 100_000


@dataclass(frozen=True)
class AudienceSize:
    matching: int
    known: int
    is_capped: bool  # more end users exist than were counted


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
        known = await EndUserRepository(session).known_end_users(workspace_id, MAX_SIZED_USERS)
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


audience_preview_service = AudiencePreviewService()
