"""The delivery worker: one per deployment (a lease row), inside the server process.

Each round the worker (1) takes or keeps the lease, so among N replicas one delivers;
(2) every scan interval, turns announcements whose publish_at or expire_at came since the
last scan into messages (exactly once each: a unique key per transition); (3) claims due
deliveries and sends each in its own task, so a receiver that hangs delays nothing else.

A claim pushes the delivery's due time past its send (two timeouts): a worker that dies
mid-send leaves it due again soon after, and a worker that lost the lease while sending
cannot have the same row taken by another one meanwhile. Delivery is at least once: a crash
between the receiver's answer and the record of it sends again, with the same webhook-id.
"""

import asyncio
import logging
import os
import random
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

import orjson
from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.config import Settings
from app.kit.ids import new_id, new_ulid
from app.kit.time import utc_now
from app.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from app.webhooks.events import EventType
from app.webhooks.outbox import on_commit_of_messages, record_event, transition_key
from app.webhooks.repository import DELIVERED, FAILED, WebhookRepository
from app.webhooks.schemas import EndpointKind
from app.webhooks.sender import SendResult, WebhookSender
from app.webhooks.signing import signed_headers, signing_secrets
from app.webhooks.slack import slack_message

logger = logging.getLogger("tidings.webhooks")

_MAX_IN_FLIGHT = 20
_ERROR_PAUSE_S = 2.0
_TIME_DRIVEN: tuple[tuple[EventType, Literal["publish_at", "expire_at"]], ...] = (
    (EventType.scheduled, "publish_at"),
    (EventType.expired, "expire_at"),
)


def retry_delay_s(
    attempts: int, base_s: float, max_s: float, rng: Callable[[], float] = random.random
) -> float:
    """Exponential backoff with jitter: base·2^(n-1), capped, then a random 50-100 % of it.

    The jitter spreads the retries of many deliveries that failed together (a receiver's
    outage) so they do not all come back at the same second.
    """
    exponential: float = min(max_s, base_s * 2.0 ** min(attempts - 1, 40))
    return exponential * (0.5 + rng() / 2)


def body_for(endpoint: WebhookEndpoint, message: WebhookMessage, public_url: str) -> bytes:
    """The bytes a receiver gets: the event (its permalink absolute), or a Slack message."""
    data = dict(message.payload["data"])
    data["url"] = public_url.rstrip("/") + str(data["url"])
    body = {**message.payload, "data": data}
    if endpoint.kind == EndpointKind.slack:
        body = slack_message(body)
    return orjson.dumps(body)


