"""What one end user sees: the feed computed from a workspace snapshot and their state.

Pure: no I/O. The request path reads the user (one query), then ``feed_etag`` names the
answer from its inputs; only when the client does not hold that tag does ``plan_feed``
decide the items and ``render_feed`` produce bytes, from JSON fragments rendered once per
announcement, locale and snapshot (app/feed/render.py).

Planning has two parts. Targeting (which live announcements this visitor's audience
matches) depends on who they are, not on what they did, so its verdict is kept in a
bounded ``TargetingCache`` and reused when the same visitor is planned again: after a
dismissal, on their next page load. Their state (seen, dismissed, the daily auto-show
cap) is then applied on every plan.
"""

import hashlib
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

import orjson

from app import __version__
from app.end_users.visitors import Visitor
from app.feed.items import PlannedItem, RenderedItem, StateView
from app.feed.render import feed_json
from app.feed.snapshot import WorkspaceSnapshot
from app.kit.locales import pick_locale
from app.targeting.attributes import (
    builtin_attributes,
    device_of,
    merge_attributes,
    within_array_bound,
)

MAX_FEED_ITEMS = 50

_new_tuple = tuple.__new__


@dataclass(frozen=True, slots=True)
class UserView:
    end_user_id: str
    state_version: int
    # ``None`` when they are still the JSON text below: parsed only if targeting needs them.
    attributes: Mapping[str, Any] | None
    locale: str | None
    states: Mapping[str, StateView]
    # The JSON text of the attributes, when a reader has it: with the visitor's ids, locale
    # and device it names their targeting verdict (``TargetingCache``).
    attributes_text: str | None = None

    def parsed_attributes(self) -> Mapping[str, Any]:
        if self.attributes is not None:
            return within_array_bound(self.attributes)
        if not self.attributes_text:
            return {}
        return within_array_bound(orjson.loads(self.attributes_text))


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a call per field
class FeedRequest:
    """What a poll asks with: who, in which language, on which device, and when."""

    visitor: Visitor
    locale: str | None  # as asked for; the user's stored locale stands in when absent
    user_agent: str | None
    now: datetime


@dataclass(frozen=True, slots=True)
class FeedPlan:
    items: list[PlannedItem]
    unread_count: int
    etag: str  # quoted

    @property
    def visible_ids(self) -> list[str]:
        return [item.rendered.announcement.id for item in self.items]


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


class UserVersion(Protocol):
    """What the ETag needs of a user: a read of their row, or the whole ``UserView``."""

    @property
    def end_user_id(self) -> str: ...

    @property
    def state_version(self) -> int: ...

    @property
    def locale(self) -> str | None: ...


def feed_etag(snapshot: WorkspaceSnapshot, request: FeedRequest, user: UserVersion | None) -> str:
    """The feed's strong ETag (quoted), from what the feed is computed of, before planning.

    The feed is a function of the snapshot (``content_version``), the user's row
    (``state_version`` moves with every change to their state, attributes or locale), the
    request (visitor ids, locale, device), the day (the auto-show cap) and which
    announcements are live (``live_epoch``). Equal inputs give equal bytes, so a poll
    whose If-None-Match names this tag is answered 304 without planning anything.
    """
    visitor, now = request.visitor, request.now
    fingerprint = orjson.dumps(
        (
            __version__,
            snapshot.workspace_id,
            snapshot.content_version,
            snapshot.poll_after_s,
            snapshot.live_epoch(now),
            now.date().isoformat(),
            user.end_user_id if user else None,
            user.state_version if user else 0,
            visitor.user_id,
            visitor.anonymous_id,
            request.locale or (user.locale if user else None),
            device_of(request.user_agent),
        )
    )
    return f'"{hashlib.blake2b(fingerprint, digest_size=12).hexdigest()}"'


