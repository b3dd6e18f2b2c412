"""``/changelog/{workspace_slug}``: the public page, permalinks and feeds (no key, no cookie).

Every visitor of a changelog calls these, so they are hot routes (app/kit/hot_routes.py),
declared once in ``CHANGELOG_HOT_ROUTES`` and served without FastAPI's per-request
machinery; only the stylesheet is an ordinary route. On a workspace's own host name the
same routes answer at ``/`` (app/changelog/hosts.py rewrites the path first).
"""

from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.types import Receive, Scope, Send

from app.changelog.assets import stylesheet
from app.changelog.feeds import MEDIA_TYPES
from app.changelog.i18n import accepted_tags
from app.changelog.service import ChangelogRuntime, Reader, changelog_service
from app.changelog.snapshot import Rendered
from app.errors import NotFound, invalid_field
from app.kit.etags import if_none_match_hits
from app.kit.hot_routes import HotRoute, headers_of, query_pairs
from app.kit.locales import normalize_locale
from app.kit.slugs import SLUG_PATTERN
from app.kit.time import utc_now

router = APIRouter(tags=["changelog"])

_FOREVER = "public, max-age=31536000, immutable"


class EntryQuery(BaseModel):
    locale: str | None = Field(
        default=None,
        max_length=35,
        description="BCP 47 tag; without it, the Accept-Language header decides. Falls back "
        "like the widget (de-AT -> de -> the default content).",
    )


class FeedQuery(EntryQuery):
    category: str | None = Field(
        default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="Only this category."
    )


class PageQuery(FeedQuery):
    page: int = Field(default=1, ge=1, le=10_000, description="1 is the newest.")


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


async def changelog_feed(scope: Scope, receive: Receive, send: Send) -> None:
    """The changelog as an Atom, RSS 2.0 or JSON Feed 1.1 document (the 50 newest)."""
    slug, kind = scope["path_params"]["workspace_slug"], scope["path_params"]["kind"]
    headers = headers_of(scope, _HEADERS)
    query = _parse(FeedQuery, scope)
    snapshot = await _runtime(scope).snapshot(slug)
    rendered = changelog_service.feed(
        snapshot,
        _reader(scope, headers, slug, query.locale),
        utc_now(),
        kind=kind,
        category=query.category,
    )
    await _answer(send, headers, rendered, MEDIA_TYPES[kind])


async def changelog_page(scope: Scope, receive: Receive, send: Send) -> None:
    """The public changelog: public, live announcements, newest first, 10 a page."""
    slug = scope["path_params"]["workspace_slug"]
    headers = headers_of(scope, _HEADERS)
    query = _parse(PageQuery, scope)
    snapshot = await _runtime(scope).snapshot(slug)
    rendered = changelog_service.page(
        snapshot,
        _reader(scope, headers, slug, query.locale),
        utc_now(),
        page=query.page,
        category=query.category,
    )
    await _answer(send, headers, rendered, _HTML)


async def changelog_entry(scope: Scope, receive: Receive, send: Send) -> None:
    """One public announcement's permalink page, by its slug or its id."""
    slug, handle = scope["path_params"]["workspace_slug"], scope["path_params"]["announcement"]
    headers = headers_of(scope, _HEADERS)
    query = _parse(EntryQuery, scope)
    snapshot = await _runtime(scope).snapshot(slug)
    rendered = changelog_service.entry(
        snapshot, _reader(scope, headers, slug, query.locale), utc_now(), handle
    )
    await _answer(send, headers, rendered, _HTML)


_HTML = "text/html; charset=utf-8"
_HEADERS = frozenset((b"host", b"accept-language", b"if-none-match", b"if-modified-since"))
_SLUG = {"type": "string", "pattern": SLUG_PATTERN}
_NOT_FOUND = {404: "No such changelog, page or announcement."}

CHANGELOG_HOT_ROUTES = (
    HotRoute(
        "/changelog/{workspace_slug}/feed.{kind}",
        "GET",
        changelog_feed,
        name="changelog_feed",
        status=200,
        media_types=tuple(MEDIA_TYPES.values()),
        tags=("changelog",),
        path_parameters={
            "workspace_slug": _SLUG,
            "kind": {"type": "string", "enum": list(MEDIA_TYPES), "pattern": "^(atom|rss|json)$"},
        },
        query=FeedQuery,
        other_responses=_NOT_FOUND,
    ),
    HotRoute(
        "/changelog/{workspace_slug}",
        "GET",
        changelog_page,
        name="changelog_page",
        status=200,
        media_types=(_HTML,),
        tags=("changelog",),
        path_parameters={"workspace_slug": _SLUG},
        query=PageQuery,
        other_responses=_NOT_FOUND,
    ),
    HotRoute(
        "/changelog/{workspace_slug}/{announcement}",
        "GET",
        changelog_entry,
        name="changelog_entry",
        status=200,
        media_types=(_HTML,),
        tags=("changelog",),
        path_parameters={"workspace_slug": _SLUG, "announcement": {"type": "string"}},
        query=EntryQuery,
        other_responses=_NOT_FOUND,
    ),
)


_Query = TypeVar("_Query", bound=BaseModel)


def _parse(model: type[_Query], scope: Scope) -> _Query:
    """The query, validated by its model: a 422 naming the parameter otherwise."""
    try:
        return model.model_validate(dict(query_pairs(scope)))
    except ValidationError as exc:
        error = exc.errors()[0]
        raise invalid_field(str(error["loc"][0]), error["msg"]) from None


def _runtime(scope: Scope) -> ChangelogRuntime:
    runtime: ChangelogRuntime = scope["app"].state.changelog
    return runtime


def _reader(scope: Scope, headers: dict[bytes, str], slug: str, locale: str | None) -> Reader:
    if locale is not None:
        try:
            languages: tuple[str, ...] = (normalize_locale(locale),)
        except ValueError as exc:
            raise invalid_field("locale", str(exc)) from None
    else:
        languages = accepted_tags(headers.get(b"accept-language"))
    host = headers.get(b"host")
    if host is None:
        server_host, port = scope["server"]
        host = f"{server_host}:{port}"
    on_own_host = scope.get("changelog_host") is not None
    return Reader(
        origin=f"{scope['scheme']}://{host}",
        root="" if on_own_host else f"/changelog/{slug}",
        languages=languages,
    )


async def _answer(
    send: Send, headers: dict[bytes, str], rendered: Rendered, media_type: str
) -> None:
    """The rendered response, or a 304 when the client's copy is current (RFC 9110 13.2.2:
    If-None-Match decides when sent; If-Modified-Since only without it)."""
    raw = list(rendered.headers)
    last_modified = rendered.last_modified.replace(microsecond=0)
    if_none_match = headers.get(b"if-none-match")
    if if_none_match is not None:
        fresh = if_none_match_hits(if_none_match, rendered.etag)
    else:
        fresh = _not_modified_since(headers.get(b"if-modified-since"), last_modified)
    if fresh:
        status, body = 304, b""
    else:
        status, body = 200, rendered.body
        raw.append((b"content-type", media_type.encode()))
        raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


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
