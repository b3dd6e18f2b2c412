"""``tidings user ...``: bootstrap and look after console members from the server's shell."""

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.audit import CLI_ACTOR, audit_service
from app.accounts.schemas import Role
from app.accounts.service import account_service, membership_service
from app.errors import NotFound

user_app = typer.Typer(help="Create, list and reset console members.", no_args_is_help=True)
console = Console()

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of stdin instead of generating one.",
    ),
]


def _password_from_stdin(wanted: bool) -> str | None:
    if not wanted:
        return None
    return sys.stdin.readline().rstrip("\r\n")


def _print_one_time_password(email: str, password: str) -> None:
    console.print(f"  email     {email}", soft_wrap=True, highlight=False)
    console.print(f"  password  {password}", soft_wrap=True, highlight=False)
    console.print(
        "[yellow]This password is shown once and must be changed at the first sign-in.[/yellow]"
    )


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Argument(help="The member's email; their sign-in name.")],
    workspace: Annotated[str, typer.Option("--workspace", "-w", help="Workspace slug.")],
    role: Annotated[Role, typer.Option(help="owner, editor or viewer.")] = Role.editor,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a console member with a role in a workspace, and print how to sign in.

    An existing member is given the role; their password stays as it is.
    """
    from app.cli import _resolve_workspace, _run_in_session

    password = _password_from_stdin(password_stdin)

    async def work(session: AsyncSession) -> tuple[str, str | None, bool]:
        target = await _resolve_workspace(session, workspace)
        try:
            member = await account_service.get_by_email(session, email)
            one_time, is_new = None, False
        except NotFound:
            created = await account_service.create_member(session, email, password)
            member, one_time, is_new = created.member, created.one_time_password, True
        await membership_service.grant(session, target.id, member.id, role)
        await audit_service.record(
            session,
            target.id,
            CLI_ACTOR,
            "member.added",
            "member",
            member.id,
            member.email,
            {"role": role.value},
        )
        return member.email, one_time, is_new

    normalized, one_time, is_new = _run_in_session(work)
    verb = "created" if is_new else "already existed; role set"
    console.print(f"Member {normalized} {verb}: {role.value} of {workspace}.", highlight=False)
    if one_time is not None:
        _print_one_time_password(normalized, one_time)
    console.print("Sign in at /console on this server.", highlight=False)


@user_app.command("list")
def user_list() -> None:
    """List console members and their roles per workspace."""
    from app.cli import _run_in_session

    async def work(session: AsyncSession) -> list[tuple[str, str, str]]:
        rows = []
        for member in await account_service.list(session):
            roles = await membership_service.workspaces_of(session, member.id)
            described = ", ".join(f"{ws.slug}: {m.role}" for m, ws in roles) or "(no workspace)"
            rows.append((member.email, member.id, described))
        return rows

    table = Table()
    for column in ("email", "id", "workspaces"):
        table.add_column(column, overflow="fold")
    for row in _run_in_session(work, commit=False):
        table.add_row(*row)
    console.print(table)


@user_app.command("reset-password")
def user_reset_password(
    email: Annotated[str, typer.Argument(help="The member's email.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Give a member a new password and sign them out everywhere."""
    from app.cli import _run_in_session

    password = _password_from_stdin(password_stdin)

    async def work(session: AsyncSession) -> str | None:
        return await account_service.reset_password(session, email, password)

    one_time = _run_in_session(work)
    console.print(f"Password of {email} reset; their sessions have ended.", highlight=False)
    if one_time is not None:
        _print_one_time_password(email, one_time)
