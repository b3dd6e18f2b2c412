"""The widget's view of Tidings: who is asking, what they see, what they did."""

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Forbidden, PayloadTooLarge, Unauthorized, invalid_field
from app.kit.ids import new_id
from app.kit.locales import pick_locale
from app.kit.time import utc_now
from app.models import EndUser, UserState
from app.targeting.attributes import builtin_attributes, merge_attributes, validate_user_attributes
from app.widget.cache import CachedAnnouncement, WorkspaceSnapshot
from app.widget.engagement import (
    StatsDelta,
    apply_event,
    changed,
    mark_seen,
    merge_state,
    states_by_announcement,
)
from app.widget.identity import is_valid_user_hash
from app.widget.repository import WidgetRepository
from app.widget.schemas import (
    MAX_EVENTS_PER_BATCH,
    EventIn,
    EventsResult,
    EventType,
    IdentifyRequest,
    RejectedEvent,
)

CLOCK_SKEW_LIMIT = timedelta(hours=24)
MAX_FEED_ITEMS = 50


@dataclass(frozen=True, slots=True)
class Visitor:
    user_id: str | None
    anonymous_id: str | None
    user_hash: str | None

    @property
    def key(self) -> str:
        """The value rollouts hash: the host's user id, else the anonymous id."""
        return self.user_id or self.anonymous_id or ""


@dataclass(frozen=True, slots=True)
class Feed:
    body: dict[str, Any]
    etag: str


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