class TargetingCache:
    """Targeting verdicts by visitor, bounded: past ``max_entries`` or ``max_bytes`` of keys
    (a visitor's key holds their attributes' text, up to 8 KB) the oldest go first.

    A verdict is kept with the snapshot it was made from and only reused with that very
    snapshot, so a changed workspace (a new snapshot) is planned afresh. The first verdict
    made from a workspace's new snapshot drops those of its previous one, which would
    otherwise keep the old announcements in memory until they were evicted.
    """

    MAX_WORKSPACES = 10_000  # as many as the snapshot cache keeps

    def __init__(self, max_entries: int = 20_000, max_bytes: int = 16 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        # key -> (the snapshot it was made from, the verdict, the key's size in bytes)
        self._entries: dict[Hashable, tuple[WorkspaceSnapshot, tuple[RenderedItem, ...], int]] = {}
        self._snapshots: dict[str, WorkspaceSnapshot] = {}  # the latest, per workspace
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """The bytes of text the kept keys hold."""
        return self._bytes

    def get(self, snapshot: WorkspaceSnapshot, key: Hashable) -> tuple[RenderedItem, ...] | None:
        entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] is snapshot else None

    def put(
        self,
        snapshot: WorkspaceSnapshot,
        key: Hashable,
        candidates: tuple[RenderedItem, ...],
        size: int = 0,
    ) -> None:
        """Keep a verdict; ``size`` is what its key holds in bytes (its text's length)."""
        entries = self._entries
        previous = self._snapshots.get(snapshot.workspace_id)
        if previous is not snapshot:
            if previous is not None:
                stale = [k for k, entry in entries.items() if entry[0] is previous]
                for gone in stale:
                    self._forget(gone)
            elif len(self._snapshots) >= self.MAX_WORKSPACES:
                entries.clear()
                self._snapshots.clear()
                self._bytes = 0
            self._snapshots[snapshot.workspace_id] = snapshot
        self._forget(key)
        while entries and (len(entries) >= self.max_entries or self._bytes + size > self.max_bytes):
            self._forget(next(iter(entries)))
        entries[key] = (snapshot, candidates, size)
        self._bytes += size

    def _forget(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry[2]


def plan_feed(
    snapshot: WorkspaceSnapshot,
    request: FeedRequest,
    user: UserView | None,
    etag: str | None = None,
    verdicts: TargetingCache | None = None,
) -> FeedPlan:
    """The items this visitor sees now; ``etag`` when the caller already computed it."""
    if etag is None:
        etag = feed_etag(snapshot, request, user)
    locale = request.locale or (user.locale if user else None)
    matched = _targeted(snapshot, request, locale, user, verdicts)
    states = user.states if user else {}
    now = request.now
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    shown_today = {
        announcement_id
        for announcement_id, state in states.items()
        if state.auto_shown_at is not None and state.auto_shown_at >= day_start
    }
    auto_show_left = max(snapshot.popover_daily_cap - len(shown_today), 0)
    items: list[PlannedItem] = []
    unread = 0
    for rendered in matched:
        announcement = rendered.announcement
        state = states.get(announcement.id) if states else None
        if state is None:  # most items: new to this user, so unread and never dismissed
            unread += 1
            if auto_show_left > 0 and announcement.display != "feed":
                auto_show_left -= 1
                items.append(rendered.unseen_auto_shown)
            else:
                items.append(rendered.unseen)
            continue
        auto_show = False
        if announcement.display != "feed" and _frequency_allows(
            announcement.frequency, state.seen, state.dismissed
        ):
            if announcement.id in shown_today:
                auto_show = True
            elif auto_show_left > 0:
                auto_show, auto_show_left = True, auto_show_left - 1
        if not state.seen:
            unread += 1
        # PlannedItem(rendered, state, auto_show) without the named tuple's own __new__: a
        # Python call per item, a few percent of a 200 for a user with a handful of states.
        items.append(_new_tuple(PlannedItem, (rendered, state, auto_show)))
    return FeedPlan(items, unread, etag)


def _targeted(
    snapshot: WorkspaceSnapshot,
    request: FeedRequest,
    locale: str | None,
    user: UserView | None,
    verdicts: TargetingCache | None,
) -> tuple[RenderedItem, ...]:
    """The live announcements this visitor's audiences match, in feed order (at most 50),
    each in the locale chosen for it."""
    visitor, now = request.visitor, request.now
    key = None
    attributes_text = "" if user is None else user.attributes_text
    if verdicts is not None and attributes_text is not None:
        key = (
            snapshot.workspace_id,
            snapshot.live_epoch(now),
            visitor.user_id,
            visitor.anonymous_id,
            attributes_text,
            locale,
            device_of(request.user_agent),
        )
        found = verdicts.get(snapshot, key)
        if found is not None:
            return found
    attributes = merge_attributes(
        user.parsed_attributes() if user else {},
        builtin_attributes(visitor.user_id, visitor.anonymous_id, locale, request.user_agent),
    )
    user_key = visitor.key
    rendered = snapshot.rendered
    matched: list[RenderedItem] = []
    for announcement in snapshot.live(now):
        if announcement.is_targeted and not announcement.audience.matches(attributes, user_key):
            continue
        chosen = _choose(locale, announcement.locales) if locale and announcement.locales else None
        matched.append(rendered[(announcement.id, chosen)])
        if len(matched) == MAX_FEED_ITEMS:
            break
    result = tuple(matched)
    if key is not None:
        assert verdicts is not None
        size = (
            len(attributes_text or "")
            + len(visitor.user_id or "")
            + len(visitor.anonymous_id or "")
        )
        verdicts.put(snapshot, key, result, size)
    return result


def render_feed(snapshot: WorkspaceSnapshot, plan: FeedPlan, changelog: bytes = b"null") -> bytes:
    """The feed's JSON; ``changelog``: its ``changelog_url``, from ``changelog_url``."""
    return feed_json(plan.items, plan.unread_count, snapshot.poll_after_s, changelog)
