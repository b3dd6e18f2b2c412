"""Announcement pages of the console: the list (state, figures at a glance, filters) and the
editor (every field of the API; publish, schedule, archive, delete; 412 shown side by side).

Every change goes through ``announcement_service``, as the API's do."""

import base64
import hashlib
import secrets
from collections.abc import Mapping
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse

from app.accounts.audit import Actor
from app.accounts.schemas import Role
from app.announcements.audience_preview import audience_preview_service
from app.announcements.endpoints import to_public
from app.announcements.repository import ListFilters
from app.announcements.schemas import (
    AnnouncementCreate,
    AnnouncementPublic,
    AnnouncementUpdate,
    Audience,
    Display,
    Frequency,
    State,
    Status,
)
from app.announcements.service import announcement_service
from app.console.audience_rows import OPERATORS
from app.console.auth import CsrfDep, WorkspaceContext, WorkspaceDep
from app.console.forms import EditorForm, differences, what_to_fix
from app.console.pages import preview_frame_policy
from app.console.preview import PREVIEW_ID, SURFACES, preview_feed
from app.console.routing import ConsoleRoute, Refused, pages_of
from app.db import SessionDep
from app.engagement.series import Interval
from app.engagement.service import engagement_service, resolve_range
from app.errors import (
    Conflict,
    InvalidInput,
    PreconditionFailed,
    field_errors_from_pydantic,
    invalid_field,
)
from app.kit.etags import quote_etag
from app.targeting.audience import validate_audience
from app.targeting.schemas import PreviewUser
from app.targeting.service import segment_service
from app.widget.assets import WidgetAsset

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
        deleted="deleted" in request.query_params,
    )


# --- the editor ---------------------------------------------------------------------------

ACTIONS_ON_NEW = {"save": Status.draft, "publish": Status.published}
ACTIONS_ON_EDIT: dict[str, Status | None] = {
    "save": None,  # keep the status it has
    "publish": Status.published,
    "archive": Status.archived,
    "unpublish": Status.draft,
}
NOTICES = {
    "created": "Saved as a draft.",
    "saved": "Saved.",
    "publish": "Published.",
    "archive": "Archived: it no longer shows anywhere; its figures are kept.",
    "unpublish": "Moved back to draft: it no longer shows.",
}


def _editor_path(context: WorkspaceContext, announcement_id: str | None = None) -> str:
    base = f"/console/w/{context.workspace.slug}/announcements"
    return f"{base}/{announcement_id}" if announcement_id else f"{base}/new"


async def _editor(
    request: Request,
    context: WorkspaceContext,
    session: SessionDep,
    form: EditorForm,
    announcement: AnnouncementPublic | None,
    *,
    status_code: int = 200,
    notice: str | None = None,
    problem: str | None = None,
    conflict: dict[str, Any] | None = None,
) -> Response:
    segments = (await segment_service.list(session, context.workspace.id, 100, None)).items
    return pages_of(request).render(
        "announcements/editor.html",
        status_code=status_code,
        context=context,
        section="announcements",
        form=form,
        announcement=announcement,
        segments=segments,
        categories=CATEGORIES,
        displays=[display.value for display in Display],
        frequencies=[frequency.value for frequency in Frequency],
        operators=OPERATORS,
        notice=notice,
        problem=problem,
        conflict=conflict,
        action_path=_editor_path(context, announcement.id if announcement else None),
    )


def _action(form: FormData, allowed: Mapping[str, object]) -> str:
    action = form.get("action")
    if not isinstance(action, str) or action not in allowed:
        raise invalid_field("action", f"must be one of {', '.join(allowed)}")
    return action


@router.get("/announcements/new")
async def new_announcement(
    request: Request, context: WorkspaceDep, session: SessionDep
) -> Response:
    context.require(Role.editor, "writing announcements")
    return await _editor(request, context, session, EditorForm.blank(), None)


@router.post("/announcements/new")
async def create_announcement(
    request: Request, context: WorkspaceDep, session: SessionDep, _csrf: CsrfDep
) -> Response:
    context.require(Role.editor, "writing announcements")
    submitted = await request.form()
    action = _action(submitted, ACTIONS_ON_NEW)
    form = EditorForm.read(submitted)
    form.fields["status"] = ACTIONS_ON_NEW[action].value
    data = form.validated(AnnouncementCreate)
    problem = None
    if isinstance(data, AnnouncementCreate):
        try:
            created = await announcement_service.create(
                session, context.workspace.id, data, actor=Actor.of_member(context.member)
            )
        except (InvalidInput, Conflict) as exc:
            form.add_errors(exc.errors)
            problem = exc.detail
        else:
            notice = "publish" if action == "publish" else "created"
            return RedirectResponse(
                f"{_editor_path(context, created.id)}?done={notice}", status_code=303
            )
    raise Refused(
        await _editor(
            request,
            context,
            session,
            form,
            None,
            status_code=422,
            problem=problem or _summary(form),
        )
    )


