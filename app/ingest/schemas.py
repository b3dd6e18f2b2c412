"""The events API's bodies: a batch of events, and what became of each."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from app.end_users.schemas import Reaction, VisitorFields
from app.kit.limits import MAX_EVENT_ID_LENGTH

MAX_EVENTS_PER_BATCH = 100


class EventType(StrEnum):
    impression = "impression"
    click = "click"
    dismiss = "dismiss"
    open = "open"
    reaction = "reaction"


class Surface(StrEnum):
    feed = "feed"
    popover = "popover"
    banner = "banner"
    modal = "modal"


class EventIn(BaseModel):
    """One event; invalid ones are rejected one by one, not the whole batch."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=MAX_EVENT_ID_LENGTH)]
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