class WidgetService:
    async def feed(
        self,
        session: AsyncSession,
        snapshot: WorkspaceSnapshot,
        visitor: Visitor,
        locale: str | None,
        user_agent: str | None,
    ) -> Feed:
        check_visitor(snapshot, visitor)
        repository = WidgetRepository(session)
        end_user = await repository.find_end_user(
            snapshot.workspace_id, user_id=visitor.user_id, anonymous_id=visitor.anonymous_id
        )
        states = await repository.states_of(snapshot.workspace_id, end_user.id) if end_user else ()
        return self._build_feed(snapshot, visitor, end_user, states, locale, user_agent)

    async def identify(
        self,
        session: AsyncSession,
        snapshot: WorkspaceSnapshot,
        request: IdentifyRequest,
        user_agent: str | None,
    ) -> Feed:
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
        return await self.feed(session, snapshot, visitor, request.locale, user_agent)

    async def record_events(
        self,
        session: AsyncSession,
        snapshot: WorkspaceSnapshot,
        payload: Mapping[str, Any],
        user_agent: str | None,
    ) -> EventsResult:
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
        candidates: dict[str, tuple[int, EventIn, str]] = {}
        repeats: dict[str, list[int]] = defaultdict(list)
        duplicates = 0
        for index, raw in enumerate(raw_events):
            try:
                event = EventIn.model_validate(raw)
            except ValidationError as exc:
                rejected.append(RejectedEvent(index=index, error=_first_error(exc)))
                continue
            problem = _event_problem(event)
            if problem:
                rejected.append(RejectedEvent(index=index, error=problem))
                continue
            digest = _payload_hash(visitor, event)
            earlier = candidates.get(event.id)
            if earlier is not None:
                if earlier[2] == digest:
                    # Its fate is the first copy's: decided once that one is stored.
                    repeats[event.id].append(index)
                else:
                    rejected.append(RejectedEvent(index=index, error=_REUSED_ID))
                continue
            candidates[event.id] = (index, event, digest)

        repository = WidgetRepository(session)
        workspace_id = snapshot.workspace_id
        referenced = {e.announcement_id for _, e, _ in candidates.values() if e.announcement_id}
        known = await repository.existing_announcement_ids(workspace_id, referenced)
        for event_id, (index, event, _) in list(candidates.items()):
            if event.announcement_id is not None and event.announcement_id not in known:
                error = f"no announcement {event.announcement_id!r}"
                rejected += [
                    RejectedEvent(index=i, error=error) for i in [index, *repeats[event_id]]
                ]
                del candidates[event_id]

        if not candidates:
            rejected.sort(key=lambda item: item.index)
            return EventsResult(accepted=0, duplicates=duplicates, rejected=rejected)

        end_user = await repository.ensure_end_user(
            workspace_id,
            new_id("eu"),
            now,
            user_id=visitor.user_id,
            anonymous_id=visitor.anonymous_id,
        )
        rows = []
        for _, event, digest in candidates.values():
            occurred_at = _clamped(event.occurred_at, now)
            rows.append(
                {
                    "workspace_id": workspace_id,
                    "id": event.id,
                    "end_user_id": end_user.id,
                    "announcement_id": event.announcement_id,
                    "type": event.type.value,
                    "value": event.value.value if event.value else None,
                    "surface": event.surface.value if event.surface else None,
                    "occurred_at": occurred_at,
                    "received_at": now,
                    "clamped": occurred_at != event.occurred_at,
                    "payload_hash": digest,
                }
            )
        inserted = await repository.insert_events(rows)
        not_inserted = [event_id for event_id in candidates if event_id not in inserted]
        if not_inserted:
            stored = await repository.event_hashes(workspace_id, not_inserted)
            for event_id in not_inserted:
                index, _, digest = candidates[event_id]
                if stored.get(event_id) == digest:
                    duplicates += 1 + len(repeats[event_id])
                else:
                    rejected += [
                        RejectedEvent(index=i, error=_REUSED_ID)
                        for i in [index, *repeats[event_id]]
                    ]
        duplicates += sum(len(repeats[event_id]) for event_id in inserted)

        new_rows = [row for row in rows if row["id"] in inserted]
        if new_rows:
            visible: Sequence[str] = ()
            if any(row["type"] == EventType.open for row in new_rows):
                states = await repository.states_of(workspace_id, end_user.id)
                feed = self._build_feed(
                    snapshot, visitor, end_user, states, end_user.locale, user_agent
                )
                visible = [item["id"] for item in feed.body["announcements"]]
            await _fold_events(repository, workspace_id, end_user.id, new_rows, visible)
            await repository.bump_state_version(end_user, now)

        rejected.sort(key=lambda item: item.index)
        return EventsResult(accepted=len(inserted), duplicates=duplicates, rejected=rejected)

    def _build_feed(
        self,
        snapshot: WorkspaceSnapshot,
        visitor: Visitor,
        end_user: EndUser | None,
        states: Sequence[UserState],
        locale: str | None,
        user_agent: str | None,
    ) -> Feed:
        now = utc_now()
        locale = locale or (end_user.locale if end_user else None)
        attributes = merge_attributes(
            end_user.attributes if end_user else {},
            builtin_attributes(visitor.user_id, visitor.anonymous_id, locale, user_agent),
        )
        by_announcement = {state.announcement_id: state for state in states}
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        shown_today = {
            state.announcement_id
            for state in states
            if state.auto_shown_at is not None and state.auto_shown_at >= day_start
        }
        auto_show_left = max(snapshot.popover_daily_cap - len(shown_today), 0)
        items: list[dict[str, Any]] = []
        unread = 0
        for announcement in snapshot.announcements:
            if not announcement.is_live(now):
                continue
            if not announcement.audience.matches(attributes, visitor.key):
                continue
            state = by_announcement.get(announcement.id)
            seen = state is not None and state.first_seen_at is not None
            dismissed = state is not None and state.dismissed_at is not None
            auto_show = False
            if announcement.display != "feed" and _frequency_allows(
                announcement.frequency, seen, dismissed
            ):
                if announcement.id in shown_today:
                    auto_show = True
                elif auto_show_left > 0:
                    auto_show, auto_show_left = True, auto_show_left - 1
            unread += not seen
            items.append(_feed_item(announcement, locale, state, seen, dismissed, auto_show))
            if len(items) == MAX_FEED_ITEMS:
                break
        body = {
            "announcements": items,
            "unread_count": unread,
            "poll_after_s": snapshot.poll_after_s,
        }
        fingerprint = orjson.dumps(
            [
                snapshot.content_version,
                end_user.state_version if end_user else 0,
                end_user.id if end_user else None,
                locale,
                day_start.isoformat(),
                [(item["id"], item["auto_show"]) for item in items],
            ]
        )
        etag = hashlib.blake2b(fingerprint, digest_size=12).hexdigest()
        return Feed(body=body, etag=f'"{etag}"')


