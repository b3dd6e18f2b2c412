"""The ``tidings`` command line: run the service, administer workspaces, publish, report."""

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.audit import CLI_ACTOR
from app.accounts.cli import user_app
from app.accounts.demo import seed_demo_member
from app.announcements.files import AnnouncementFileError, parse_announcement_file
from app.announcements.schemas import AnnouncementCreate
from app.announcements.service import announcement_service
from app.config import Settings, get_settings
from app.db import create_engine, create_sessionmaker
from app.demo.page import DEMO_SLUG, seed_demo
from app.engagement.csv_export import workspace_csv
from app.engagement.series import Interval
from app.engagement.service import engagement_service, resolve_range
from app.errors import AppError, field_errors_from_pydantic
from app.migrate import (
    History,
    MigrationRefused,
    UnknownRevision,
    alembic_config,
    downgrade_database,
    upgrade_database,
)
from app.models import Workspace
from app.serving import uvicorn_protocol_options
from app.workspaces.keys import KeyKind
from app.workspaces.schemas import ApiKeyPublic, WorkspaceCreate
from app.workspaces.service import workspace_service

app = typer.Typer(
    name="tidings",
    help="Tidings: self-hosted in-app announcements.",
    no_args_is_help=True,
    add_completion=False,
)
workspace_app = typer.Typer(help="Create and list workspaces.", no_args_is_help=True)
key_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(workspace_app, name="workspace")
app.add_typer(key_app, name="key")
app.add_typer(user_app, name="user")

console = Console()
errors = Console(stderr=True)
T = TypeVar("T")

WorkspaceOption = Annotated[
    str | None,
    typer.Option(
        "--workspace", "-w", help="Workspace slug; may be omitted when there is only one."
    ),
]


def _settings() -> Settings:
    """The settings, or each configuration error on one line (no secret echoed) and exit 2."""
    try:
        return get_settings()
    except ValidationError as exc:
        for error in exc.errors(include_input=False):
            setting = "_".join(str(part) for part in error["loc"]).upper()
            prefix = f"TIDINGS_{setting}: " if setting else ""
            message = str(error["msg"]).removeprefix("Value error, ")
            errors.print(
                f"[red]configuration error:[/red] {prefix}{message}",
                soft_wrap=True,
                highlight=False,
            )
        raise typer.Exit(2) from None


def _run_in_session(work: Callable[[AsyncSession], Awaitable[T]], *, commit: bool = True) -> T:
    """Migrate, then run ``work`` in one transaction (committed unless told not to)."""
    settings = _settings()
    upgrade_database(settings.database_url)

    async def run() -> T:
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as session:
                result = await work(session)
                if commit:
                    await session.commit()
                else:
                    await session.rollback()
                return result
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except AppError as exc:
        errors.print(f"[red]error:[/red] {exc.detail}", soft_wrap=True, highlight=False)
        # Exit 2 for input the user can fix (like a usage error), 1 for refusals.
        raise typer.Exit(2 if exc.status == 422 else 1) from None
    except ValidationError as exc:
        for error in field_errors_from_pydantic(exc.errors()):
            errors.print(f"[red]error:[/red] {error['field']}: {error['message']}")
        raise typer.Exit(2) from None


def _table(*columns: str) -> Table:
    table = Table()
    for column in columns:
        # Fold instead of truncating: ids and keys must stay whole to be copied.
        table.add_column(column, overflow="fold")
    return table


async def _resolve_workspace(session: AsyncSession, slug: str | None) -> Workspace:
    if slug is not None:
        return await workspace_service.get_by_slug(session, slug)
    workspaces = await workspace_service.list(session)
    if len(workspaces) == 1:
        return workspaces[0]
    if not workspaces:
        errors.print("[red]error:[/red] no workspace yet; run: tidings workspace create NAME")
    else:
        slugs = ", ".join(w.slug for w in workspaces)
        errors.print(f"[red]error:[/red] several workspaces ({slugs}); pass --workspace SLUG")
    raise typer.Exit(2)


