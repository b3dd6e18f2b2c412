"""Announcement pages of the console: the list (state, figures at a glance, filters)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from app.announcements.endpoints import to_public
from app.announcements.repository import ListFilters
from app.announcements.schemas import State
from app.announcements.service import announcement_service
from app.console.auth import WorkspaceDep
from app.console.routing import ConsoleRoute, pages_of
from app.db import SessionDep
from app.engagement.series import Interval
from app.engagement.service import engagement_service, resolve_range
from app.errors import invalid_field

router = APIRouter(prefix="/console/w/{slug}", route_class=ConsoleRoute, include_in_schema=False)

PAGE_SIZE = 50
STATES = tuple(state.value for state in State)
CATEGORIES = ("new", "improvement", "fix", "announcement")


async def _recent_figures(session: SessionDep, workspace_id: str) -> dict[str, dict[str, Any]]:
    """The last 30 days' figures of every announcement, by id (the API's stats, reused)."""
    window = resolve_range(None, None, Interval.day, "UTC")
    rows, _ = await engagement_service.workspace_stats(
        session, workspace_id, window, "-impressions", limit=10**9, cursor=None
    )
    return {row["announcement_id"]: row for row in rows}


@router.get("/announcements")
async def announcement_list(
    request: Request,
    context: WorkspaceDep,
    session: SessionDep,
    state: Annotated[str | None, Query(max_length=16)] = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    if state and state not in STATES:
        raise invalid_field("state", f"must be one of {', '.join(STATES)}")
    filters = ListFilters(
        state=State(state) if state else None, category=category or None, text=q or None
    )
    listing = await announcement_service.list(
        session, context.workspace.id, filters, PAGE_SIZE, cursor or None
    )
    figures = await _recent_figures(session, context.workspace.id)
    return pages_of(request).render(
        "announcements/list.html",
        context=context,
        announcements=[to_public(item) for item in listing.items],
        figures=figures,
        next_cursor=listing.next_cursor,
        filters={"state": state or "", "category": category or "", "q": q or ""},
        states=STATES,
        categories=CATEGORIES,
        section="announcements",
    )
