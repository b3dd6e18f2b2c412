"""The widget's view of Tidings: who is asking, what they see, what they did."""

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Forbidden, NotFound, PayloadTooLarge, Unauthorized, invalid_field
from app.kit.etags import if_none_match_hits
from app.kit.ids import new_id
from app.kit.time import utc_now
from app.models import EndUser
from app.targeting.attributes import validate_user_attributes
from app.widget.cache import WorkspaceSnapshot
from app.widget.engagement import StatsDelta, merge_state, states_by_announcement
from app.widget.feed import (
    MAX_FEED_ITEMS,
    FeedPlan,
    UserView,
    Visitor,
    feed_etag,
    plan_feed,
    state_view,
)
from app.widget.identity import is_valid_user_hash
from app.widget.repository import WidgetRepository
from app.widget.runtime import WidgetRuntime
from app.widget.schemas import (
    MAX_EVENTS_PER_BATCH,
    EventIn,
    EventsResult,
    EventType,
    IdentifyRequest,
    RejectedEvent,
)
from app.widget.writer import IncomingEvent, Submission

CLOCK_SKEW_LIMIT = timedelta(hours=24)


def check_visitor(snapshot: WorkspaceSnapshot, visitor: Visitor) -> None:
    """Refuse, before anything is read or written, a visitor the workspace would not admit."""
    if visitor.user_id is None:
        if visitor.anonymous_id is None:
            raise invalid_field("user_id", "send user_id (identified) or anonymous_id")
        if not snapshot.allow_anonymous:
            raise Unauthorized("This workspace does not admit anonymous visitors: identify.")
        return
    mode = snapshot.identity_verification
    if mode == "off":
        return
    if visitor.user_hash is None:
        if mode == "required":
            raise Unauthorized("This workspace requires user_hash with user_id.")
        return
    if not is_valid_user_hash(snapshot.identity_secrets, visitor.user_id, visitor.user_hash):
        raise Unauthorized("user_hash does not match user_id (HMAC-SHA256 with the secret).")


def refuse_foreign_origin(origin: str | None, snapshot: WorkspaceSnapshot) -> None:
    if origin is not None and not is_allowed_origin(origin, snapshot):
        raise Forbidden(
            f"Origin {origin} is not in this workspace's allowed_origins; add it with "
            "PATCH /v1/workspace."
        )


def is_allowed_origin(origin: str, snapshot: WorkspaceSnapshot) -> bool:
    # No list yet means "anywhere": convenient while setting up, documented as such.
    return not snapshot.allowed_origins or origin in snapshot.allowed_origins


def add_cors_headers(
    headers: dict[str, str], origin: str | None, snapshot: WorkspaceSnapshot
) -> None:
    """Echo an allowed Origin exactly; a foreign one gets no CORS headers at all."""
    headers["Vary"] = "Origin"
    if origin is not None and is_allowed_origin(origin, snapshot):
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = "ETag"