# --- the live preview (drawn by the real widget, in a frame) ------------------------------


def _preview_frame(
    request: Request, payload: dict[str, Any] | None, message: str | None
) -> Response:
    asset: WidgetAsset | None = request.app.state.widget_asset
    widget = None
    if asset is not None:
        digest = base64.b64encode(hashlib.sha384(asset.body).digest()).decode()
        widget = {"url": f"/widget/{asset.version}.js", "integrity": f"sha384-{digest}"}
    nonce = secrets.token_urlsafe(16)
    response = pages_of(request).render(
        "announcements/preview_frame.html",
        payload=payload,
        message=message,
        widget=widget,
        nonce=nonce,
    )
    # The frame is the console's own: framed by its editor only. The widget takes the
    # nonce of its script tag for its styles where constructable stylesheets are missing.
    response.headers["Content-Security-Policy"] = preview_frame_policy(nonce)
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


# The widget's own ``theme`` command: the system's colors, or forced light or dark.
PREVIEW_THEMES = ("auto", "light", "dark")


def _preview_of(request: Request, form: EditorForm, announcement_id: str | None) -> Response:
    if not form.values["title"].strip():
        return _preview_frame(request, None, "Type a title to see the preview.")
    data = form.validated(AnnouncementCreate)
    if not isinstance(data, AnnouncementCreate):
        names = ", ".join(name.replace("_", " ") for name in form.errors)
        return _preview_frame(request, None, f"Correct these fields to see the preview: {names}.")
    surface = str(form.values.get("preview_surface") or "as-set")
    locale = str(form.values.get("preview_locale") or "") or None
    theme = str(form.values.get("preview_theme") or "")
    payload = {
        "feed": preview_feed(
            data,
            surface=surface if surface in SURFACES else "as-set",
            locale=locale if locale in data.translations else None,
            announcement_id=announcement_id,
        ),
        "open_feed": surface == "feed" or data.display is Display.feed,
        "locale": locale,
        "theme": theme if theme in PREVIEW_THEMES else "auto",
    }
    return _preview_frame(request, payload, None)


@router.get("/announcements/preview")
async def blank_preview(request: Request, context: WorkspaceDep) -> Response:
    return _preview_frame(request, None, "Type a title to see the preview.")


@router.post("/announcements/preview")
async def live_preview(request: Request, context: WorkspaceDep, _csrf: CsrfDep) -> Response:
    """The preview of the form as it stands (posted into the editor's preview frame)."""
    submitted = await request.form()
    form = EditorForm.read(submitted)
    for name in ("preview_surface", "preview_locale", "preview_theme"):
        value = submitted.get(name)
        form.values[name] = value if isinstance(value, str) else ""
    announcement_id = submitted.get("announcement_id")
    return _preview_of(request, form, announcement_id if isinstance(announcement_id, str) else None)


@router.get("/announcements/{announcement_id}/preview")
async def saved_preview(
    request: Request,
    announcement_id: str,
    context: WorkspaceDep,
    session: SessionDep,
    preview_surface: Annotated[str, Query(max_length=20)] = "as-set",
    preview_locale: Annotated[str, Query(max_length=35)] = "",
    preview_theme: Annotated[str, Query(max_length=8)] = "auto",
) -> Response:
    """The preview of the announcement as saved (what viewers, who cannot edit, refresh)."""
    announcement = await announcement_service.get(session, context.workspace.id, announcement_id)
    form = EditorForm.of(to_public(announcement))
    form.values.update(
        preview_surface=preview_surface, preview_locale=preview_locale, preview_theme=preview_theme
    )
    return _preview_of(request, form, announcement.id)


# --- the audience: who would see it, and how many ------------------------------------------


@router.post("/announcements/audience")
async def explain_audience(
    request: Request, context: WorkspaceDep, session: SessionDep, _csrf: CsrfDep
) -> Response:
    """Whether a user is in the audience as edited (and why), and its size (an htmx part)."""
    submitted = await request.form()
    announcement_id = submitted.get("announcement_id")
    saved_id = announcement_id if isinstance(announcement_id, str) and announcement_id else None
    if context.can_edit or saved_id is None:
        form = EditorForm.read(submitted)
        audience_fields = form.fields.get("audience", {})
        problem = form.errors.get("audience_condition") or form.errors.get("audience_rollout")
    else:  # a viewer's form is read-only (not sent): the saved audience
        saved = await announcement_service.get(session, context.workspace.id, saved_id)
        audience_fields, problem = dict(saved.audience), None
    part = "announcements/_audience_answer.html"
    if problem:
        return pages_of(request).render(part, problem=f"The condition {problem}.")
    try:
        audience = await validate_audience(
            session, context.workspace.id, Audience.model_validate(audience_fields).model_dump()
        )
        who = _preview_user(submitted)
    except (ValidationError, InvalidInput) as exc:
        errors = (
            field_errors_from_pydantic(exc.errors())
            if isinstance(exc, ValidationError)
            else exc.errors
        )
        detail = what_to_fix(errors) or str(exc)
        return pages_of(request).render(part, problem=detail)
    seed = saved_id or PREVIEW_ID
    explained = (
        await audience_preview_service.explain_audience(
            session, context.workspace.id, seed, audience, who
        )
        if who is not None
        else None
    )
    size = await audience_preview_service.audience_size(
        session, context.workspace.id, seed, audience
    )
    return pages_of(request).render(
        part,
        problem=None,
        explained=explained,
        size=size,
        is_saved=saved_id is not None and not context.can_edit,
        has_rollout=audience.get("rollout") is not None,
    )


