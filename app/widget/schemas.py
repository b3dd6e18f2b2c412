"""Widget API bodies. Requests are parsed by hand on the hot path (see service); these
models validate envelopes and document the API in OpenAPI."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.kit.schemas import OutputModel

MAX_EVENTS_PER_BATCH = 100

UserId = Annotated[str, StringConstraints(min_length=1, max_length=256)]
AnonymousId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
UserHash = Annotated[str, StringConstraints(min_length=1, max_length=128)]
LocaleTag = Annotated[str, StringConstraints(min_length=1, max_length=35)]


class EventType(StrEnum):
    impression = "impression"
    click = "click"
    dismiss = "dismiss"
    open = "open"
    reaction = "reaction"


class Reaction(StrEnum):
    positive = "positive"
    neutral = "neutral"
    negative = "negative"


class Surface(StrEnum):
    feed = "feed"
    popover = "popover"
    banner = "banner"
    modal = "modal"


class VisitorFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UserId | None = None
    user_hash: UserHash | None = None
    anonymous_id: AnonymousId | None = None


class IdentifyRequest(VisitorFields):
    locale: LocaleTag | None = None
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="At most 50 keys and 8 KB as JSON."
    )


class EventIn(BaseModel):
    """One event; invalid ones are rejected one by one, not the whole batch."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    type: EventType
    announcement_id: Annotated[str, StringConstraints(max_length=40)] | None = None
    occurred_at: datetime
    value: Reaction | None = None
    surface: Surface | None = None


class EventsRequest(VisitorFields):
    events: list[EventIn] = Field(max_length=MAX_EVENTS_PER_BATCH)


class RejectedEvent(BaseModel):
    index: int
    error: str


class EventsResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[RejectedEvent]


class FeedCta(OutputModel):
    label: str
    url: str


class FeedItem(OutputModel):
    id: str
    title: str
    body_html: str
    locale: str | None
    category: str
    image_url: str | None
    cta: FeedCta | None
    display: str
    pinned: bool
    priority: int
    published_at: datetime
    pages: list[str]
    frequency: str
    seen: bool
    dismissed: bool
    clicked: bool
    reaction: Reaction | None
    auto_show: bool


class FeedResponse(OutputModel):
    announcements: list[FeedItem]
    unread_count: int
    poll_after_s: int