class WidgetService:
    async def feed(
        self,
        runtime: WidgetRuntime,
        snapshot: WorkspaceSnapshot,
        visitor: Visitor,
        locale: str | None,
        user_agent: str | None,
        if_none_match: str | None = None,
    ) -> tuple[str, FeedPlan | None]:
        """The feed's ETag, and its plan unless ``if_none_match`` holds that ETag (304)."""
        check_visitor(snapshot, visitor)
        reader = runtime.reader
        profile = await reader.read_profile(snapshot.workspace_id, visitor)
        now = utc_now()
        etag = feed_etag(snapshot, visitor, profile, locale, user_agent, now)
        if if_none_match is not None and (
            if_none_match == etag or if_none_match_hits(if_none_match, etag.strip('"'))
        ):
            return etag, None
        user = None if profile is None else await reader.read_view(snapshot.workspace_id, profile)
        return etag, plan_feed(
            snapshot, visitor, user, locale, user_agent, now, etag, runtime.targeting
        )

    async def identify(
        self,
        session: AsyncSession,
        snapshot: WorkspaceSnapshot,
        request: IdentifyRequest,
        user_agent: str | None,
    ) -> FeedPlan:
        visitor = Visitor(request.user_id, request.anonymous_id, request.user_hash)
        check_visitor(snapshot, visitor)
        attributes = validate_user_attributes(request.attributes)
        now = utc_now()
        repository = WidgetRepository(session)
        workspace_id = snapshot.workspace_id
        end_user = await repository.ensure_end_user(
            workspace_id,
            new_id("eu"),
            now,
            user_id=visitor.user_id,
            anonymous_id=visitor.anonymous_id,
        )
        if visitor.user_id is not None and visitor.anonymous_id is not None:
            anonymous = await repository.find_end_user(
                workspace_id, user_id=None, anonymous_id=visitor.anonymous_id
            )
            if anonymous is not None and anonymous.merged_into is None:
                await _merge_into(repository, workspace_id, anonymous, end_user)
                await repository.mark_merged(anonymous, end_user, now)
        await repository.save_profile(end_user, attributes, request.locale, now)
        # Read back through the same transaction: the answer shows what was just written.
        end_user_now = await repository.find_end_user(
            workspace_id, user_id=visitor.user_id, anonymous_id=visitor.anonymous_id
        )
        assert end_user_now is not None
        states = await repository.states_of(workspace_id, end_user_now.id)
        user = UserView(
            end_user_now.id,
            end_user_now.state_version,
            end_user_now.attributes,
            end_user_now.locale,
            {state.announcement_id: state_view(state) for state in states},
        )
        return plan_feed(snapshot, visitor, user, request.locale, user_agent, now)

    async def record_events(
        self,
        runtime: WidgetRuntime,
        snapshot: WorkspaceSnapshot,
        payload: Mapping[str, Any],
        user_agent: str | None,
        deadline: float | None = None,
    ) -> EventsResult:
        """Validate a batch, have it written; ``deadline``: see ``EventIngestor.submit``."""
        visitor = _visitor_from(payload)
        raw_events = payload.get("events")
        if not isinstance(raw_events, list):
            raise invalid_field("events", "must be a list of events")
        if len(raw_events) > MAX_EVENTS_PER_BATCH:
            raise PayloadTooLarge(
                f"{len(raw_events)} events in one request; send at most {MAX_EVENTS_PER_BATCH}."
            )
        check_visitor(snapshot, visitor)

        now = utc_now()
        rejected: list[RejectedEvent] = []
        # Each distinct event once; two different events under one id both go to the writer,
        # which compares each with the stored row (a retry beside an impostor is no impostor).
        candidates: dict[tuple[str, str], IncomingEvent] = {}
        repeats: dict[int, list[int]] = defaultdict(list)
        visitor_key = visitor.key
        for index, event in _validated(raw_events, rejected):
            problem = _event_problem(event)
            if problem:
                rejected.append(RejectedEvent(index=index, error=problem))
                continue
            incoming = _incoming(index, event, visitor_key, now)
            earlier = candidates.setdefault((event.id, incoming.payload_hash), incoming)
            if earlier is not incoming:
                # Its fate is the first copy's, decided when that one is written.
                repeats[earlier.index].append(index)
        if not candidates:
            return EventsResult(accepted=0, duplicates=0, rejected=rejected)

        visible, in_feed, snapshot = await self._feed_of(
            runtime, snapshot, visitor, user_agent, list(candidates.values())
        )
        events: list[IncomingEvent] = []
        for incoming in candidates.values():
            announcement_id = incoming.announcement_id
            if announcement_id is None or announcement_id in in_feed:
                events.append(incoming)
                continue
            # Only what the feed could have shown this user is counted.
            error = _why_not_in_feed(snapshot, announcement_id, utc_now())
            for index in (incoming.index, *repeats.get(incoming.index, ())):
                rejected.append(RejectedEvent(index=index, error=error))
        if not events:
            rejected.sort(key=lambda item: item.index)
            return EventsResult(accepted=0, duplicates=0, rejected=rejected)
        submission = Submission(
            workspace_id=snapshot.workspace_id,
            visitor=visitor,
            events=events,
            visible=visible,
            repeats=dict(repeats),
            future=asyncio.get_running_loop().create_future(),
        )
        result = await runtime.ingestor.submit(submission, deadline)
        rejected += [RejectedEvent(index=i, error=error) for i, error in result.rejected]
        rejected.sort(key=lambda item: item.index)
        return EventsResult(
            accepted=result.accepted, duplicates=result.duplicates, rejected=rejected
        )

    async def _feed_of(
        self,
        runtime: WidgetRuntime,
        snapshot: WorkspaceSnapshot,
        visitor: Visitor,
        user_agent: str | None,
        events: list[IncomingEvent],
    ) -> tuple[list[str], frozenset[str], WorkspaceSnapshot]:
        """What the feed shows this visitor now: the ids in order (for ``open`` events, else
        empty), the set of them, and the snapshot they come from.

        The feed's own machinery: the cached snapshot (as stale as a feed poll may be, at
        most ``TIDINGS_WIDGET_CACHE_RECHECK_S``) and the cached targeting verdicts. The
        user is read (one query, as a poll does) only when targeting or an ``open`` needs
        it; events about announcements everyone sees need nothing more.
        """
        referenced = {e.announcement_id for e in events if e.announcement_id is not None}
        if referenced.difference(item.id for item in snapshot.announcements):
            renewed = await runtime.snapshots.renew(runtime.sessionmaker, snapshot.workspace_id)
            if renewed is None:
                raise NotFound("This workspace no longer exists.")
            snapshot = renewed
        live = snapshot.live(utc_now())
        needs_plan = any(e.type == EventType.open.value for e in events) or (
            len(live) > MAX_FEED_ITEMS
            or any(item.is_targeted for item in live if item.id in referenced)
        )
        if not needs_plan:
            return [], frozenset(item.id for item in live), snapshot
        _, plan = await self.feed(runtime, snapshot, visitor, None, user_agent)
        visible = plan.visible_ids if plan is not None else []
        return visible, frozenset(visible), snapshot


