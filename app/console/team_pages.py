"""Team pages of the console: members and roles, invitations (owners), the audit log."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.responses import RedirectResponse

from app.accounts.audit import Actor, audit_service
from app.accounts.schemas import InvitationCreate, Role
from app.accounts.service import invitation_service, membership_service
from app.console.auth import CsrfDep, WorkspaceContext, WorkspaceDep
from app.console.endpoints import text
from app.console.routing import ConsoleRoute, Refused, pages_of
from app.db import SessionDep
from app.errors import Conflict, InvalidInput, invalid_field

router = APIRouter(prefix="/console/w/{slug}", route_class=ConsoleRoute, include_in_schema=False)

ROLES = tuple(role.value for role in Role)
AUDIT_PAGE_SIZE = 50


async def _members_page(
    request: Request,
    context: WorkspaceContext,
    session: SessionDep,
    *,
    status_code: int = 200,
    invitation_link: str | None = None,
    problem: str | None = None,
    notice: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    members = await membership_service.members_of(session, context.workspace.id)
    invitations = (
        await invitation_service.pending(session, context.workspace.id)
        if context.can_manage
        else []
    )
    return pages_of(request).render(
        "team/members.html",
        status_code=status_code,
        context=context,
        section="members",
        members=members,
        invitations=invitations,
        roles=ROLES,
        invitation_link=invitation_link,
        problem=problem,
        notice=notice,
        form=form or {"email": "", "role": "editor"},
    )


@router.get("/members")
async def members(
    request: Request,
    context: WorkspaceDep,
    session: SessionDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    notices = {
        "role": "Role changed.",
        "removed": "Member removed; their sessions ended.",
        "revoked": "Invitation withdrawn.",
    }
    return await _members_page(request, context, session, notice=notices.get(done or ""))


@router.post("/members/invite")
async def invite(
    request: Request, context: WorkspaceDep, session: SessionDep, _csrf: CsrfDep
) -> Response:
    context.require(Role.owner, "inviting members")
    submitted = await request.form()
    form = {"email": text(submitted, "email", 254), "role": text(submitted, "role", 16)}
    try:
        data = InvitationCreate.model_validate(form)
        created = await invitation_service.create(
            session, context.workspace.id, data, context.member.id
        )
    except (InvalidInput, Conflict) as exc:
        raise Refused(
            await _members_page(
                request, context, session, status_code=exc.status, problem=exc.detail, form=form
            )
        ) from None
    except ValueError as exc:  # pydantic's ValidationError
        raise Refused(
            await _members_page(
                request, context, session, status_code=422, problem=_first_message(exc), form=form
            )
        ) from None
    await _record(
        session,
        context,
        "invitation.created",
        "invitation",
        created.invitation.id,
        data.email,
        {"role": data.role.value},
    )
    link = str(request.url_for("invitation_page", token=created.token))
    # The link is shown on this answer only: the server keeps a hash of its token.
    return await _members_page(
        request, context, session, invitation_link=link, notice=f"{data.email} is invited."
    )


@router.post("/members/{member_id}/role")
async def change_role(
    request: Request, member_id: str, context: WorkspaceDep, session: SessionDep, _csrf: CsrfDep
) -> Response:
    context.require(Role.owner, "changing roles")
    role = text(await request.form(), "role", 16)
    if role not in ROLES:
        raise invalid_field("role", f"must be one of {', '.join(ROLES)}")
    await membership_service.change_role(session, context.workspace.id, member_id, Role(role))
    await _record(
        session,
        context,
        "member.role_changed",
        "member",
        member_id,
        "",
        {"role": role},
    )
    return RedirectResponse(f"/console/w/{context.workspace.slug}/members?done=role", 303)


@router.post("/members/{member_id}/remove")
async def remove_member(
    member_id: str, context: WorkspaceDep, session: SessionDep, _csrf: CsrfDep
) -> Response:
    context.require(Role.owner, "removing members")
    removed = await membership_service.remove(session, context.workspace.id, member_id)
    await _record(
        session,
        context,
        "member.removed",
        "member",
        member_id,
        removed.email,
    )
    if removed.id == context.member.id:
        return RedirectResponse("/console/sign-in", 303)
    return RedirectResponse(f"/console/w/{context.workspace.slug}/members?done=removed", 303)


@router.post("/invitations/{invitation_id}/revoke")
async def revoke_invitation(
    invitation_id: str, context: WorkspaceDep, session: SessionDep, _csrf: CsrfDep
) -> Response:
    context.require(Role.owner, "withdrawing invitations")
    invitation = await invitation_service.revoke(session, context.workspace.id, invitation_id)
    await _record(
        session,
        context,
        "invitation.revoked",
        "invitation",
        invitation.id,
        invitation.email,
    )
    return RedirectResponse(f"/console/w/{context.workspace.slug}/members?done=revoked", 303)


@router.get("/audit")
async def audit_log(
    request: Request,
    context: WorkspaceDep,
    session: SessionDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    page = await audit_service.page(session, context.workspace.id, AUDIT_PAGE_SIZE, cursor)
    return pages_of(request).render(
        "team/audit.html",
        context=context,
        section="audit",
        entries=page.entries,
        next_cursor=page.next_cursor,
    )


async def _record(
    session: SessionDep,
    context: WorkspaceContext,
    action: str,
    target_kind: str,
    target_id: str,
    target_label: str = "",
    details: dict[str, str] | None = None,
) -> None:
    await audit_service.record(
        session,
        context.workspace.id,
        Actor.of_member(context.member),
        action,
        target_kind,
        target_id,
        target_label,
        details,
    )


def _first_message(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        found = errors()
        if found:
            return f"{found[0]['loc'][-1]}: {str(found[0]['msg']).removeprefix('Value error, ')}"
    return str(exc)
