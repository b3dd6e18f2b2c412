"""What one end user sees: the feed computed from a workspace snapshot and their state.

Pure: no I/O. The request path reads the user (one query), then ``plan_feed`` decides the
items and the ETag; only when the ETag is new does ``render_feed`` produce bytes, from JSON
fragments pre-serialized once per announcement, locale and snapshot.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from app.kit.locales import pick_locale
from app.targeting.attributes import builtin_attributes, merge_attributes
from app.widget.cache import CachedAnnouncement, WorkspaceSnapshot

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
class StateView:
    seen: bool
    dismissed: bool
    clicked: bool
    reaction: str | None
    auto_shown_at: datetime | None


@dataclass(frozen=True, slots=True)
class UserView:
    end_user_id: str
    state_version: int
    attributes: Mapping[str, Any]
    locale: str | None
    states: Mapping[str, StateView]


@dataclass(frozen=True, slots=True)
class PlannedItem:
    announcement: CachedAnnouncement
    locale: str | None
    state: StateView | None
    auto_show: bool


@dataclass(frozen=True, slots=True)
class FeedPlan:
    items: list[PlannedItem]
    unread_count: int
    etag: str  # quoted

    @property
    def visible_ids(self) -> list[str]:
        return [item.announcement.id for item in self.items]


def state_view(row: Any) -> StateView:
    return StateView(
        seen=row.first_seen_at is not None,
        dismissed=row.dismissed_at is not None,
        clicked=row.clicked_at is not None,
        reaction=row.reaction,
        auto_shown_at=row.auto_shown_at,
    )


@lru_cache(maxsize=4096)
def _choose(locale: str, available: tuple[str, ...]) -> str | None:
    # Every poll asks the same few questions; parsing tags each time was a tenth of a poll.
    return pick_locale(locale, available)


def _frequency_allows(frequency: str, seen: bool, dismissed: bool) -> bool:
    if frequency == "always":
        return True
    if frequency == "once":
        return not seen
    return not dismissed


def plan_feed(
    snapshot: WorkspaceSnapshot,
    visitor: Visitor,
    user: UserView | None,
    locale: str | None,
    user_agent: str | None,
    now: datetime,
) -> FeedPlan:
    locale = locale or (user.locale if user else None)
    attributes = merge_attributes(
        user.attributes if user else {},
        builtin_attributes(visitor.user_id, visitor.anonymous_id, locale, user_agent),
    )
    states = user.states if user else {}
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    shown_today = {
        announcement_id
        for announcement_id, state in states.items()
        if state.auto_shown_at is not None and state.auto_shown_at >= day_start
    }
    auto_show_left = max(snapshot.popover_daily_cap - len(shown_today), 0)
    items: list[PlannedItem] = []
    unread = 0
    for announcement in snapshot.announcements:
        if not announcement.is_live(now):
            continue
        if not announcement.audience.matches(attributes, visitor.key):
            continue
        state = states.get(announcement.id)
        seen = state is not None and state.seen
        dismissed = state is not None and state.dismissed
        auto_show = False
        if announcement.display != "feed" and _frequency_allows(
            announcement.frequency, seen, dismissed
        ):
            if announcement.id in shown_today:
                auto_show = True
            elif auto_show_left > 0:
                auto_show, auto_show_left = True, auto_show_left - 1
        unread += not seen
        chosen = _choose(locale, announcement.locales) if locale and announcement.locales else None
        items.append(PlannedItem(announcement, chosen, state, auto_show))
        if len(items) == MAX_FEED_ITEMS:
            break
    fingerprint = orjson.dumps(
        [
            snapshot.content_version,
            user.state_version if user else 0,
            user.end_user_id if user else None,
            locale,
            day_start.isoformat(),
            [(item.announcement.id, item.locale, item.auto_show) for item in items],
        ]
    )
    etag = hashlib.blake2b(fingerprint, digest_size=12).hexdigest()
    return FeedPlan(items, unread, f'"{etag}"')


def _static_fragment(announcement: CachedAnnouncement, locale: str | None) -> bytes:
    """The item's JSON without its closing brace: everything that is the same for all."""
    text = announcement.translations[locale] if locale else None
    static = {
        "id": announcement.id,
        "title": text["title"] if text else announcement.title,
        "body_html": text["body_html"] if text else announcement.body_html,
        "locale": locale,
        "category": announcement.category,
        "image_url": announcement.image_url,
        "cta": announcement.cta,
        "display": announcement.display,
        "pinned": announcement.pinned,
        "priority": announcement.priority,
        "published_at": announcement.published_at,
        "pages": list(announcement.pages),
        "frequency": announcement.frequency,
    }
    return orjson.dumps(static)[:-1]


_TRUE, _FALSE = b"true", b"false"


def render_feed(snapshot: WorkspaceSnapshot, plan: FeedPlan) -> bytes:
    parts: list[bytes] = []
    fragments = snapshot.fragments
    for item in plan.items:
        key = (item.announcement.id, item.locale)
        fragment = fragments.get(key)
        if fragment is None:
            fragment = fragments[key] = _static_fragment(item.announcement, item.locale)
        state = item.state
        parts.append(
            b"".join(
                (
                    fragment,
                    b',"seen":',
                    _TRUE if state is not None and state.seen else _FALSE,
                    b',"dismissed":',
                    _TRUE if state is not None and state.dismissed else _FALSE,
                    b',"clicked":',
                    _TRUE if state is not None and state.clicked else _FALSE,
                    b',"reaction":',
                    orjson.dumps(state.reaction if state is not None else None),
                    b',"auto_show":',
                    _TRUE if item.auto_show else _FALSE,
                    b"}",
                )
            )
        )
    return b"".join(
        (
            b'{"announcements":[',
            b",".join(parts),
            b'],"unread_count":',
            str(plan.unread_count).encode(),
            b',"poll_after_s":',
            str(snapshot.poll_after_s).encode(),
            b"}",
        )
    )
