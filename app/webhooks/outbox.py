"""The outbox: webhook messages written in the transaction of the change that causes them.

A message and its deliveries are rows beside the announcement's own, so they commit or
roll back with it: a rolled-back change sends nothing, a crash after the commit loses
nothing (the delivery worker finds the rows whenever it next runs). After a commit the
local worker is woken at once, so a delivery usually leaves within milliseconds.
"""

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.kit.ids import new_id
from app.kit.time import utc_now
from app.models import Announcement, WebhookDelivery, WebhookMessage, Workspace
from app.webhooks.events import EventType, event_body, event_for_change
from app.webhooks.repository import PENDING, WebhookRepository

# Set on a session that wrote a message; read (and cleared) when it commits.
_WROTE_MESSAGES = "tidings.webhooks.wrote_messages"
_wakers: set[Callable[[], None]] = set()


def on_commit_of_messages(waker: Callable[[], None]) -> Callable[[], None]:
    """Call ``waker`` whenever a session of this process commits webhook messages."""
    _wakers.add(waker)
    return lambda: _wakers.discard(waker)


@event.listens_for(Session, "after_commit")
def _wake_workers(session: Session) -> None:
    if session.info.pop(_WROTE_MESSAGES, False):
        for waker in list(_wakers):
            try:
                waker()
            except RuntimeError:  # its event loop is closed: that worker is gone
                _wakers.discard(waker)


@event.listens_for(Session, "after_rollback")
def _forget_messages(session: Session) -> None:
    session.info.pop(_WROTE_MESSAGES, None)


def wake_worker_after_commit(session: AsyncSession) -> None:
    """Have the local worker look for due deliveries as soon as this session commits."""
    session.info[_WROTE_MESSAGES] = True


def announcement_path(workspace_slug: str, announcement_id: str) -> str:
    """Where the announcement's public permalink lives, made absolute when sent."""
    return f"/changelog/{workspace_slug}/{announcement_id}"


async def record_announcement_change(
    session: AsyncSession, previous_status: str | None, announcement: Announcement
) -> None:
    """The one hook the announcement service calls after a write (see ``event_for_change``)."""
    event_type = event_for_change(previous_status, announcement.status)
    if event_type is not None:
        await record_event(session, event_type, announcement)


async def record_event(
    session: AsyncSession,
    event_type: EventType,
    announcement: Announcement,
    *,
    dedupe_key: str | None = None,
) -> WebhookMessage | None:
    """Write the message and one delivery per subscribed endpoint; nothing if none listens."""
    workspace_id = announcement.workspace_id
    repository = WebhookRepository(session)
    endpoints = await repository.subscribed_endpoints(workspace_id, event_type)
    if not endpoints:
        return None
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        return None
    now = utc_now()
    path = announcement_path(workspace.slug, announcement.id)
    body = event_body(event_type, announcement, path, now)
    message = WebhookMessage(
        workspace_id=workspace_id,
        id=new_id("msg"),
        event_type=event_type.value,
        announcement_id=announcement.id,
        dedupe_key=dedupe_key,
        payload=body,
        created_at=now,
    )
    session.add(message)
    await session.flush()  # the deliveries refer to it
    for endpoint in endpoints:
        session.add(
            WebhookDelivery(
                workspace_id=workspace_id,
                id=new_id("whd"),
                endpoint_id=endpoint.id,
                message_id=message.id,
                status=PENDING,
                next_attempt_at=now,
                retry_from=now,
                created_at=now,
            )
        )
    await session.flush()
    wake_worker_after_commit(session)
    return message


def transition_key(event_type: EventType, announcement_id: str, moment: datetime) -> str:
    """One message per transition; the same announcement may go live again at a new time."""
    return f"{event_type.value}:{announcement_id}:{moment.isoformat()}"
