"""The derived state of an announcement: what a reader would see at a given moment."""

from datetime import datetime

from app.announcements.schemas import State, Status


def state_at(
    status: str, publish_at: datetime | None, expire_at: datetime | None, now: datetime
) -> State:
    if status == Status.draft:
        return State.draft
    if status == Status.archived:
        return State.archived
    if publish_at is not None and now < publish_at:
        return State.scheduled
    if expire_at is not None and now >= expire_at:
        return State.expired
    return State.live
