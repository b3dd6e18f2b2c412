"""End users in the API: the visitor fields widget requests carry, an access request's
export and an erasure's counts."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.kit.limits import MAX_ANONYMOUS_ID_LENGTH, MAX_USER_HASH_LENGTH, MAX_USER_ID_LENGTH
from app.kit.locales import MAX_LOCALE_LENGTH
from app.kit.schemas import OutputModel

UserId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_USER_ID_LENGTH)]
AnonymousId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ANONYMOUS_ID_LENGTH)]
UserHash = Annotated[str, StringConstraints(min_length=1, max_length=MAX_USER_HASH_LENGTH)]
LocaleTag = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LOCALE_LENGTH)]


class Reaction(StrEnum):
    positive = "positive"
    neutral = "neutral"
    negative = "negative"


class VisitorFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UserId | None = None
    user_hash: UserHash | None = None
    anonymous_id: AnonymousId | None = None


class EndUserRecord(OutputModel):
    """One stored end user: the identified one, or an anonymous visitor merged into it."""

    id: str = Field(description="Tidings' own id of this record.")
    user_id: str | None = Field(description="Your user id (null on anonymous records).")
    anonymous_id: str | None = Field(description="The widget's random id, if it had one.")
    merged_into: str | None = Field(description="The identified record this one joined.")
    attributes: dict[str, Any] = Field(description="As last sent to identify.")
    locale: str | None
    first_seen_at: datetime
    last_seen_at: datetime


class UserStateRecord(OutputModel):
    """What one end user did with one announcement (kept for every device)."""

    end_user_id: str
    announcement_id: str
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    seen_count: int
    first_impression_at: datetime | None
    clicked_at: datetime | None
    dismissed_at: datetime | None
    reaction: str | None
    reacted_at: datetime | None
    auto_shown_at: datetime | None


class EventRecord(OutputModel):
    id: str = Field(description="The id the widget gave the event.")
    end_user_id: str | None
    type: str
    announcement_id: str | None
    value: str | None
    surface: str | None
    occurred_at: datetime
    received_at: datetime
    clamped: bool = Field(description="The client's clock was off; occurred_at was replaced.")


class EventSummary(OutputModel):
    total: int = Field(description="Every raw event stored for this person.")
    by_type: dict[str, int]
    first_occurred_at: datetime | None
    last_occurred_at: datetime | None
    complete: bool = Field(description="False when `items` holds only the newest events.")
    items: list[EventRecord] = Field(description="Newest first.")


class EndUserExport(OutputModel):
    """Everything Tidings stores about one person, for an access request."""

    user_id: str
    end_users: list[EndUserRecord]
    states: list[UserStateRecord]
    events: EventSummary


class ErasedCounts(OutputModel):
    events: int
    states: int
    end_users: int


class EndUserErasure(OutputModel):
    user_id: str
    deleted: ErasedCounts
