"""``/changelog/{workspace_slug}``: the public page, permalinks and feeds (no key, no cookie).

On a workspace's own host name the same routes answer at ``/`` (app/changelog/hosts.py).
"""

from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.routing import APIRoute

from app.changelog.assets import stylesheet
from app.changelog.feeds import MEDIA_TYPES
from app.changelog.i18n import accepted_tags
from app.changelog.service import ChangelogRuntime, Reader, changelog_service
from app.changelog.snapshot import Rendered
from app.errors import NotFound, invalid_field, problem_responses
from app.kit.etags import if_none_match_hits
from app.kit.locales import normalize_locale
from app.kit.time import utc_now

router = APIRouter(tags=["changelog"])

# Short: a visitor sees a new announcement within a minute; revalidation is a cheap 304.
_CACHE_CONTROL = "public, max-age=60"
_FOREVER = "public, max-age=31536000, immutable"

PageNumber = Annotated[int, Query(ge=1, le=10_000, description="1 is the newest.")]
CategoryFilter = Annotated[
    str | None,
    Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="Only this category."),
]
LocaleParameter = Annotated[
    str | None,
    Query(
        max_length=35,
        description="BCP 47 tag; without it, the Accept-Language header decides. Falls back "
        "like the widget (de-AT -> de -> the default content).",
    ),
]


class FeedKind(StrEnum):
    atom = "atom"
    rss = "rss"
    json = "json"


@router.get("/changelog/_assets/{name}", include_in_schema=False)
async def changelog_stylesheet(name: str) -> Response:
    sheet = stylesheet()
    if name != sheet.name:
        raise NotFound(f"No changelog asset {name!r}.")
    return Response(
        sheet.body,
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": _FOREVER, "X-Content-Type-Options": "nosniff"},
    )


@router.get(
    "/changelog/{workspace_slug}/feed.{kind}",
    response_class=Response,
    responses={
        200: {"content": {t.split(";")[0]: {} for t in MEDIA_TYPES.values()}},
        **problem_responses(404),
    },
)
async def changelog_feed(
    workspace_slug: str,
    kind: FeedKind,
    request: Request,
    category: CategoryFilter = None,
    locale: LocaleParameter = None,
) -> Response:
    """The changelog as an Atom, RSS 2.0 or JSON Feed 1.1 document (the 50 newest)."""
    runtime = _runtime(request)
    snapshot = await runtime.snapshot(workspace_slug)
    rendered = changelog_service.feed(
        snapshot,
        _reader(request, workspace_slug, locale),
        utc_now(),
        kind=kind.value,
        category=category,
    )
    return _conditional(request, rendered, MEDIA_TYPES[kind.value])


@router.get(
    "/changelog/{workspace_slug}",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}, **problem_responses(404)},
)
async def changelog_page(
    workspace_slug: str,
    request: Request,
    page: PageNumber = 1,
    category: CategoryFilter = None,
    locale: LocaleParameter = None,
) -> Response:
    """The public changelog: public, live announcements, newest first, 10 a page."""
    snapshot = await _runtime(request).snapshot(workspace_slug)
    rendered = changelog_service.page(
        snapshot, _reader(request, workspace_slug, locale), utc_now(), page=page, category=category
    )
    return _conditional(request, rendered, "text/html; charset=utf-8")


@router.get(
    "/changelog/{workspace_slug}/{announcement}",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}, **problem_responses(404)},
)
async def changelog_entry(
    workspace_slug: str, announcement: str, request: Request, locale: LocaleParameter = None
) -> Response:
    """One public announcement's permalink page, by its slug or its id."""
    snapshot = await _runtime(request).snapshot(workspace_slug)
    rendered = changelog_service.entry(
        snapshot, _reader(request, workspace_slug, locale), utc_now(), announcement
    )
    return _conditional(request, rendered, "text/html; charset=utf-8")


# HEAD too (feed readers and link checkers ask it), answered by the same functions; kept
# out of the OpenAPI document, where each would repeat its GET.
for _route in list(router.routes):
    if isinstance(_route, APIRoute) and _route.path.startswith("/changelog/{workspace_slug}"):
        router.add_api_route(
            _route.path, _route.endpoint, methods=["HEAD"], include_in_schema=False
        )


def _runtime(request: Request) -> ChangelogRuntime:
    runtime: ChangelogRuntime = request.app.state.changelog
    return runtime


def _reader(request: Request, workspace_slug: str, locale: str | None) -> Reader:
    if locale is not None:
        try:
            languages: tuple[str, ...] = (normalize_locale(locale),)
        except ValueError as exc:
            raise invalid_field("locale", str(exc)) from None
    else:
        languages = accepted_tags(request.headers.get("accept-language"))
    on_own_host = request.scope.get("changelog_host") is not None
    return Reader(
        origin=f"{request.url.scheme}://{request.url.netloc}",
        root="" if on_own_host else f"/changelog/{workspace_slug}",
        languages=languages,
    )


def _conditional(request: Request, rendered: Rendered, media_type: str) -> Response:
    """The rendered response, or a 304 when the client's copy is current (RFC 9110 13.2.2:
    If-None-Match decides when sent; If-Modified-Since only without it)."""
    last_modified = rendered.last_modified.replace(microsecond=0)
    headers = {
        "ETag": f'"{rendered.etag}"',
        "Last-Modified": format_datetime(last_modified, usegmt=True),
        "Cache-Control": _CACHE_CONTROL,
        "Vary": "Accept-Language",
        "X-Content-Type-Options": "nosniff",
    }
    if rendered.content_security_policy is not None:
        headers["Content-Security-Policy"] = rendered.content_security_policy
        headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        if if_none_match_hits(if_none_match, rendered.etag):
            return Response(status_code=304, headers=headers)
    elif _not_modified_since(request.headers.get("if-modified-since"), last_modified):
        return Response(status_code=304, headers=headers)
    return Response(rendered.body, media_type=media_type, headers=headers)


def _not_modified_since(header: str | None, last_modified: datetime) -> bool:
    if header is None:
        return False
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False  # an unreadable date is ignored, as RFC 9110 asks
    if since.tzinfo is None:
        return False
    return last_modified <= since