_REUSED_ID = "this event id was already used for a different event"


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


def _event_problem(event: EventIn) -> str | None:
    if event.type is EventType.open:
        return None
    if event.announcement_id is None:
        return f"announcement_id: required for {event.type.value} events"
    if event.type is EventType.reaction and event.value is None:
        return "value: required for reactions (positive, neutral or negative)"
    if event.occurred_at.tzinfo is None:
        return "occurred_at: needs a time zone (e.g. 2026-12-01T09:00:00Z)"
    return None


def _payload_hash(visitor: Visitor, event: EventIn) -> str:
    content = orjson.dumps(
        [
            visitor.key,
            event.type.value,
            event.announcement_id,
            event.occurred_at.isoformat(),
            event.value.value if event.value else None,
            event.surface.value if event.surface else None,
        ]
    )
    return hashlib.blake2b(content, digest_size=16).hexdigest()


def _clamped(occurred_at: datetime, now: datetime) -> datetime:
    if abs(occurred_at - now) > CLOCK_SKEW_LIMIT:
        return now
    return occurred_at


def _frequency_allows(frequency: str, seen: bool, dismissed: bool) -> bool:
    if frequency == "always":
        return True
    if frequency == "once":
        return not seen
    return not dismissed


async def _fold_events(
    repository: WidgetRepository,
    workspace_id: str,
    end_user_id: str,
    new_rows: Sequence[dict[str, Any]],
    visible: Sequence[str],
) -> None:
    """Apply newly stored events to the user's state and the counters, under row locks."""
    touched = {row["announcement_id"] for row in new_rows if row["announcement_id"]}
    touched |= set(visible)
    await repository.ensure_states(workspace_id, end_user_id, touched)
    states = states_by_announcement(
        await repository.lock_states(workspace_id, end_user_id, touched)
    )
    before = {announcement_id: dict(state) for announcement_id, state in states.items()}
    stats = StatsDelta()
    for row in sorted(new_rows, key=lambda row: row["occurred_at"]):
        if row["type"] == EventType.open:
            for announcement_id in visible:
                mark_seen(states[announcement_id], row["occurred_at"])
        elif row["announcement_id"] is not None:
            apply_event(states[row["announcement_id"]], row["announcement_id"], row, stats)
    await repository.save_states(
        workspace_id,
        end_user_id,
        {key: state for key, state in states.items() if changed(before[key], state)},
    )
    await repository.add_stats(stats.rows(workspace_id))


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


def _feed_item(
    announcement: CachedAnnouncement,
    locale: str | None,
    state: UserState | None,
    seen: bool,
    dismissed: bool,
    auto_show: bool,
) -> dict[str, Any]:
    chosen = pick_locale(locale, announcement.translations) if locale else None
    text = announcement.translations[chosen] if chosen else None
    return {
        "id": announcement.id,
        "title": text["title"] if text else announcement.title,
        "body_html": text["body_html"] if text else announcement.body_html,
        "locale": chosen,
        "category": announcement.category,
        "image_url": announcement.image_url,
        "cta": announcement.cta,
        "display": announcement.display,
        "pinned": announcement.pinned,
        "priority": announcement.priority,
        "published_at": announcement.published_at,
        "pages": list(announcement.pages),
        "frequency": announcement.frequency,
        "seen": seen,
        "dismissed": dismissed,
        "clicked": state is not None and state.clicked_at is not None,
        "reaction": state.reaction if state is not None else None,
        "auto_show": auto_show,
    }


def refuse_foreign_origin(origin: str | None, snapshot: WorkspaceSnapshot) -> None:
    if origin is not None and not is_allowed_origin(origin, snapshot):
        raise Forbidden(
            f"Origin {origin} is not in this workspace's allowed_origins; add it with "
            "PATCH /v1/workspace."
        )


def is_allowed_origin(origin: str, snapshot: WorkspaceSnapshot) -> bool:
    # No list yet means "anywhere": convenient while setting up, documented as such.
    return not snapshot.allowed_origins or origin in snapshot.allowed_origins


widget_service = WidgetService()
