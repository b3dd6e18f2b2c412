"""The console's pages: thin handlers that call the domain services and render templates."""

import secrets
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse

from app.accounts.audit import Actor, audit_service
from app.accounts.service import (
    CurrentSession,
    SignedIn,
    account_service,
    invitation_service,
    membership_service,
    session_service,
)
from app.console.assets import StaticAssets
from app.console.auth import (
    COOKIE_PATH,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    CsrfDep,
    CsrfRefused,
    ViewerDep,
    WorkspaceDep,
    cookie_is_secure,
    login_throttle,
    refuse_foreign_origin,
    session_policy,
    tokens_match,
)
from app.console.pages import Pages
from app.console.routing import ConsoleRoute, Refused, error_page, pages_of
from app.db import SessionDep
from app.errors import AppError, InvalidInput, NotFound
from app.models import Member

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

_YEAR = "public, max-age=31536000, immutable"


def install_console(app: FastAPI) -> None:
    """Mount the console (and its assets) on the app."""
    from app.console import (
        announcement_pages,
        api_docs,
        engagement_pages,
        settings_pages,
        team_pages,
        webhook_pages,
    )

    app.state.console_pages = Pages(StaticAssets())
    app.include_router(api_docs.router)
    app.include_router(router)
    app.include_router(announcement_pages.router)
    app.include_router(engagement_pages.router)
    app.include_router(team_pages.router)
    app.include_router(settings_pages.router)
    app.include_router(webhook_pages.router)
    app.include_router(fallback_router)


def text(form: FormData, name: str, max_length: int = 10_000) -> str:
    value = form.get(name)
    return value[:max_length] if isinstance(value, str) else ""


def client_of(request: Request) -> str:
    client: str = request.app.state.rate_limits.clients.client_of(request.scope)
    return client


def safe_return_path(target: str | None) -> str:
    """Only our own console pages are places to go back to (no open redirect)."""
    if not target:
        return "/console"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console") or "\\" in target:
        return "/console"
    return target


def set_session_cookie(request: Request, response: Response, signed_in: SignedIn) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.token,
        max_age=int(session_policy(request).absolute.total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=cookie_is_secure(request),
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=cookie_is_secure(request),
    )


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    return pages_of(request).render(template, status_code=status_code, **context)


# --- signing in and out -----------------------------------------------------------------


