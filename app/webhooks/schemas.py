from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from app.kit.schemas import InputModel, OutputModel, PatchModel
from app.webhooks.events import EventType

MAX_URL = 2000
MAX_ENDPOINTS = 50


class EndpointKind(StrEnum):
    standard = "standard"
    slack = "slack"


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


def _unique_events(value: list[EventType]) -> list[EventType]:
    if len(set(value)) != len(value):
        raise ValueError("lists an event type twice")
    return value


EventTypes = Annotated[
    list[EventType], Field(min_length=1, max_length=len(EventType)), AfterValidator(_unique_events)
]
Url = Annotated[str, StringConstraints(min_length=1, max_length=MAX_URL)]
Description = Annotated[str, StringConstraints(max_length=500)]

_EVERY_EVENT = list(EventType)
# What a channel of people wants to hear: something new to read.
_SLACK_EVENTS = [EventType.published, EventType.scheduled]


def default_events(kind: EndpointKind) -> list[EventType]:
    return list(_SLACK_EVENTS if kind is EndpointKind.slack else _EVERY_EVENT)


class EndpointCreate(InputModel):
    url: Url = Field(description="Where to POST; https in production; a public address.")
    kind: EndpointKind = Field(
        default=EndpointKind.standard,
        description="`standard`: signed JSON events. `slack`: a Slack incoming-webhook URL.",
    )
    event_types: EventTypes | None = Field(
        default=None,
        description="Events to send; default: all of them (standard), or published and "
        "scheduled (slack).",
    )
    description: Description = ""
    enabled: bool = True


class EndpointUpdate(PatchModel):
    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    enabled: bool | None = Field(
        default=None, description="Re-enabling also clears an automatic disabling."
    )


class EndpointPublic(OutputModel):
    id: str
    url: str
    kind: EndpointKind
    description: str
    event_types: list[EventType]
    enabled: bool
    disabled_at: datetime | None
    disabled_reason: str | None = Field(description="Why it was disabled automatically.")
    failing_since: datetime | None = Field(
        description="Since when every attempt failed; it is disabled 3 days after this."
    )
    previous_secret_expires_at: datetime | None = Field(
        description="After a rotation, until when the previous secret also signs."
    )
    created_at: datetime
    updated_at: datetime


class EndpointCreated(EndpointPublic):
    secret: str = Field(description="The signing secret (`whsec_...`); shown only this once.")


class EndpointList(OutputModel):
    data: list[EndpointPublic]


class SecretRotated(OutputModel):
    secret: str = Field(description="The new signing secret; shown only this once.")
    previous_secret_expires_at: datetime | None = Field(
        description="Until when the previous secret signs too (beside the new one)."
    )


class AttemptPublic(OutputModel):
    attempted_at: datetime
    response_status: int | None
    error: str | None
    duration_ms: int


class DeliveryPublic(OutputModel):
    id: str
    message_id: str = Field(description="The `webhook-id` header: the same on every retry.")
    event_type: EventType
    announcement_id: str
    status: DeliveryStatus
    attempts: int
    response_status: int | None = Field(description="The last attempt's HTTP status.")
    last_error: str | None
    next_attempt_at: datetime | None = Field(description="When it is tried next (pending).")
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    attempt_log: list[AttemptPublic] = Field(description="Every attempt, oldest first.")


class DeliveryPage(OutputModel):
    data: list[DeliveryPublic]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )
