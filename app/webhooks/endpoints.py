from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from app.config import Settings
from app.db import SessionDep
from app.errors import problem_responses
from app.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from app.kit.time import utc_now
from app.models import WebhookEndpoint
from app.webhooks.schemas import (
    AttemptPublic,
    DeliveryPage,
    DeliveryPublic,
    DeliveryStatus,
    EndpointCreate,
    EndpointCreated,
    EndpointList,
    EndpointPublic,
    EndpointUpdate,
    SecretRotated,
)
from app.webhooks.service import DeliveryRecord, webhook_service
from app.webhooks.signing import previous_secrets_end
from app.workspaces.auth import SecretKeyAuth

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def to_public(endpoint: WebhookEndpoint) -> EndpointPublic:
    previous_end = previous_secrets_end(endpoint.secrets)
    return EndpointPublic(
        id=endpoint.id,
        url=endpoint.url,
        kind=endpoint.kind,
        description=endpoint.description,
        event_types=endpoint.event_types,
        enabled=endpoint.is_enabled,
        disabled_at=endpoint.disabled_at,
        disabled_reason=endpoint.disabled_reason,
        failing_since=endpoint.failing_since,
        previous_secret_expires_at=previous_end
        if previous_end and previous_end > utc_now()
        else None,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def delivery_public(record: DeliveryRecord) -> DeliveryPublic:
    delivery = record.delivery
    return DeliveryPublic(
        id=delivery.id,
        message_id=delivery.message_id,
        event_type=record.message.event_type,
        announcement_id=record.message.announcement_id,
        status=delivery.status,
        attempts=delivery.attempts,
        response_status=delivery.response_status,
        last_error=delivery.last_error,
        next_attempt_at=delivery.next_attempt_at,
        last_attempt_at=delivery.last_attempt_at,
        delivered_at=delivery.delivered_at,
        created_at=delivery.created_at,
        attempt_log=[AttemptPublic.model_validate(attempt) for attempt in record.attempts],
    )


@router.post("", status_code=status.HTTP_201_CREATED, responses=problem_responses(409))
async def create_webhook(
    data: EndpointCreate,
    request: Request,
    session: SessionDep,
    auth: SecretKeyAuth,
    response: Response,
) -> EndpointCreated:
    """Add an endpoint. Its signing secret is in this answer only: store it now."""
    endpoint, secret = await webhook_service.create(
        session, auth.workspace_id, data, _settings(request)
    )
    response.headers["Location"] = f"/v1/webhooks/{endpoint.id}"
    return EndpointCreated(**to_public(endpoint).model_dump(), secret=secret)


@router.get("")
async def list_webhooks(session: SessionDep, auth: SecretKeyAuth) -> EndpointList:
    """Every endpoint of the workspace (secrets are never listed)."""
    endpoints = await webhook_service.list(session, auth.workspace_id)
    return EndpointList(data=[to_public(endpoint) for endpoint in endpoints])


@router.get("/{endpoint_id}")
async def get_webhook(endpoint_id: str, session: SessionDep, auth: SecretKeyAuth) -> EndpointPublic:
    """One endpoint, with why it was disabled if it was."""
    return to_public(await webhook_service.get(session, auth.workspace_id, endpoint_id))


@router.patch("/{endpoint_id}")
async def update_webhook(
    endpoint_id: str,
    data: EndpointUpdate,
    request: Request,
    session: SessionDep,
    auth: SecretKeyAuth,
) -> EndpointPublic:
    """Change the URL, events, description or enabled flag (its kind is fixed)."""
    endpoint = await webhook_service.update(
        session, auth.workspace_id, endpoint_id, data, _settings(request)
    )
    return to_public(endpoint)


@router.delete("/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(endpoint_id: str, session: SessionDep, auth: SecretKeyAuth) -> None:
    """Delete an endpoint and its delivery history; nothing more is sent to it."""
    await webhook_service.delete(session, auth.workspace_id, endpoint_id)


@router.post("/{endpoint_id}/rotate-secret")
async def rotate_webhook_secret(
    endpoint_id: str, request: Request, session: SessionDep, auth: SecretKeyAuth
) -> SecretRotated:
    """A new signing secret; the previous one keeps signing too for the overlap window."""
    endpoint, secret = await webhook_service.rotate_secret(
        session, auth.workspace_id, endpoint_id, _settings(request)
    )
    return SecretRotated(
        secret=secret, previous_secret_expires_at=previous_secrets_end(endpoint.secrets)
    )


@router.get("/{endpoint_id}/deliveries")
async def list_webhook_deliveries(
    endpoint_id: str,
    session: SessionDep,
    auth: SecretKeyAuth,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    delivery_status: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
) -> DeliveryPage:
    """Deliveries to this endpoint, newest first: status, response code, attempts, next try."""
    page = await webhook_service.list_deliveries(
        session, auth.workspace_id, endpoint_id, delivery_status, limit, cursor
    )
    return DeliveryPage(
        data=[delivery_public(record) for record in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(409),
)
async def redeliver_webhook(
    endpoint_id: str, delivery_id: str, session: SessionDep, auth: SecretKeyAuth
) -> DeliveryPublic:
    """Send a delivery again now, with the same `webhook-id` and a fresh 3-day retry window."""
    record = await webhook_service.redeliver(session, auth.workspace_id, endpoint_id, delivery_id)
    return delivery_public(record)
