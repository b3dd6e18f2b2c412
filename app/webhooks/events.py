"""What happened to an announcement, as webhook events: their names and their bodies."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from app.announcements.lifecycle import state_at
from app.announcements.schemas import Status
from app.models import Announcement


class EventType(StrEnum):
    # An author published it (its state may still be "scheduled" if publish_at is ahead).
    published = "announcement.published"
    # A published announcement was edited.
    updated = "announcement.updated"
    archived = "announcement.archived"
    # Its publish_at came: a scheduled announcement is live now (no write causes this one).
    scheduled = "announcement.scheduled"
    # Its expire_at came: it is no longer shown (no write causes this one either).
    expired = "announcement.expired"


def event_for_change(previous_status: str | None, status: str) -> EventType | None:
    """The event a write causes; ``previous_status`` is None for a new announcement.

    Drafts are private work in progress: editing one tells nobody.
    """
    if status == Status.published:
        return EventType.updated if previous_status == Status.published else EventType.published
    if status == Status.archived and previous_status != Status.archived:
        return EventType.archived
    return None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def event_body(
    event_type: EventType, announcement: Announcement, path: str, now: datetime
) -> dict[str, Any]:
    """The JSON a receiver gets: ``{type, timestamp, data}`` (the Standard Webhooks shape).

    ``data.url`` holds the permalink's path here; the sender makes it absolute.
    """
    state = state_at(announcement.status, announcement.publish_at, announcement.expire_at, now)
    return {
        "type": event_type.value,
        "timestamp": _iso(now),
        "data": {
            "id": announcement.id,
            "workspace_id": announcement.workspace_id,
            "url": path,
            "title": announcement.title,
            "body": announcement.body,
            "body_html": announcement.body_html,
            "category": announcement.category,
            "image_url": announcement.image_url,
            "cta": announcement.cta,
            "status": announcement.status,
            "state": state.value,
            "public": announcement.public,
            "publish_at": _iso(announcement.publish_at),
            "expire_at": _iso(announcement.expire_at),
            "published_at": _iso(announcement.published_at),
            "updated_at": _iso(announcement.updated_at),
            "version": announcement.version,
        },
    }