class HttpServer(StrEnum):
    uvicorn = "uvicorn"
    granian = "granian"


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    server: Annotated[
        HttpServer, typer.Option(help="HTTP server (see docs/operations.md).")
    ] = HttpServer.uvicorn,
) -> None:
    """Upgrade the database, then serve the API (and the widget) with uvicorn or granian."""
    settings = _settings()
    upgrade_database(settings.database_url)
    if server is HttpServer.granian:
        from app.serving_granian import run_granian  # imports the app: only when used

        run_granian(settings, host=host, port=port, workers=workers)
        return
    uvicorn.run(
        "app.main:create_configured_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        server_header=False,  # no version banner
        access_log=False,  # ours (app/middleware.py) carries the request id and timing
        # The same proxies the rate limiter believes (X-Forwarded-For, X-Forwarded-Proto);
        # with none, uvicorn's proxy-header middleware has nothing to do on any request.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=[str(network) for network in settings.trusted_proxies],
        # On SIGTERM: stop accepting, let requests in flight finish for up to this long,
        # then run the lifespan's shutdown (which flushes queued events, then closes the pool).
        timeout_graceful_shutdown=20,
        # Bounds on the size and pace of request heads and bodies (app/serving.py).
        **uvicorn_protocol_options(),
    )


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Seed a demo workspace and serve a host page with the widget live at /demo (and its
    public changelog at /changelog/demo)."""
    key = _run_in_session(seed_demo)
    email, password = _run_in_session(lambda session: seed_demo_member(session, DEMO_SLUG))
    console.print(
        f"Demo ready: open http://{host}:{port}/demo  (publishable key {key}); "
        f"public changelog: http://{host}:{port}/changelog/demo",
        soft_wrap=True,
        highlight=False,
    )
    console.print(
        f"Console: http://{host}:{port}/console  sign in as {email} with {password}",
        soft_wrap=True,
        highlight=False,
    )
    os.environ["TIDINGS_DEMO_KEY"] = key
    get_settings.cache_clear()
    serve(host=host, port=port, workers=1, server=HttpServer.uvicorn)


@app.command()
def migrate(
    revision: Annotated[
        str | None, typer.Argument(help="Upgrade to this revision (default: head).")
    ] = None,
    down_to: Annotated[
        str | None,
        typer.Option(
            "--down-to",
            help="Downgrade to this older revision (or 'base'), undoing the newer migrations.",
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm a downgrade (it may drop data).")
    ] = False,
) -> None:
    """Upgrade the database schema (to head by default), or downgrade it with --down-to."""
    settings = _settings()
    if revision is not None and down_to is not None:
        errors.print("[red]error:[/red] give a revision to upgrade to, or --down-to, not both")
        raise typer.Exit(2)
    if down_to is not None and not yes:
        errors.print(
            f"[red]error:[/red] a downgrade undoes migrations and drops what they added; "
            f"back up first, then confirm: tidings migrate --down-to {down_to} --yes",
            soft_wrap=True,
            highlight=False,
        )
        raise typer.Exit(2)
    try:
        if down_to is not None:
            reached = downgrade_database(settings.database_url, down_to)
        else:
            reached = upgrade_database(settings.database_url, revision or "head")
    except MigrationRefused as exc:
        errors.print(f"[red]error:[/red] {exc}", soft_wrap=True, highlight=False)
        raise typer.Exit(2 if isinstance(exc, UnknownRevision) else 1) from None
    label = History.of(alembic_config(settings.database_url)).label(reached)
    console.print(f"database at [bold]{label}[/bold]", highlight=False)


@workspace_app.command("create")
def workspace_create(
    name: Annotated[str, typer.Argument(help='Display name, e.g. "Acme".')],
    slug: Annotated[str | None, typer.Option(help="URL-safe name (default: from NAME).")] = None,
    origin: Annotated[
        list[str] | None,
        typer.Option(help="An origin allowed to embed the widget; repeat for several."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Create a workspace and print its ids and keys (the secret key is shown only now)."""

    async def work(session: AsyncSession) -> dict[str, str]:
        data = WorkspaceCreate(name=name, slug=slug, allowed_origins=origin or [])
        created = await workspace_service.create(session, data)
        return {
            "workspace_id": created.workspace.id,
            "slug": created.workspace.slug,
            "publishable_key": created.publishable_key,
            "secret_key": created.secret_key,
            "identity_secret": created.workspace.identity_secrets[0]["secret"],
        }

    result = _run_in_session(work)
    if as_json:
        print(orjson.dumps(result).decode())
        return
    # Plain lines, never a table: a key cut short by the terminal's width is useless.
    console.print(f"Workspace [bold]{name}[/bold] created.")
    for field, value in result.items():
        console.print(f"  {field:<16} {value}", soft_wrap=True, highlight=False)
    console.print("[yellow]Store the secret key now: it is not shown again.[/yellow]")


@workspace_app.command("list")
def workspace_list() -> None:
    """List the workspaces of this instance."""
    workspaces = _run_in_session(workspace_service.list)
    table = _table("id", "slug", "name", "allowed origins")
    for workspace in workspaces:
        table.add_row(
            workspace.id, workspace.slug, workspace.name, " ".join(workspace.allowed_origins)
        )
    console.print(table)


@key_app.command("create")
def key_create(
    kind: Annotated[KeyKind, typer.Option(help="secret (admin API) or publishable (widget).")],
    name: Annotated[str, typer.Option(help="A label to recognise the key by.")] = "cli",
    workspace: WorkspaceOption = None,
) -> None:
    """Create an API key and print it (a secret key is shown only now)."""

    async def work(session: AsyncSession) -> str:
        target = await _resolve_workspace(session, workspace)
        created = await workspace_service.create_key(
            session, target.id, kind, name, actor=CLI_ACTOR
        )
        return created.key

    print(_run_in_session(work))