def _pre_session_page(
    request: Request, template: str, status_code: int = 200, **context: Any
) -> Response:
    """A page whose form is used before there is a session (signing in, joining): it is
    protected by a token also set as a cookie (double submit), so another site cannot
    sign a browser in as someone else."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = page(request, template, status_code, login_csrf=token, **context)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=cookie_is_secure(request),
    )
    return response


def _sign_in_page(
    request: Request,
    *,
    email: str = "",
    error: str | None = None,
    status_code: int = 200,
    return_to: str = "/console",
) -> Response:
    return _pre_session_page(
        request, "sign_in.html", status_code, email=email, error=error, return_to=return_to
    )


async def _start_session(request: Request, session: SessionDep, member: Member) -> SignedIn:
    return await session_service.start(
        session,
        member,
        session_policy(request),
        client=client_of(request),
        user_agent=request.headers.get("user-agent", ""),
    )


async def _check_login_csrf(request: Request, form: FormData) -> None:
    await refuse_foreign_origin(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not tokens_match(text(form, "csrf_token", 100), expected):
        raise CsrfRefused()


async def _signed_in_already(request: Request, session: SessionDep) -> CurrentSession | None:
    token = request.cookies.get(SESSION_COOKIE, "")
    return await session_service.resolve(session, token, session_policy(request)) if token else None


@router.get("/sign-in")
async def sign_in_page(request: Request, session: SessionDep, next: str | None = None) -> Response:
    return_to = safe_return_path(next)
    if await _signed_in_already(request, session) is not None:
        return RedirectResponse(return_to, status_code=303)
    return _sign_in_page(request, return_to=return_to)


@router.post("/sign-in")
async def sign_in(request: Request, session: SessionDep) -> Response:
    form = await request.form()
    await _check_login_csrf(request, form)
    email = text(form, "email", 254)
    return_to = safe_return_path(text(form, "next", 2000))
    try:
        signed_in = await session_service.sign_in(
            session,
            login_throttle(request),
            session_policy(request),
            email,
            text(form, "password", 1000),
            client=client_of(request),
            user_agent=request.headers.get("user-agent", ""),
        )
    except AppError as exc:
        response = _sign_in_page(
            request, email=email, error=exc.detail, status_code=exc.status, return_to=return_to
        )
        response.headers.update(
            {k: v for k, v in exc.headers.items() if k.lower() != "www-authenticate"}
        )
        return response
    response = RedirectResponse(return_to, status_code=303)
    set_session_cookie(request, response, signed_in)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=COOKIE_PATH)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, session: SessionDep, _viewer: CsrfDep) -> Response:
    await session_service.sign_out(session, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/console/sign-in?signed_out=1", status_code=303)
    clear_session_cookie(request, response)
    return response


@router.post("/sign-out-everywhere")
async def sign_out_everywhere(request: Request, session: SessionDep, viewer: CsrfDep) -> Response:
    await session_service.sign_out_everywhere(session, viewer.member.id)
    response = RedirectResponse("/console/sign-in?signed_out=all", status_code=303)
    clear_session_cookie(request, response)
    return response


# --- the member's own account -----------------------------------------------------------


@router.get("/account/password")
async def password_page(request: Request, viewer: ViewerDep) -> Response:
    return page(request, "password.html", viewer=viewer, errors={}, done=False)


@router.post("/account/password")
async def change_password(request: Request, session: SessionDep, viewer: CsrfDep) -> Response:
    form = await request.form()
    new_password = text(form, "new_password", 1000)
    errors: dict[str, str] = {}
    if new_password != text(form, "confirm_password", 1000):
        errors["confirm_password"] = "The two new passwords differ."
    else:
        try:
            await account_service.change_password(
                session, viewer.member, text(form, "current_password", 1000), new_password
            )
        except InvalidInput as exc:
            errors = {
                "new_password" if e["field"] == "password" else e["field"]: e["message"]
                for e in exc.errors
            }
    if errors:
        raise Refused(page(request, "password.html", 422, viewer=viewer, errors=errors, done=False))
    # Every session ended with the old password; this browser goes on in a new one.
    signed_in = await _start_session(request, session, viewer.member)
    response = RedirectResponse("/console?password_changed=1", status_code=303)
    set_session_cookie(request, response, signed_in)
    return response


# --- invitations ------------------------------------------------------------------------


@router.get("/invitations/{token}")
async def invitation_page(request: Request, token: str, session: SessionDep) -> Response:
    opened = await invitation_service.open(session, token)
    return _invitation_page(request, opened.invitation.email, opened, {})


def _invitation_page(
    request: Request, email: str, opened: Any, errors: dict[str, str], status_code: int = 200
) -> Response:
    return _pre_session_page(
        request, "invitation.html", status_code, opened=opened, email=email, errors=errors
    )


@router.post("/invitations/{token}")
async def accept_invitation(request: Request, token: str, session: SessionDep) -> Response:
    form = await request.form()
    await _check_login_csrf(request, form)
    opened = await invitation_service.open(session, token)
    password = text(form, "password", 1000)
    errors: dict[str, str] = {}
    if opened.existing_member is None and password != text(form, "confirm_password", 1000):
        errors["confirm_password"] = "The two passwords differ."
    else:
        try:
            member, _ = await invitation_service.accept(
                session, token, password, text(form, "name", 100)
            )
        except InvalidInput as exc:
            errors = {e["field"]: e["message"] for e in exc.errors}
    if errors:
        raise Refused(_invitation_page(request, opened.invitation.email, opened, errors, 422))
    await audit_service.record(
        session,
        opened.workspace.id,
        Actor.of_member(member),
        "member.joined",
        "member",
        member.id,
        member.email,
        {"role": opened.invitation.role},
    )
    signed_in = await _start_session(request, session, member)
    response = RedirectResponse(f"/console/w/{opened.workspace.slug}", status_code=303)
    set_session_cookie(request, response, signed_in)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=COOKIE_PATH)
    return response


# --- workspaces -------------------------------------------------------------------------


@router.get("")
async def console_home(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    workspaces = await membership_service.workspaces_of(session, viewer.member.id)
    if len(workspaces) >= 1 and not request.url.query:
        return RedirectResponse(f"/console/w/{workspaces[0][1].slug}", status_code=303)
    return page(
        request,
        "home.html",
        viewer=viewer,
        workspaces=workspaces,
        password_changed="password_changed" in request.query_params,
    )


@router.get("/w/{slug}")
async def workspace_home(context: WorkspaceDep) -> Response:
    return RedirectResponse(f"/console/w/{context.workspace.slug}/announcements", status_code=303)


# --- static files -----------------------------------------------------------------------


@router.get("/static/{fingerprint}/{path:path}")
async def static_file(request: Request, fingerprint: str, path: str) -> Response:
    assets: StaticAssets = pages_of(request).assets
    asset = assets.get(path)
    if asset is None:
        raise NotFound(f"No console file {path!r}.")
    # An old fingerprint (a page from before an upgrade) still gets today's file, uncached.
    cache_control = _YEAR if fingerprint == asset.fingerprint else "no-cache"
    headers = {
        "Cache-Control": cache_control,
        "ETag": f'"{asset.fingerprint}"',
        "Vary": "Accept-Encoding",
    }
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=asset.media_type, headers=headers)


# Anything else under /console is a page that does not exist: say so as a page.
fallback_router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)


@fallback_router.get("/{rest:path}")
async def no_such_page(request: Request) -> Response:
    return error_page(request, 404, "Not found", "There is no console page at this address.")
