"""Webhook endpoints (create, change, rotate secrets, delete) and their deliveries."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Environment, Settings
from app.errors import Conflict, NotFound, invalid_field
from app.kit.ids import new_id
from app.kit.pagination import decode_cursor, encode_cursor
from app.kit.time import utc_now
from app.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage
from app.webhooks.outbox import wake_worker_after_commit
from app.webhooks.repository import PENDING, WebhookRepository
from app.webhooks.schemas import (
    MAX_ENDPOINTS,
    DeliveryStatus,
    EndpointCreate,
    EndpointUpdate,
    default_events,
)
from app.webhooks.signing import new_secret, rotate, secret_entry
from app.webhooks.ssrf import BlockedAddress, UnresolvableHost, checked_addresses

_RESOLVE_TIMEOUT_S = 3.0
_ALLOW_PRIVATE_HINT = (
    "The operator may allow private receivers with TIDINGS_WEBHOOK_ALLOW_PRIVATE=true."
)


@dataclass(frozen=True)
class DeliveryRecord:
    delivery: WebhookDelivery
    message: WebhookMessage
    attempts: Sequence[WebhookAttempt]


@dataclass(frozen=True)
class DeliveryPageResult:
    items: list[DeliveryRecord]
    next_cursor: str | None


async def checked_url(url: str, settings: Settings) -> str:
    """A receiver URL we may call, else a 422 on ``url`` that says what to change."""
    if any(char.isspace() for char in url):
        raise invalid_field("url", "may not contain spaces")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise invalid_field("url", "has an invalid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid_field(
            "url", "must be an absolute http or https URL, such as https://hooks.example.com/in"
        )
    if settings.environment is Environment.production and parts.scheme != "https":
        raise invalid_field("url", "must use https (this instance runs in production)")
    if parts.username is not None or parts.password is not None:
        raise invalid_field(
            "url", "may not carry credentials (user:password@); verify the signature instead"
        )
    if parts.fragment:
        raise invalid_field("url", "may not have a #fragment (it is never sent)")
    if not settings.webhook_allow_private:
        default_port = 443 if parts.scheme == "https" else 80
        try:
            async with asyncio.timeout(_RESOLVE_TIMEOUT_S):
                await checked_addresses(parts.hostname, port or default_port, allow_private=False)
        except BlockedAddress as exc:
            raise invalid_field("url", f"{exc}. {_ALLOW_PRIVATE_HINT}") from None
        except UnresolvableHost:
            raise invalid_field(
                "url", f"its host {parts.hostname} does not resolve; check the name"
            ) from None
        except TimeoutError:
            raise invalid_field(
                "url", f"its host {parts.hostname} did not resolve within 3 s"
            ) from None
    return url


class WebhookService:
    async def create(
        self, session: AsyncSession, workspace_id: str, data: EndpointCreate, settings: Settings
    ) -> tuple[WebhookEndpoint, str]:
        """The new endpoint and its signing secret (returned this once)."""
        repository = WebhookRepository(session)
        if await repository.count_endpoints(workspace_id) >= MAX_ENDPOINTS:
            raise Conflict(
                f"A workspace has at most {MAX_ENDPOINTS} webhook endpoints; delete one first."
            )
        url = await checked_url(data.url, settings)
        now = utc_now()
        secret = new_secret()
        endpoint = WebhookEndpoint(
            workspace_id=workspace_id,
            id=new_id("whe"),
            url=url,
            kind=data.kind.value,
            description=data.description,
            event_types=[e.value for e in data.event_types or default_events(data.kind)],
            is_enabled=data.enabled,
            secrets=[secret_entry(secret, now)],
            disabled_at=None if data.enabled else now,
            created_at=now,
            updated_at=now,
        )
        session.add(endpoint)
        await session.flush()
        return endpoint, secret

    async def list(self, session: AsyncSession, workspace_id: str) -> Sequence[WebhookEndpoint]:
        return await WebhookRepository(session).list_endpoints(workspace_id)

    async def get(
        self, session: AsyncSession, workspace_id: str, endpoint_id: str
    ) -> WebhookEndpoint:
        endpoint = await WebhookRepository(session).get_endpoint(workspace_id, endpoint_id)
        if endpoint is None:
            raise NotFound(f"No webhook endpoint {endpoint_id!r} in this workspace.")
        return endpoint

    async def update(
        self,
        session: AsyncSession,
        workspace_id: str,
        endpoint_id: str,
        data: EndpointUpdate,
        settings: Settings,
    ) -> WebhookEndpoint:
        endpoint = await self.get(session, workspace_id, endpoint_id)
        changes = data.changes()
        now = utc_now()
        if "url" in changes:
            endpoint.url = await checked_url(str(changes["url"]), settings)
        if data.event_types is not None:
            endpoint.event_types = [e.value for e in data.event_types]
        if data.description is not None:
            endpoint.description = data.description
        if data.enabled is True and not endpoint.is_enabled:
            endpoint.is_enabled = True
            endpoint.disabled_at = endpoint.disabled_reason = endpoint.failing_since = None
        elif data.enabled is False and endpoint.is_enabled:
            endpoint.is_enabled = False
            endpoint.disabled_at = now
            await WebhookRepository(session).fail_pending_of(
                workspace_id, endpoint_id, "the endpoint was disabled"
            )
        endpoint.updated_at = now
        await session.flush()
        return endpoint

    async def delete(self, session: AsyncSession, workspace_id: str, endpoint_id: str) -> None:
        endpoint = await self.get(session, workspace_id, endpoint_id)
        await session.delete(endpoint)
        await session.flush()

    async def rotate_secret(
        self, session: AsyncSession, workspace_id: str, endpoint_id: str, settings: Settings
    ) -> tuple[WebhookEndpoint, str]:
        endpoint = await self.get(session, workspace_id, endpoint_id)
        now = utc_now()
        overlap = timedelta(seconds=settings.webhook_secret_overlap_s)
        secret, endpoint.secrets = rotate(endpoint.secrets, now, overlap)
        endpoint.updated_at = now
        await session.flush()
        return endpoint, secret

    async def list_deliveries(
        self,
        session: AsyncSession,
        workspace_id: str,
        endpoint_id: str,
        status: DeliveryStatus | None,
        limit: int,
        cursor: str | None,
    ) -> DeliveryPageResult:
        await self.get(session, workspace_id, endpoint_id)
        before_id = _position_from_cursor(cursor, status) if cursor else None
        repository = WebhookRepository(session)
        rows = await repository.list_deliveries(
            workspace_id, endpoint_id, status.value if status else None, limit + 1, before_id
        )
        page = rows[:limit]
        attempts = await repository.attempts_of(workspace_id, [d.id for d, _ in page])
        records = [
            DeliveryRecord(delivery, message, [a for a in attempts if a.delivery_id == delivery.id])
            for delivery, message in page
        ]
        next_cursor = None
        if len(rows) > limit:
            position = {"id": page[-1][0].id, "status": status.value if status else None}
            next_cursor = encode_cursor(position)
        return DeliveryPageResult(records, next_cursor)

    async def redeliver(
        self, session: AsyncSession, workspace_id: str, endpoint_id: str, delivery_id: str
    ) -> DeliveryRecord:
        """Send a delivery again now (same webhook-id), with a fresh retry window."""
        endpoint = await self.get(session, workspace_id, endpoint_id)
        repository = WebhookRepository(session)
        delivery = await repository.get_delivery(workspace_id, delivery_id)
        if delivery is None or delivery.endpoint_id != endpoint_id:
            raise NotFound(f"No delivery {delivery_id!r} for this endpoint.")
        if not endpoint.is_enabled:
            raise Conflict(
                'The endpoint is disabled; enable it (PATCH {"enabled": true}) and redeliver.'
            )
        now = utc_now()
        delivery.status = PENDING
        delivery.next_attempt_at = now
        delivery.retry_from = now
        delivery.claim_token = None
        await session.flush()
        wake_worker_after_commit(session)
        message = await session.get(WebhookMessage, (workspace_id, delivery.message_id))
        assert message is not None  # deliveries cascade with their message
        attempts = await repository.attempts_of(workspace_id, [delivery.id])
        return DeliveryRecord(delivery, message, attempts)


def _position_from_cursor(cursor: str, status: DeliveryStatus | None) -> str:
    position = decode_cursor(cursor)
    delivery_id = position.get("id")
    if not isinstance(delivery_id, str):
        raise invalid_field("cursor", "is not a cursor returned by this API; start without one")
    if position.get("status") != (status.value if status else None):
        raise invalid_field("cursor", "was made for another status filter; keep it the same")
    return delivery_id


webhook_service = WebhookService()
