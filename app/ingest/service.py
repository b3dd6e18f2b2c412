"""A batch of widget events: validated, checked against the visitor's feed, then written.

Each event is accepted, a duplicate or rejected on its own (``202 {accepted, duplicates,
rejected}``). Only what the feed could have shown the visitor is counted. Writing is the
``EventIngestor``'s (group commit): ``record_events`` returns once the batch is committed.
"""

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from app.end_users.visitors import Visitor, check_visitor, visitor_from
from app.errors import PayloadTooLarge, invalid_field
from app.feed.plan import MAX_FEED_ITEMS
from app.feed.service import FeedService
from app.feed.snapshot import WorkspaceSnapshot
from app.ingest.ingestor import EventIngestor
from app.ingest.schemas import (
    MAX_EVENTS_PER_BATCH,
    EventIn,
    EventsResult,
    EventType,
    RejectedEvent,
)
from app.ingest.writer import IncomingEvent, Submission
from app.kit.deadlines import Deadline
from app.kit.time import utc_now

CLOCK_SKEW_LIMIT = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class EventService:
    feeds: FeedService
    ingestor: EventIngestor

    async def record_events(
        self,
        snapshot: WorkspaceSnapshot,
        payload: Mapping[str, Any],
        user_agent: str | None,
        deadline: Deadline | None = None,
    ) -> EventsResult:
        """Validate a batch, have it written; ``deadline``: see ``EventIngestor.submit``."""
        visitor = visitor_from(payload)
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
            snapshot, visitor, user_agent, list(candidates.values())
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
        result = await self.ingestor.submit(submission, deadline)
        rejected += [RejectedEvent(index=i, error=error) for i, error in result.rejected]
        rejected.sort(key=lambda item: item.index)
        return EventsResult(
            accepted=result.accepted, duplicates=result.duplicates, rejected=rejected
        )

    async def _feed_of(
        self,
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
            snapshot = await self.feeds.renewed_snapshot(snapshot.workspace_id)
        live = snapshot.live(utc_now())
        needs_plan = any(e.type == EventType.open.value for e in events) or (
            len(live) > MAX_FEED_ITEMS
            or any(item.is_targeted for item in live if item.id in referenced)
        )
        if not needs_plan:
            return [], frozenset(item.id for item in live), snapshot
        _, plan = await self.feeds.feed(snapshot, visitor, None, user_agent)
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
