"""Workspace settings in the console (owners): allowed origins, the time zone, identity
verification and its secrets, API keys (a new key shown once), and the embed snippet.
Every change is a ``workspace_service`` call, as the API's ``PATCH /v1/workspace`` and
``/v1/keys`` make."""

from typing import Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from starlette.responses import RedirectResponse

from app.accounts.audit import Actor
from app.accounts.schemas import Role
from app.console.auth import CsrfDep, WorkspaceContext, WorkspaceDep
from app.console.endpoints import text
from app.console.forms import what_to_fix
from app.console.routing import ConsoleRoute, Refused, pages_of
from app.db import SessionDep
from app.errors import AppError, field_errors_from_pydantic
from app.workspaces.keys import KeyKind
from app.workspaces.schemas import ApiKeyCreate, IdentityVerification, WorkspaceUpdate
from app.workspaces.service import workspace_service

router = APIRouter(prefix="/console/w/{slug}", route_class=ConsoleRoute, include_in_schema=False)

# What the time zone menu offers: every IANA zone this system knows, "Area/City" first.
ZONES = sorted(available_timezones(), key=lambda zone: ("/" not in zone, zone))

NOTICES = {
    "saved": "Settings saved.",
    "rotated": "A new identity secret is current; the previous one still verifies until removed.",
    "removed": "The old identity secret is removed.",
    "revoked": "The key is revoked: requests with it fail from now on.",
}


async def _settings_page(
    request: Request,
    context: WorkspaceContext,
    session: SessionDep,
    *,
    status_code: int = 200,
    notice: str | None = None,
    problem: str | None = None,
    new_key: str | None = None,
) -> Response:
    context.require(Role.owner, "workspace settings")
    keys = await workspace_service.list_keys(session, context.workspace.id)
    publishable = next(
        (key.preview for key in keys if key.kind == KeyKind.publishable and key.revoked_at is None),
        None,
    )
    return pages_of(request).render(
        "settings.html",
        status_code=status_code,
        context=context,
        section="settings",
        keys=keys,
        publishable_key=publishable,
        origin=f"{request.url.scheme}://{request.url.netloc}",
        verifications=[value.value for value in IdentityVerification],
        zones=ZONES,
        notice=notice,
        problem=problem,
        new_key=new_key,
    )


@router.get("/settings")
async def settings(
    request: Request, context: WorkspaceDep, session: SessionDep, done: str | None = None
) -> Response:
    return await _settings_page(request, context, session, notice=NOTICES.get(done or ""))


async def _update(
    request: Request,
    context: WorkspaceContext,
    session: SessionDep,
    changes: dict[str, Any],
    done: str,
) -> Response:
    context.require(Role.owner, "changing settings")
    try:
        data = WorkspaceUpdate.model_validate(changes)
        await workspace_service.update(
            session, context.workspace, data, actor=Actor.of_member(context.member)
        )
    except ValidationError as exc:
        problem = what_to_fix(field_errors_from_pydantic(exc.errors()))
        raise Refused(
            await _settings_page(request, context, session, status_code=422, problem=problem)
        ) from None
    except AppError as exc:
        raise Refused(
            await _settings_page(
                request, context, session, status_code=exc.status, problem=exc.detail
            )
        ) from None
    return RedirectResponse(f"/console/w/{context.workspace.slug}/settings?done={done}", 303)


@router.post("/settings/origins")
async def save_origins(
    request: Request, context: WorkspaceDep, session: SessionDep, _csrf: CsrfDep
) -> Response:
    lines = text(await request.form(), "allowed_origins", 20_000).splitlines()
    origins = [line.strip() for line in lines if line.strip()]
    return await _update(request, context, session, {"allowed_origins": origins}, "saved")


@router.post("/settings/zone")
async def save_zone(
    request: Request, context: WorkspaceDep, session: SessionDep, _csrf: CsrfDep
) -> Response:
    zone = text(await request.form(), "time_zone", 64) or None
    return await _update(request, context, session, {"time_zone": zone}, "saved")


@router.post("/settings/identity")
async def save_identity(
    request: Request, context: WorkspaceDep, session: SessionDep, _csrf: CsrfDep
) -> Response:
    form = await request.form()
    action = text(form, "action", 20)
    if action == "rotate":
        return await _update(request, context, session, {"rotate_identity_secret": True}, "rotated")
    if action == "remove":
        changes = {"remove_identity_secret": text(form, "secret_id", 40)}
        return await _update(request, context, session, changes, "removed")
    changes = {"identity_verification": text(form, "identity_verification", 16)}
    return await _update(request, context, session, changes, "saved")


@router.post("/settings/keys")
async def create_key(
    request: Request, context: WorkspaceDep, session: SessionDep, _csrf: CsrfDep
) -> Response:
    context.require(Role.owner, "creating API keys")
    form = await request.form()
    try:
        data = ApiKeyCreate.model_validate(
            {"kind": text(form, "kind", 16), "name": text(form, "name", 100) or "console"}
        )
    except ValidationError as exc:
        problem = what_to_fix(field_errors_from_pydantic(exc.errors()))
        raise Refused(
            await _settings_page(request, context, session, status_code=422, problem=problem)
        ) from None
    created = await workspace_service.create_key(
        session, context.workspace.id, data.kind, data.name, actor=Actor.of_member(context.member)
    )
    # Shown on this answer only: the server keeps a hash of a secret key.
    return await _settings_page(
        request, context, session, notice="Key created.", new_key=created.key
    )


@router.post("/settings/keys/{key_id}/revoke")
async def revoke_key(
    request: Request, key_id: str, context: WorkspaceDep, session: SessionDep, _csrf: CsrfDep
) -> Response:
    context.require(Role.owner, "revoking API keys")
    try:
        await workspace_service.revoke_key(
            session, context.workspace.id, key_id, actor=Actor.of_member(context.member)
        )
    except AppError as exc:
        if exc.status == 404:
            raise
        raise Refused(
            await _settings_page(
                request, context, session, status_code=exc.status, problem=exc.detail
            )
        ) from None
    return RedirectResponse(f"/console/w/{context.workspace.slug}/settings?done=revoked", 303)
