"""Every query about webhook endpoints, the outbox, deliveries, attempts and the lease."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, func, or_, select, tuple_, update
from sqlmodel import col

from app.announcements.schemas import Status
from app.kit.repository import Repository
from app.kit.time import as_utc
from app.models import (
    Announcement,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookLease,
    WebhookMessage,
)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
LEASE_NAME = "delivery"


class WebhookRepository(Repository):
    # Endpoints

    async def get_endpoint(self, workspace_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        return await self.session.get(WebhookEndpoint, (workspace_id, endpoint_id))

    async def list_endpoints(self, workspace_id: str) -> Sequence[WebhookEndpoint]:
        statement = (
            select(WebhookEndpoint)
            .where(col(WebhookEndpoint.workspace_id) == workspace_id)
            .order_by(col(WebhookEndpoint.id))
        )
        return (await self.session.execute(statement)).scalars().all()

    async def count_endpoints(self, workspace_id: str) -> int:
        statement = select(func.count()).where(col(WebhookEndpoint.workspace_id) == workspace_id)
        return int((await self.session.execute(statement)).scalar_one())

    async def subscribed_endpoints(
        self, workspace_id: str, event_type: str
    ) -> list[WebhookEndpoint]:
        statement = select(WebhookEndpoint).where(
            col(WebhookEndpoint.workspace_id) == workspace_id,
            col(WebhookEndpoint.is_enabled).is_(True),
        )
        endpoints = (await self.session.execute(statement)).scalars().all()
        return [endpoint for endpoint in endpoints if event_type in endpoint.event_types]

    # The outbox

    async def message_exists(self, workspace_id: str, dedupe_key: str) -> bool:
        statement = select(col(WebhookMessage.id)).where(
            col(WebhookMessage.workspace_id) == workspace_id,
            col(WebhookMessage.dedupe_key) == dedupe_key,
        )
        return (await self.session.execute(statement)).first() is not None

    async def reaching(
        self, field: Literal["publish_at", "expire_at"], since: datetime, until: datetime
    ) -> Sequence[Announcement]:
        """Published announcements whose ``moment`` (publish_at, expire_at) came in (since,
        until], and that were published before it: else the write itself told the story.
        """
        published_at = col(Announcement.published_at)
        moment = col(Announcement.publish_at if field == "publish_at" else Announcement.expire_at)
        statement = select(Announcement).where(
            col(Announcement.status) == Status.published,
            moment > since,
            moment <= until,
            or_(published_at.is_(None), published_at <= moment),
        )
        return (await self.session.execute(statement)).scalars().all()

    # Deliveries

    async def get_delivery(self, workspace_id: str, delivery_id: str) -> WebhookDelivery | None:
        return await self.session.get(WebhookDelivery, (workspace_id, delivery_id))

    async def list_deliveries(
        self,
        workspace_id: str,
        endpoint_id: str,
        status: str | None,
        limit: int,
        before_id: str | None,
    ) -> Sequence[tuple[WebhookDelivery, WebhookMessage]]:
        """Newest first (ids sort by creation time), keyset paged."""
        statement = (
            select(WebhookDelivery, WebhookMessage)
            .join(
                WebhookMessage,
                and_(
                    col(WebhookMessage.workspace_id) == col(WebhookDelivery.workspace_id),
                    col(WebhookMessage.id) == col(WebhookDelivery.message_id),
                ),
            )
            .where(
                col(WebhookDelivery.workspace_id) == workspace_id,
                col(WebhookDelivery.endpoint_id) == endpoint_id,
            )
        )
        if status is not None:
            statement = statement.where(col(WebhookDelivery.status) == status)
        if before_id is not None:
            statement = statement.where(col(WebhookDelivery.id) < before_id)
        statement = statement.order_by(col(WebhookDelivery.id).desc()).limit(limit)
        rows = (await self.session.execute(statement)).all()
        return [(delivery, message) for delivery, message in rows]

    async def attempts_of(
        self, workspace_id: str, delivery_ids: Sequence[str]
    ) -> Sequence[WebhookAttempt]:
        if not delivery_ids:
            return []
        statement = (
            select(WebhookAttempt)
            .where(
                col(WebhookAttempt.workspace_id) == workspace_id,
                col(WebhookAttempt.delivery_id).in_(delivery_ids),
            )
            .order_by(col(WebhookAttempt.id))
        )
        return (await self.session.execute(statement)).scalars().all()

    async def first_attempt_at(self, delivery: WebhookDelivery) -> datetime | None:
        statement = select(func.min(col(WebhookAttempt.attempted_at))).where(
            col(WebhookAttempt.workspace_id) == delivery.workspace_id,
            col(WebhookAttempt.delivery_id) == delivery.id,
        )
        value = (await self.session.execute(statement)).scalar_one_or_none()
        return as_utc(value) if value is not None else None

    async def claim_due(
        self, now: datetime, claimed_until: datetime, token: str, limit: int
    ) -> Sequence[tuple[WebhookDelivery, WebhookEndpoint, WebhookMessage]]:
        """Take up to ``limit`` due deliveries: pushed past their send and marked ``token``.

        The update re-checks "due", so of two workers racing for a row one gets it.
        """
        due = (
            select(col(WebhookDelivery.workspace_id), col(WebhookDelivery.id))
            .where(
                col(WebhookDelivery.status) == PENDING,
                col(WebhookDelivery.next_attempt_at) <= now,
            )
            .order_by(col(WebhookDelivery.next_attempt_at))
            .limit(limit)
        )
        keys = [(row[0], row[1]) for row in (await self.session.execute(due)).all()]
        if not keys:
            return []
        key = tuple_(col(WebhookDelivery.workspace_id), col(WebhookDelivery.id))
        await self.session.execute(
            update(WebhookDelivery)
            .where(
                key.in_(keys),
                col(WebhookDelivery.status) == PENDING,
                col(WebhookDelivery.next_attempt_at) <= now,
            )
            .values(next_attempt_at=claimed_until, claim_token=token)
        )
        statement = (
            select(WebhookDelivery, WebhookEndpoint, WebhookMessage)
            .join(
                WebhookEndpoint,
                and_(
                    col(WebhookEndpoint.workspace_id) == col(WebhookDelivery.workspace_id),
                    col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id),
                ),
            )
            .join(
                WebhookMessage,
                and_(
                    col(WebhookMessage.workspace_id) == col(WebhookDelivery.workspace_id),
                    col(WebhookMessage.id) == col(WebhookDelivery.message_id),
                ),
            )
            .where(key.in_(keys), col(WebhookDelivery.claim_token) == token)
        )
        rows = (await self.session.execute(statement)).all()
        return [(delivery, endpoint, message) for delivery, endpoint, message in rows]

    async def record_outcome(
        self, delivery: WebhookDelivery, claim_token: str | None, values: dict[str, Any]
    ) -> bool:
        """Write an attempt's outcome, unless the delivery was taken out of that claim
        since (disabled, redelivered): then the newer state stands.
        """
        result = await self.session.execute(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.workspace_id) == delivery.workspace_id,
                col(WebhookDelivery.id) == delivery.id,
                col(WebhookDelivery.claim_token) == claim_token,
            )
            .values(**values)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def fail_pending_of(self, workspace_id: str, endpoint_id: str, reason: str) -> None:
        """Give up the endpoint's pending deliveries (it was disabled); redeliverable later."""
        await self.session.execute(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.workspace_id) == workspace_id,
                col(WebhookDelivery.endpoint_id) == endpoint_id,
                col(WebhookDelivery.status) == PENDING,
            )
            .values(status=FAILED, next_attempt_at=None, claim_token=None, last_error=reason)
        )

    # The lease

    async def take_lease(self, holder: str, now: datetime, expires_at: datetime) -> bool:
        """Hold (or keep holding) the delivery lease until ``expires_at``, if it is free."""
        current = await self.session.get(WebhookLease, LEASE_NAME)
        if current is not None and current.holder != holder and current.expires_at > now:
            return False  # held by another process: known without taking a write lock
        result = await self.session.execute(
            update(WebhookLease)
            .where(
                col(WebhookLease.name) == LEASE_NAME,
                or_(col(WebhookLease.holder) == holder, col(WebhookLease.expires_at) <= now),
            )
            .values(holder=holder, expires_at=expires_at)
        )
        if getattr(result, "rowcount", 0) == 1:
            return True
        if current is not None:
            return False  # taken between the read and the update
        self.session.add(WebhookLease(name=LEASE_NAME, holder=holder, expires_at=expires_at))
        await self.session.flush()  # a concurrent first insert fails here: the caller retries
        return True

    async def release_lease(self, holder: str, now: datetime) -> None:
        await self.session.execute(
            update(WebhookLease)
            .where(col(WebhookLease.name) == LEASE_NAME, col(WebhookLease.holder) == holder)
            .values(expires_at=now)
        )

    async def lease(self) -> WebhookLease | None:
        return await self.session.get(WebhookLease, LEASE_NAME)

    async def set_scanned_until(self, holder: str, moment: datetime) -> None:
        await self.session.execute(
            update(WebhookLease)
            .where(col(WebhookLease.name) == LEASE_NAME, col(WebhookLease.holder) == holder)
            .values(scanned_until=moment)
        )
