"""Webhooks in the console (owners): the endpoints (add one, its secret shown once; enable,
disable, delete) and each endpoint's deliveries (status, attempts, the last answer or
error, the next try; redeliver). Every change is a ``webhook_service`` call, as the API's
``/v1/webhooks`` make."""

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from starlette.responses import RedirectResponse

from app.accounts.schemas import Role
from app.config import Settings
from app.console.auth import CsrfDep, WorkspaceContext, WorkspaceDep
from app.console.endpoints import text
from app.console.forms import what_to_fix
from app.console.routing import ConsoleRoute, Refused, pages_of
from app.db import SessionDep
from app.errors import AppError, field_errors_from_pydantic
from app.webhooks.endpoints import delivery_public, to_public
from app.webhooks.events import EventType
from app.webhooks.schemas import EndpointCreate, EndpointKind, EndpointUpdate
from app.webhooks.service import webhook_service

router = APIRouter(prefix="/console/w/{slug}", route_class=ConsoleRoute, include_in_schema=False)

DELIVERIES_SHOWN = 50
NOTICES = {
    "deleted": "The endpoint is deleted: nothing more is sent to it.",
    "enabled": "The endpoint is enabled again.",
    "disabled": "The endpoint is disabled: what was waiting for it is marked failed.",
    "redelivered": "Sent again now, with the same webhook-id.",
}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _list_page(
    request: Request,
    context: WorkspaceContext,
    session: SessionDep,
    *,
    status_code: int = 200,
    notice: str | None = None,
    problem: str | None = None,
    created: dict[str, Any] | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    context.require(Role.owner, "webhooks")
    endpoints = await webhook_service.list(session, context.workspace.id)
    return pages_of(request).render(
        "webhooks/list.html",
        status_code=status_code,
        context=context,
        section="webhooks",
        endpoints=[to_public(endpoint) for endpoint in endpoints],
        kinds=[kind.value for kind in EndpointKind],
        event_types=[event.value for event in EventType],
        form=form or {"url": "", "kind": "standard", "description": "", "events": []},
        notice=notice,
        problem=problem,
        created=created,
    )


@router.get("/webhooks")
async def webhooks(
    request: Request, context: WorkspaceDep, session: SessionDep, done: str | None = None
) -> Response:
    return await _list_page(request, context, session, notice=NOTICES.get(done or ""))


@router.post("/webhooks")
async def add_webhook(
    request: Request, context: WorkspaceDep, session: SessionDep, _csrf: CsrfDep
) -> Response:
    context.require(Role.owner, "adding webhooks")
    form = await request.form()
    events = [value for value in form.getlist("event_types") if isinstance(value, str)]
    values = {
        "url": text(form, "url", 2000).strip(),
        "kind": text(form, "kind", 16),
        "description": text(form, "description", 500),
        "events": events,
    }
    try:
        data = EndpointCreate.model_validate(
            {
                "url": values["url"],
                "kind": values["kind"],
                "description": values["description"],
                "event_types": events or None,
            }
        )
        endpoint, secret = await webhook_service.create(
            session, context.workspace.id, data, _settings(request)
        )
    except ValidationError as exc:
        problem = what_to_fix(field_errors_from_pydantic(exc.errors()))
        raise Refused(
            await _list_page(
                request, context, session, status_code=422, problem=problem, form=values
            )
        ) from None
    except AppError as exc:
        raise Refused(
            await _list_page(
                request, context, session, status_code=exc.status, problem=exc.detail, form=values
            )
        ) from None
    created = {"url": endpoint.url, "secret": secret}
    return await _list_page(
        request, context, session, status_code=201, notice="Endpoint added.", created=created
    )


async def _endpoint_page(
    request: Request,
    context: WorkspaceContext,
    session: SessionDep,
    endpoint_id: str,
    *,
    status_code: int = 200,
    notice: str | None = None,
    problem: str | None = None,
) -> Response:
    context.require(Role.owner, "webhooks")
    endpoint = await webhook_service.get(session, context.workspace.id, endpoint_id)
    page = await webhook_service.list_deliveries(
        session, context.workspace.id, endpoint_id, None, DELIVERIES_SHOWN, None
    )
    return pages_of(request).render(
        "webhooks/endpoint.html",
        status_code=status_code,
        context=context,
        section="webhooks",
        endpoint=to_public(endpoint),
        deliveries=[delivery_public(record) for record in page.items],
        more=page.next_cursor is not None,
        notice=notice,
        problem=problem,
    )


@router.get("/webhooks/{endpoint_id}")
async def webhook(
    request: Request,
    endpoint_id: str,
    context: WorkspaceDep,
    session: SessionDep,
    done: str | None = None,
) -> Response:
    return await _endpoint_page(
        request, context, session, endpoint_id, notice=NOTICES.get(done or "")
    )


@router.post("/webhooks/{endpoint_id}/enabled")
async def switch_webhook(
    request: Request, endpoint_id: str, context: WorkspaceDep, session: SessionDep, _csrf: CsrfDep
) -> Response:
    context.require(Role.owner, "changing webhooks")
    enabled = text(await request.form(), "enabled", 8) == "true"
    await webhook_service.update(
        session,
        context.workspace.id,
        endpoint_id,
        EndpointUpdate(enabled=enabled),
        _settings(request),
    )
    done = "enabled" if enabled else "disabled"
    return RedirectResponse(
        f"/console/w/{context.workspace.slug}/webhooks/{endpoint_id}?done={done}", 303
    )


@router.post("/webhooks/{endpoint_id}/delete")
async def delete_webhook(
    request: Request, endpoint_id: str, context: WorkspaceDep, session: SessionDep, _csrf: CsrfDep
) -> Response:
    context.require(Role.owner, "deleting webhooks")
    await webhook_service.delete(session, context.workspace.id, endpoint_id)
    return RedirectResponse(f"/console/w/{context.workspace.slug}/webhooks?done=deleted", 303)


@router.post("/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(
    request: Request,
    endpoint_id: str,
    delivery_id: str,
    context: WorkspaceDep,
    session: SessionDep,
    _csrf: CsrfDep,
) -> Response:
    context.require(Role.owner, "redelivering webhooks")
    try:
        await webhook_service.redeliver(session, context.workspace.id, endpoint_id, delivery_id)
    except AppError as exc:
        if exc.status == 404:
            raise
        raise Refused(
            await _endpoint_page(
                request,
                context,
                session,
                endpoint_id,
                status_code=exc.status,
                problem=exc.detail,
            )
        ) from None
    return RedirectResponse(
        f"/console/w/{context.workspace.slug}/webhooks/{endpoint_id}?done=redelivered", 303
    )
