"""Who is using the console: the session cookie, the member's workspaces and role, CSRF.

- ``ViewerDep``: the signed-in member (else a redirect to the sign-in page).
- ``WorkspaceDep``: one of the member's workspaces, by the slug in the path, with their
  role in it. A workspace they do not belong to is a 404, like an id of another tenant.
- ``CsrfDep``: for every state-changing request, the session's token sent back in the form
  (``csrf_token``) or the ``X-CSRF-Token`` header (htmx), and no foreign ``Origin``.
"""

import hmac
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request

from app.accounts.schemas import Role
from app.accounts.service import SessionPolicy, membership_service, session_service
from app.accounts.throttle import LoginThrottle
from app.config import Environment, Settings
from app.db import SessionDep
from app.errors import AppError, Forbidden, NotFound
from app.models import ConsoleSession, Member, Membership, Workspace
from app.ratelimit.buckets import LocalRateLimiter

SESSION_COOKIE = "tidings_session"
LOGIN_CSRF_COOKIE = "tidings_login_csrf"
COOKIE_PATH = "/console"
PASSWORD_PAGE = "/console/account/password"


class NeedsSignIn(Exception):
    """No live session: the answer is a redirect to the sign-in page, back here afterwards."""

    def __init__(self, return_to: str) -> None:
        super().__init__(return_to)
        self.return_to = return_to


class NeedsPasswordChange(Exception):
    """The member signed in with a one-time password: they choose their own first."""


class CsrfRefused(AppError):
    status, slug, title = 403, "csrf-refused", "Form expired"

    def __init__(self) -> None:
        super().__init__(
            "This form's security token is missing or out of date (the page may have been "
            "open for a long time, or you signed in elsewhere). Reload the page and try again."
        )


def session_policy(request: Request) -> SessionPolicy:
    settings: Settings = request.app.state.settings
    return SessionPolicy.from_settings(settings)


def login_throttle(request: Request) -> LoginThrottle:
    """The sign-in limiter: in the shared rate-limit store when there is one (Redis)."""
    state = request.app.state
    throttle: LoginThrottle | None = getattr(state, "login_throttle", None)
    if throttle is None:
        limiter = state.rate_limits.limiter or LocalRateLimiter()
        throttle = state.login_throttle = LoginThrottle(state.settings, limiter)
    return throttle


def cookie_is_secure(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return settings.environment is Environment.production


@dataclass
class Viewer:
    member: Member
    console_session: ConsoleSession

    @property
    def csrf_token(self) -> str:
        return self.console_session.csrf_token


async def current_viewer(request: Request, session: SessionDep) -> Viewer:
    token = request.cookies.get(SESSION_COOKIE, "")
    current = (
        await session_service.resolve(session, token, session_policy(request)) if token else None
    )
    if current is None:
        return_to = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise NeedsSignIn(return_to if request.method == "GET" else "/console")
    if current.member.must_change_password and request.url.path != PASSWORD_PAGE:
        raise NeedsPasswordChange()
    return Viewer(current.member, current.console_session)


ViewerDep = Annotated[Viewer, Depends(current_viewer)]


@dataclass
class WorkspaceContext:
    viewer: Viewer
    workspace: Workspace
    role: Role
    workspaces: list[tuple[Membership, Workspace]] = field(default_factory=list)

    @property
    def member(self) -> Member:
        return self.viewer.member

    @property
    def can_edit(self) -> bool:
        return self.role.allows(Role.editor)

    @property
    def can_manage(self) -> bool:
        return self.role.allows(Role.owner)

    def require(self, needed: Role, doing: str) -> None:
        """Refuse (403) unless the member's role here includes ``needed``."""
        if not self.role.allows(needed):
            raise Forbidden(
                f"Your role in {self.workspace.name} is {self.role.value}; {doing} needs "
                f"the {needed.value} role. Ask an owner of the workspace."
            )


async def workspace_context(slug: str, viewer: ViewerDep, session: SessionDep) -> WorkspaceContext:
    workspaces = list(await membership_service.workspaces_of(session, viewer.member.id))
    for membership, workspace in workspaces:
        if workspace.slug == slug:
            return WorkspaceContext(viewer, workspace, Role(membership.role), workspaces)
    # The same answer whether the workspace exists or not: nothing to learn from it.
    raise NotFound(f"You are not a member of a workspace {slug!r}.")


WorkspaceDep = Annotated[WorkspaceContext, Depends(workspace_context)]


def tokens_match(sent: str | None, expected: str) -> bool:
    return bool(sent) and hmac.compare_digest(str(sent).encode(), expected.encode())


async def refuse_foreign_origin(request: Request) -> None:
    """Browsers name the page a form came from; another site's page is refused outright."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return
    if urlsplit(origin).netloc != request.headers.get("host", ""):
        raise CsrfRefused()


async def check_csrf(request: Request, viewer: ViewerDep) -> Viewer:
    await refuse_foreign_origin(request)
    form = await request.form()
    sent = form.get("csrf_token") or request.headers.get("x-csrf-token")
    if not isinstance(sent, str) or not tokens_match(sent, viewer.csrf_token):
        raise CsrfRefused()
    return viewer


CsrfDep = Annotated[Viewer, Depends(check_csrf)]