class DeliveryWorker:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        sender: WebhookSender | None = None,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.sender = sender or WebhookSender(
            timeout_s=settings.webhook_timeout_s, allow_private=settings.webhook_allow_private
        )
        self.holder = f"{socket.gethostname()[:40]}:{os.getpid()}:{new_ulid()[-10:]}"
        self._ttl = timedelta(seconds=settings.webhook_lease_ttl_s)
        self._window = timedelta(seconds=settings.webhook_retry_window_s)
        self._lease_until: datetime | None = None
        self._next_scan: datetime | None = None
        self._wakeup = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._sends: set[asyncio.Future[SendResult]] = set()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def holds_lease(self) -> bool:
        return self._lease_until is not None and utc_now() < self._lease_until

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        # Commits may come from another event loop's thread (the CLI): hand over safely.

        def wake_from_any_thread() -> None:
            loop.call_soon_threadsafe(self._wakeup.set)

        self._unsubscribe = on_commit_of_messages(wake_from_any_thread)
        self._task = asyncio.create_task(self._run(), name="tidings-webhook-worker")

    async def stop(self) -> None:
        """Stop sending; what was in flight is due again once its claim runs out.

        Only the HTTP requests are cancelled. Database work is left to finish: a
        statement cancelled midway can leave a SQLite write lock held by a lost connection.
        """
        if self._stopping:
            return
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._stopping = True
        self._wakeup.set()
        for send in self._sends:
            send.cancel()
        await asyncio.gather(
            *(task for task in (self._task, *self._in_flight) if task is not None),
            return_exceptions=True,
        )
        if self._lease_until is not None:
            try:
                async with self.sessionmaker() as session:
                    await WebhookRepository(session).release_lease(self.holder, utc_now())
                    await session.commit()
            except Exception:
                logger.warning("could not release the webhook lease", exc_info=True)
        await self.sender.aclose()

    async def _run(self) -> None:
        while not self._stopping:
            healthy = True
            try:
                claimed = await self.run_once()
            except Exception:
                healthy = False
                logger.warning("webhook worker round failed; retrying", exc_info=True)
                self._lease_until = None
                claimed = 0
            if claimed == 0 and not self._stopping:
                pause_s = self.settings.webhook_poll_interval_s if healthy else _ERROR_PAUSE_S
                try:
                    async with asyncio.timeout(pause_s):
                        await self._wakeup.wait()
                except TimeoutError:
                    pass
                self._wakeup.clear()

    async def run_once(self) -> int:
        """One round: lease, scan when due, claim and start due deliveries (their number)."""
        now = utc_now()
        if not await self._hold_lease(now):
            return 0
        if self._next_scan is None or now >= self._next_scan:
            await self._scan(now)
            self._next_scan = now + timedelta(seconds=self.settings.webhook_scan_interval_s)
        room = _MAX_IN_FLIGHT - len(self._in_flight)
        if room <= 0 or self._stopping:
            return 0
        token = new_ulid()
        claimed_until = now + timedelta(seconds=2 * self.settings.webhook_timeout_s)
        async with self.sessionmaker() as session:
            rows = await WebhookRepository(session).claim_due(now, claimed_until, token, room)
            await session.commit()
        for delivery, endpoint, message in rows:
            task = asyncio.create_task(self._deliver(delivery, endpoint, message))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(rows)

    async def _hold_lease(self, now: datetime) -> bool:
        if self._lease_until is not None and now < self._lease_until - self._ttl / 2:
            return True  # held, and far from running out: no write
        try:
            async with self.sessionmaker() as session:
                held = await WebhookRepository(session).take_lease(
                    self.holder, now, now + self._ttl
                )
                await session.commit()
        except IntegrityError:
            held = False  # another process created the lease row first
        if held and self._lease_until is None:
            logger.info("this process delivers webhooks now (%s)", self.holder)
        self._lease_until = now + self._ttl if held else None
        return held

    async def _scan(self, now: datetime) -> None:
        """Messages for scheduled announcements that went live, and for expired ones."""
        async with self.sessionmaker() as session:
            repository = WebhookRepository(session)
            lease = await repository.lease()
            since = lease.scanned_until if lease and lease.scanned_until else now
            # After a long outage, transitions older than the retry window are not told.
            since = max(since, now - self._window)
            if since < now:
                transitions = [
                    (event_type, announcement, getattr(announcement, field))
                    for event_type, field in _TIME_DRIVEN
                    for announcement in await repository.reaching(field, since, now)
                ]
                for event_type, announcement, moment in transitions:
                    assert moment is not None
                    key = transition_key(event_type, announcement.id, moment)
                    if not await repository.message_exists(announcement.workspace_id, key):
                        await record_event(session, event_type, announcement, dedupe_key=key)
            await repository.set_scanned_until(self.holder, now)
            await session.commit()

    async def _deliver(
        self, delivery: WebhookDelivery, endpoint: WebhookEndpoint, message: WebhookMessage
    ) -> None:
        now = utc_now()
        body = body_for(endpoint, message, self.settings.public_url)
        headers = signed_headers(signing_secrets(endpoint.secrets, now), message.id, now, body)
        send = asyncio.ensure_future(self.sender.post(endpoint.url, headers, body))
        self._sends.add(send)
        try:
            result = await send
        except asyncio.CancelledError:
            if self._stopping:
                return  # sent again once the claim runs out
            raise
        finally:
            self._sends.discard(send)
        try:
            async with self.sessionmaker() as session:
                await self._record(session, delivery, endpoint, result)
                await session.commit()
        except Exception:
            # Not recorded: the claim runs out and it is sent again (same webhook-id).
            logger.warning("could not record webhook delivery %s", delivery.id, exc_info=True)

    async def _record(
        self,
        session: AsyncSession,
        delivery: WebhookDelivery,
        endpoint: WebhookEndpoint,
        result: SendResult,
    ) -> None:
        now = utc_now()
        repository = WebhookRepository(session)
        attempts = delivery.attempts + 1
        session.add(
            WebhookAttempt(
                workspace_id=delivery.workspace_id,
                id=new_id("wha"),
                delivery_id=delivery.id,
                attempted_at=now,
                response_status=result.status,
                error=_bounded(result.error),
                duration_ms=result.duration_ms,
            )
        )
        outcome: dict[str, object] = {
            "attempts": attempts,
            "last_attempt_at": now,
            "response_status": result.status,
            "last_error": _bounded(result.error),
            "claim_token": None,
        }
        endpoint_row = update(WebhookEndpoint).where(
            col(WebhookEndpoint.workspace_id) == endpoint.workspace_id,
            col(WebhookEndpoint.id) == endpoint.id,
        )
        if result.is_success:
            outcome |= {"status": DELIVERED, "next_attempt_at": None, "delivered_at": now}
            await repository.record_outcome(delivery, delivery.claim_token, outcome)
            if endpoint.failing_since is not None:
                await session.execute(endpoint_row.values(failing_since=None))
            return
        next_at = now + timedelta(
            seconds=retry_delay_s(
                attempts,
                self.settings.webhook_retry_base_s,
                self.settings.webhook_retry_max_delay_s,
            )
        )
        gives_up = next_at > delivery.retry_from + self._window
        if gives_up:
            outcome |= {"status": FAILED, "next_attempt_at": None}
        else:
            outcome |= {"next_attempt_at": next_at}
        if not await repository.record_outcome(delivery, delivery.claim_token, outcome):
            return  # disabled or redelivered meanwhile
        failing_since = endpoint.failing_since or now
        # Disabled when it failed for a whole window: by the clock, or because a delivery
        # was given up while not one attempt to the endpoint succeeded since its first try.
        failed_throughout = now - failing_since >= self._window or (
            gives_up
            and failing_since <= (await repository.first_attempt_at(delivery) or failing_since)
        )
        if failed_throughout and endpoint.is_enabled:
            reason = (
                f"Disabled automatically on {now:%Y-%m-%d %H:%M} UTC: every delivery failed "
                f"since {failing_since:%Y-%m-%d %H:%M:%S} UTC. Last error: {result.error}"
            )
            await session.execute(
                endpoint_row.values(
                    is_enabled=False, disabled_at=now, disabled_reason=_bounded(reason)
                )
            )
            await repository.fail_pending_of(
                endpoint.workspace_id, endpoint.id, "the endpoint was disabled"
            )
            logger.warning("webhook endpoint %s disabled: %s", endpoint.id, reason)
        else:
            await session.execute(
                endpoint_row.values(
                    failing_since=func.coalesce(col(WebhookEndpoint.failing_since), now)
                )
            )

    def wake(self) -> None:
        self._wakeup.set()


def _bounded(text: str | None, limit: int = 1000) -> str | None:
    return text[: limit - 1] + "…" if text is not None and len(text) > limit else text