def _preview_user(form: FormData) -> PreviewUser | None:
    """The user typed into "who would see this?", if any (attributes as JSON)."""
    user_id = str(form.get("who_id") or "").strip()
    locale = str(form.get("who_locale") or "").strip()
    attributes_text = str(form.get("who_attributes") or "").strip()
    if not (user_id or locale or attributes_text):
        return None
    try:
        attributes = orjson.loads(attributes_text) if attributes_text else {}
    except orjson.JSONDecodeError:
        raise invalid_field("who_attributes", "is not valid JSON") from None
    return PreviewUser.model_validate(
        {"id": user_id or None, "locale": locale or None, "attributes": attributes}
    )


@router.get("/announcements/{announcement_id}")
async def edit_announcement(
    request: Request,
    announcement_id: str,
    context: WorkspaceDep,
    session: SessionDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    announcement = await announcement_service.get(session, context.workspace.id, announcement_id)
    public = to_public(announcement)
    return await _editor(
        request,
        context,
        session,
        EditorForm.of(public),
        public,
        notice=NOTICES.get(done or ""),
    )


@router.post("/announcements/{announcement_id}")
async def update_announcement(
    request: Request,
    announcement_id: str,
    context: WorkspaceDep,
    session: SessionDep,
    _csrf: CsrfDep,
) -> Response:
    context.require(Role.editor, "changing announcements")
    current = await announcement_service.get(session, context.workspace.id, announcement_id)
    submitted = await request.form()
    action = _action(submitted, ACTIONS_ON_EDIT)
    form = EditorForm.read(submitted)
    status = ACTIONS_ON_EDIT[action]
    if status is not None:
        form.fields["status"] = status.value
    version = submitted.get("version")
    data = form.validated(AnnouncementUpdate)
    problem = None
    if isinstance(data, AnnouncementUpdate):
        try:
            await announcement_service.update(
                session,
                context.workspace.id,
                announcement_id,
                data,
                actor=Actor.of_member(context.member),
                if_match=quote_etag(version if isinstance(version, str) else ""),
            )
        except PreconditionFailed:
            raise Refused(
                await _conflict(request, context, session, form, announcement_id)
            ) from None
        except (InvalidInput, Conflict) as exc:
            form.add_errors(exc.errors)
            problem = exc.detail
        else:
            notice = "saved" if action == "save" else action
            return RedirectResponse(
                f"{_editor_path(context, announcement_id)}?done={notice}", status_code=303
            )
    raise Refused(
        await _editor(
            request,
            context,
            session,
            form,
            to_public(current),
            status_code=422,
            problem=problem or _summary(form),
        )
    )


async def _conflict(
    request: Request,
    context: WorkspaceContext,
    session: SessionDep,
    form: EditorForm,
    announcement_id: str,
) -> Response:
    """Someone saved meanwhile: show both versions; the form keeps the author's text."""
    current = to_public(
        await announcement_service.get(session, context.workspace.id, announcement_id)
    )
    theirs = EditorForm.of(current, form.values.get("schedule_tz") or "UTC")
    changed = differences(form.values, theirs.values)
    return await _editor(
        request,
        context,
        session,
        form,
        current,  # its version is the one a new save must name
        status_code=412,
        conflict={"changed": changed, "theirs": theirs.values, "version": current.version},
    )


@router.post("/announcements/{announcement_id}/delete")
async def delete_announcement(
    announcement_id: str, context: WorkspaceDep, session: SessionDep, _csrf: CsrfDep
) -> Response:
    context.require(Role.editor, "deleting announcements")
    await announcement_service.delete(
        session, context.workspace.id, announcement_id, actor=Actor.of_member(context.member)
    )
    return RedirectResponse(
        f"/console/w/{context.workspace.slug}/announcements?deleted=1", status_code=303
    )


def _summary(form: EditorForm) -> str:
    count = len(form.errors)
    return f"{count} field{'s' * (count != 1)} need{'s' * (count == 1)} a correction."