@key_app.command("list")
def key_list(
    workspace: WorkspaceOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List a workspace's keys; secret keys appear only by their first characters."""

    async def work(session: AsyncSession) -> list[ApiKeyPublic]:
        target = await _resolve_workspace(session, workspace)
        keys = await workspace_service.list_keys(session, target.id)
        return [ApiKeyPublic.model_validate(key) for key in keys]

    keys = _run_in_session(work)
    if as_json:
        print(orjson.dumps([key.model_dump(mode="json") for key in keys]).decode())
        return
    table = _table("id", "kind", "name", "key", "created", "last used", "revoked")
    for key in keys:
        table.add_row(
            key.id,
            key.kind,
            key.name,
            key.preview,
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
        )
    console.print(table)


@key_app.command("revoke")
def key_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (key_...), from 'tidings key list'.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Revoke an API key; requests with it fail from now on."""

    async def work(session: AsyncSession) -> None:
        target = await _resolve_workspace(session, workspace)
        await workspace_service.revoke_key(session, target.id, key_id, actor=CLI_ACTOR)

    _run_in_session(work)
    console.print(f"revoked {key_id}")


@app.command()
def announce(
    files: Annotated[
        list[Path], typer.Argument(help="Markdown files with front matter.", exists=True)
    ],
    workspace: WorkspaceOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and show what would change; write nothing.")
    ] = False,
) -> None:
    """Create or update announcements from markdown files, matched by slug.

    All files are applied in one transaction: if any is invalid, nothing is written.
    See docs/announcing-from-git.md for the file format.
    """
    parsed: list[tuple[Path, AnnouncementCreate]] = []
    problems: list[str] = []
    for path in files:
        try:
            parsed.append((path, parse_announcement_file(path)))
        except AnnouncementFileError as exc:
            problems += [f"{exc.path}: {problem}" for problem in exc.problems]
    if problems:
        for problem in problems:
            errors.print(f"[red]error:[/red] {problem}", soft_wrap=True, highlight=False)
        raise typer.Exit(2)

    async def work(session: AsyncSession) -> list[str]:
        target = await _resolve_workspace(session, workspace)
        lines = []
        for path, data in parsed:
            try:
                result = await announcement_service.upsert_by_slug(
                    session, target.id, data, actor=CLI_ACTOR
                )
            except AppError as exc:
                raise AppError(f"{path}: {exc.detail}") from None
            verb = f"would be {result.action}" if dry_run else str(result.action)
            detail = f" ({', '.join(result.changed_fields)})" if result.changed_fields else ""
            lines.append(f"{path}: {data.slug} {verb}{detail} [{result.announcement.id}]")
        return lines

    for line in _run_in_session(work, commit=not dry_run):
        console.print(line, soft_wrap=True, highlight=False)
    if dry_run:
        console.print("dry run: nothing was written")


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command()
def stats(
    workspace: WorkspaceOption = None,
    from_: Annotated[
        str | None,
        typer.Option("--from", help="Start: a date or date-time (default: 30 days ago)."),
    ] = None,
    to: Annotated[str | None, typer.Option(help="End: a date (included) or date-time.")] = None,
    tz: Annotated[str, typer.Option(help="IANA time zone for dates.")] = "UTC",
    sort: Annotated[str, typer.Option(help="A figure; prefix - to descend.")] = "-impressions",
    output: Annotated[
        OutputFormat, typer.Option("--format", help="table, csv or json.")
    ] = OutputFormat.table,
) -> None:
    """Print engagement per announcement: impressions, uniques, clicks, CTR, dismissals."""

    async def work(session: AsyncSession) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        target = await _resolve_workspace(session, workspace)
        window = resolve_range(from_, to, Interval.day, tz)
        rows, _ = await engagement_service.workspace_stats(
            session, target.id, window, sort, limit=10**9, cursor=None
        )
        return rows, window.describe()

    with errors.status("Loading engagement…", spinner="dots"):
        rows, window = _run_in_session(work, commit=False)
    if output is OutputFormat.json:
        described = {key: value for key, value in window.items() if key != "interval"}
        print(orjson.dumps({**described, "data": rows}, default=str).decode())
        return
    if output is OutputFormat.csv:
        sys.stdout.write(workspace_csv(rows))
        return
    table = _table(
        "announcement",
        "state",
        "impressions",
        "viewers",
        "clicks",
        "CTR",
        "dismissed",
        "👍 / 😐 / 👎",
    )
    table.title = f"Engagement {window['from'][:10]} → {window['to'][:10]} ({window['tz']})"
    for row in rows:
        reactions = row["reactions"]
        table.add_row(
            row["title"],
            row["state"],
            f"{row['impressions']:,}",
            f"{row['unique_viewers']:,}",
            f"{row['clicks']:,}",
            _percent(row["ctr"]),
            _percent(row["dismiss_rate"]),
            f"{reactions['positive']} / {reactions['neutral']} / {reactions['negative']}",
        )
    console.print(table)


@app.command("purge-events")
def purge_events(
    older_than_days: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Delete raw events received more than this many days ago "
            "(default: TIDINGS_EVENT_RETENTION_DAYS).",
        ),
    ] = None,
) -> None:
    """Delete old raw events. Counts, unique counts and users' state stay as they are."""
    days = older_than_days or _settings().event_retention_days

    async def work(session: AsyncSession) -> int:
        return await engagement_service.purge_events(session, timedelta(days=days))

    deleted = _run_in_session(work)
    console.print(f"deleted {deleted:,} raw events received more than {days} days ago")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def main() -> None:
    app()