def _why_not_in_feed(snapshot: WorkspaceSnapshot, announcement_id: str, now: datetime) -> str:
    found = next((item for item in snapshot.announcements if item.id == announcement_id), None)
    if found is None:
        return (
            f"announcement {announcement_id!r} is not published (a draft, archived, expired, "
            "or not this workspace's): its events are not counted"
        )
    if found.publish_at is not None and found.publish_at > now:
        return (
            f"announcement {announcement_id!r} is scheduled for "
            f"{found.publish_at.isoformat()}: not shown before then"
        )
    if found.expire_at is not None and found.expire_at <= now:
        return f"announcement {announcement_id!r} expired at {found.expire_at.isoformat()}"
    return (
        f"announcement {announcement_id!r} is not in this user's feed "
        "(its audience does not include them)"
    )


async def _merge_into(
    repository: WidgetRepository, workspace_id: str, source: EndUser, target: EndUser
) -> None:
    """Move an anonymous visitor's state to the user they turned out to be."""
    theirs = states_by_announcement(await repository.lock_states(workspace_id, source.id))
    if not theirs:
        return
    await repository.ensure_states(workspace_id, target.id, theirs.keys())
    mine = states_by_announcement(
        await repository.lock_states(workspace_id, target.id, theirs.keys())
    )
    stats = StatsDelta()
    for announcement_id, state in theirs.items():
        merge_state(mine[announcement_id], state, announcement_id, stats)
    await repository.delete_states(workspace_id, source.id)
    await repository.save_states(workspace_id, target.id, mine)
    await repository.add_stats(stats.rows(workspace_id))


def _visitor_from(payload: Mapping[str, Any]) -> Visitor:
    fields: dict[str, str | None] = {}
    for name, limit in (("user_id", 256), ("anonymous_id", 64), ("user_hash", 128)):
        value = payload.get(name)
        if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= limit):
            raise invalid_field(name, f"must be a string of 1 to {limit} characters")
        fields[name] = value
    return Visitor(fields["user_id"], fields["anonymous_id"], fields["user_hash"])


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "event"
    return f"{where}: {error['msg']}"


_EVENT_LIST = TypeAdapter(list[EventIn])


def _validated(
    raw_events: list[Any], rejected: list[RejectedEvent]
) -> Iterable[tuple[int, EventIn]]:
    """The events that are well formed, with their index; the others go to ``rejected``."""
    try:
        # One call for the usual all-valid batch; one by one only to say what is wrong.
        return enumerate(_EVENT_LIST.validate_python(raw_events))
    except ValidationError:
        pass
    valid: list[tuple[int, EventIn]] = []
    for index, raw in enumerate(raw_events):
        try:
            valid.append((index, EventIn.model_validate(raw)))
        except ValidationError as exc:
            rejected.append(RejectedEvent(index=index, error=_first_error(exc)))
    return valid


def _event_problem(event: EventIn) -> str | None:
    if event.occurred_at.tzinfo is None:
        return "occurred_at: needs a time zone (e.g. 2026-12-01T09:00:00Z)"
    if event.type is EventType.open:
        return None
    if event.announcement_id is None:
        return f"announcement_id: required for {event.type.value} events"
    if event.type is EventType.reaction and event.value is None:
        return "value: required for reactions (positive, neutral or negative)"
    return None


def _incoming(index: int, event: EventIn, visitor_key: str, now: datetime) -> IncomingEvent:
    at = event.occurred_at
    kind = event.type.value
    value = event.value.value if event.value is not None else None
    surface = event.surface.value if event.surface is not None else None
    # The digest of what was sent: the same bytes as ever, so a retry still matches.
    content = orjson.dumps(
        [visitor_key, kind, event.announcement_id, at.isoformat(), value, surface]
    )
    try:
        at = at.astimezone(UTC)  # one conversion here spares every later comparison its own
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00: before datetime's range in UTC
        at = datetime.min.replace(tzinfo=UTC)  # as far off as a clock can be: clamped below
    clamped = not -CLOCK_SKEW_LIMIT <= at - now <= CLOCK_SKEW_LIMIT
    return IncomingEvent(
        index,
        event.id,
        kind,
        event.announcement_id,
        now if clamped else at,
        clamped,
        value,
        surface,
        hashlib.blake2b(content, digest_size=16).hexdigest(),
    )


widget_service = WidgetService()
