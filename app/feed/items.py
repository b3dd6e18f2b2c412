"""The feed's named types: an announcement as a snapshot holds it, rendered in a locale,
and planned into one visitor's feed with their state."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from app.targeting.audience import CompiledAudience


@dataclass(frozen=True, slots=True)
class CachedAnnouncement:
    id: str
    title: str
    body_html: str
    translations: dict[str, dict[str, str]]
    locales: tuple[str, ...]  # the translations' locales, for cached locale choices
    category: str
    image_url: str | None
    cta: dict[str, Any] | None
    display: str
    pinned: bool
    priority: int
    frequency: str
    pages: tuple[str, ...]
    publish_at: datetime | None
    expire_at: datetime | None
    published_at: datetime
    audience: CompiledAudience
    is_targeted: bool  # False: everyone sees it, no need to evaluate the audience


class StateView(NamedTuple):  # a tuple: one is built per state row on every poll
    seen: bool
    dismissed: bool
    clicked: bool
    reaction: str | None
    auto_shown_at: datetime | None


class PlannedItem(NamedTuple):
    """One item of a visitor's feed: what it shows, their state of it, and whether the
    widget should show it unasked (a popover, banner or modal within the daily cap)."""

    rendered: "RenderedItem"
    state: StateView | None
    auto_show: bool


@dataclass(frozen=True, slots=True)
class RenderedItem:
    """An announcement in one locale (``None``: its default text), rendered for the feed."""

    announcement: CachedAnnouncement
    locale: str | None
    fragment: bytes  # the item's JSON up to its state, without the closing brace
    # The whole item followed by a comma, as users without state see it, auto-shown or not.
    as_new: bytes
    as_new_auto_shown: bytes
    # The plan's items for those users, made once: a feed holds up to 50 of them.
    unseen: PlannedItem = field(init=False)
    unseen_auto_shown: PlannedItem = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "unseen", PlannedItem(self, None, False))
        object.__setattr__(self, "unseen_auto_shown", PlannedItem(self, None, True))
