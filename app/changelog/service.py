"""The public changelog: which snapshot a request reads, and the page, permalink and feeds
rendered from it (once per snapshot, language and URL; see snapshot.py)."""

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from math import ceil
from typing import Any, Final
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.changelog import feeds
from app.changelog.assets import style_source_hash, stylesheet
from app.changelog.hosts import ChangelogHosts
from app.changelog.i18n import (
    WORDS,
    PageWords,
    category_name,
    first_pick,
    format_date,
    page_language,
)
from app.changelog.repository import ChangelogRepository
from app.changelog.snapshot import ChangelogSnapshot, Entry, Rendered, load_changelog
from app.errors import NotFound
from app.kit.snapshots import SnapshotCache

PAGE_SIZE: Final = 10
FEED_SIZE: Final = 50
MAX_SLUG_IDS: Final = 10_000
KNOWN_CATEGORIES: Final = ("new", "improvement", "fix", "announcement")
DESCRIPTION_LENGTH: Final = 200

_templates = Environment(
    loader=PackageLoader("app.changelog", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True, slots=True)
class Reader:
    """Who asks, as far as the rendering depends on it."""

    origin: str  # scheme://host[:port] of the request, for absolute URLs
    root: str  # the changelog's path on this host: "/changelog/acme", or "" on its own host
    languages: tuple[str, ...]  # ?locale=, or Accept-Language's tags, preferred first

    @property
    def home(self) -> str:
        return self.root or "/"


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    title: str
    body_html: Markup
    category: str
    category_name: str
    badge: str
    date_text: str
    date_iso: str
    updated_iso: str
    image_url: str | None
    cta: dict[str, Any] | None
    path: str  # on this host, for links
    url: str  # absolute and canonical, for feeds and tags
    lang: str | None  # the translation's locale when one was chosen
    published_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class FeedLink:
    label: str
    media_type: str
    url: str
    title: str


class ChangelogRuntime:
    """The changelog's long-lived parts, built in the app's lifespan."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, recheck_s: float) -> None:
        self.sessionmaker = sessionmaker
        self.snapshots = SnapshotCache(load_changelog, what="changelog", recheck_s=recheck_s)
        self.hosts = ChangelogHosts(sessionmaker, recheck_s=recheck_s)
        self._ids: dict[str, str] = {}  # workspace slug -> id, checked against the snapshot

    async def snapshot(self, slug: str) -> ChangelogSnapshot:
        workspace_id = self._ids.get(slug)
        if workspace_id is not None:
            snapshot = await self.snapshots.get(self.sessionmaker, workspace_id)
            if snapshot is not None and snapshot.slug == slug:
                return snapshot
            del self._ids[slug]  # renamed or deleted: look the slug up again
        async with self.sessionmaker() as session:
            workspace_id = await ChangelogRepository(session).workspace_id_for_slug(slug)
        if workspace_id is None:
            raise NotFound(f"No changelog {slug!r}.")
        snapshot = await self.snapshots.get(self.sessionmaker, workspace_id)
        if snapshot is None or snapshot.slug != slug:
            raise NotFound(f"No changelog {slug!r}.")
        if len(self._ids) >= MAX_SLUG_IDS:
            self._ids.clear()
        self._ids[slug] = workspace_id
        return snapshot

    async def stop(self) -> None:
        await self.snapshots.aclose()
        await self.hosts.aclose()


class ChangelogService:
    def page(
        self,
        snapshot: ChangelogSnapshot,
        reader: Reader,
        now: datetime,
        *,
        page: int,
        category: str | None,
    ) -> Rendered:
        key = ("page", reader, page, category, snapshot.live_epoch(now))
        cached = snapshot.rendered.get(key)
        if cached is not None:
            return cached
        live = snapshot.live(now)
        shown = [entry for entry in live if category is None or entry.category == category]
        total_pages = max(1, ceil(len(shown) / PAGE_SIZE))
        if page > total_pages:
            raise NotFound(f"There is no page {page}; the last one is {total_pages}.")
        language = page_language(reader.languages)
        words = WORDS[language]
        start = (page - 1) * PAGE_SIZE
        items = [
            _item(entry, snapshot, reader, words) for entry in shown[start : start + PAGE_SIZE]
        ]
        heading = f"{snapshot.theme.name} {words.changelog}"
        context = {
            **_common(snapshot, reader, language, words),
            "title": heading
            if page == 1
            else f"{heading} · {words.page_n.format(n=page, total=total_pages)}",
            "heading": heading,
            "description": items[0].title if items else words.nothing_yet,
            "canonical": _canonical_home(snapshot, reader) + _query(category=category, page=page),
            "og_type": "website",
            "og_title": heading,
            "og_image": snapshot.theme.logo_url,
            "og_large_image": False,
            "items": items,
            "category": category,
            "categories": _category_options(live, category, reader, words),
            "page": page,
            "total_pages": total_pages,
            "newer_url": reader.home + _query(category=category, page=page - 1)
            if page > 1
            else None,
            "older_url": reader.home + _query(category=category, page=page + 1)
            if page < total_pages
            else None,
        }
        return snapshot.remember(key, _html("index.html", context, snapshot, now))

    def entry(
        self, snapshot: ChangelogSnapshot, reader: Reader, now: datetime, handle: str
    ) -> Rendered:
        key = ("entry", reader, handle, snapshot.live_epoch(now))
        cached = snapshot.rendered.get(key)
        if cached is not None:
            return cached
        entry = next((e for e in snapshot.live(now) if handle in (e.slug, e.id)), None)
        if entry is None:
            raise NotFound(f"No public announcement {handle!r} on this changelog.")
        language = page_language(reader.languages)
        words = WORDS[language]
        item = _item(entry, snapshot, reader, words)
        context = {
            **_common(snapshot, reader, language, words),
            "title": f"{item.title} · {snapshot.theme.name} {words.changelog}",
            "description": _excerpt(item.body_html) or item.title,
            "canonical": item.url,
            "og_type": "article",
            "og_title": item.title,
            "og_image": item.image_url or snapshot.theme.logo_url,
            "og_large_image": item.image_url is not None,
            "item": item,
        }
        return snapshot.remember(key, _html("entry.html", context, snapshot, now))

    def feed(
        self,
        snapshot: ChangelogSnapshot,
        reader: Reader,
        now: datetime,
        *,
        kind: str,
        category: str | None,
    ) -> Rendered:
        key = ("feed", kind, reader, category, snapshot.live_epoch(now))
        cached = snapshot.rendered.get(key)
        if cached is not None:
            return cached
        shown = [e for e in snapshot.live(now) if category is None or e.category == category]
        language = page_language(reader.languages)
        words = WORDS[language]
        channel = feeds.Channel(
            id=f"urn:tidings:changelog:{snapshot.workspace_id}",
            title=f"{snapshot.theme.name} {words.changelog}",
            home_url=_canonical_home(snapshot, reader) + _query(category=category),
            feed_url=_canonical_root(snapshot, reader)
            + f"/feed.{kind}"
            + _query(category=category),
            language=language,
            updated=snapshot.last_modified(now),
            author=snapshot.theme.name,
            icon=snapshot.theme.logo_url,
        )
        entries = [
            feeds.FeedEntry(
                id=f"urn:tidings:announcement:{item.id}",
                url=item.url,
                title=item.title,
                content_html=_feed_html(item),
                category=item.category,
                category_name=item.category_name,
                image_url=item.image_url,
                published=item.published_at,
                updated=item.updated_at,
                language=item.lang,
            )
            for item in (_item(e, snapshot, reader, words) for e in shown[:FEED_SIZE])
        ]
        body = feeds.RENDERERS[kind](channel, entries)
        rendered = Rendered(body, _etag(body), snapshot.last_modified(now))
        return snapshot.remember(key, rendered)


def _common(
    snapshot: ChangelogSnapshot, reader: Reader, language: str, words: PageWords
) -> dict[str, Any]:
    base = reader.root
    return {
        "lang": language,
        "og_locale": {"en": "en_US", "de": "de_DE", "fr": "fr_FR", "es": "es_ES", "ja": "ja_JP"}[
            language
        ],
        "words": words,
        "theme": snapshot.theme,
        "theme_css": _theme_css(snapshot),
        "root": reader.root,
        "home": reader.home,
        "stylesheet": stylesheet(),
        "feeds": [
            FeedLink(
                "Atom", "application/atom+xml", f"{base}/feed.atom", f"{snapshot.theme.name} (Atom)"
            ),
            FeedLink(
                "RSS", "application/rss+xml", f"{base}/feed.rss", f"{snapshot.theme.name} (RSS)"
            ),
            FeedLink(
                "JSON Feed",
                "application/feed+json",
                f"{base}/feed.json",
                f"{snapshot.theme.name} (JSON Feed)",
            ),
        ],
    }


def _theme_css(snapshot: ChangelogSnapshot) -> str:
    return f":root{{--accent:{snapshot.theme.accent};--accent-dark:{snapshot.theme.accent_dark}}}"


def _html(
    template: str, context: dict[str, Any], snapshot: ChangelogSnapshot, now: datetime
) -> Rendered:
    body = _templates.get_template(template).render(context).encode()
    policy = (
        "default-src 'none'; "
        f"style-src 'self' {style_source_hash(_theme_css(snapshot))}; "
        "img-src https: data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return Rendered(body, _etag(body), snapshot.last_modified(now), policy)


def _etag(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def _canonical_root(snapshot: ChangelogSnapshot, reader: Reader) -> str:
    """The changelog's absolute URL without a trailing slash: on the workspace's own host
    name when it claimed one (always https), else where this request found it."""
    if snapshot.host is not None:
        return f"https://{snapshot.host}"
    return reader.origin + reader.root


def _canonical_home(snapshot: ChangelogSnapshot, reader: Reader) -> str:
    root = _canonical_root(snapshot, reader)
    return root + "/" if snapshot.host is not None else root


def _query(*, category: str | None = None, page: int = 1) -> str:
    parameters: dict[str, str | int] = {}
    if category:
        parameters["category"] = category
    if page > 1:
        parameters["page"] = page
    return "?" + urlencode(parameters) if parameters else ""


def _item(entry: Entry, snapshot: ChangelogSnapshot, reader: Reader, words: PageWords) -> Item:
    locale = first_pick(reader.languages, entry.translations) if entry.translations else None
    text = entry.translations[locale] if locale else None
    path = f"{reader.root}/{entry.handle}"
    url = f"{_canonical_root(snapshot, reader)}/{entry.handle}"
    return Item(
        id=entry.id,
        title=text["title"] if text else entry.title,
        # Sanitized when it was written (app/announcements/content.py): safe as it is.
        body_html=Markup(text["body_html"] if text else entry.body_html),
        category=entry.category,
        category_name=category_name(entry.category, words),
        badge=entry.category if entry.category in KNOWN_CATEGORIES else "other",
        date_text=format_date(entry.published_at, words),
        date_iso=entry.published_at.isoformat(),
        updated_iso=entry.updated_at.isoformat(),
        image_url=entry.image_url,
        cta=entry.cta,
        path=path,
        url=url,
        lang=locale,
        published_at=entry.published_at,
        updated_at=entry.updated_at,
    )


@dataclass(frozen=True, slots=True)
class _CategoryOption:
    name: str
    url: str
    current: bool


def _category_options(
    live: Sequence[Entry], current: str | None, reader: Reader, words: PageWords
) -> list[_CategoryOption]:
    counts = Counter(entry.category for entry in live)
    if current is not None:
        counts[current] += 0
    ordered = [c for c in KNOWN_CATEGORIES if c in counts] + sorted(
        c for c in counts if c not in KNOWN_CATEGORIES
    )
    return [
        _CategoryOption(category_name(c, words), reader.home + _query(category=c), c == current)
        for c in ordered
    ]


def _feed_html(item: Item) -> str:
    parts = []
    if item.image_url:
        parts.append(f'<p><img src="{_attribute(item.image_url)}" alt=""></p>')
    parts.append(str(item.body_html))
    if item.cta:
        parts.append(
            f'<p><a href="{_attribute(item.cta["url"])}">{_attribute(item.cta["label"])}</a></p>'
        )
    return "\n".join(parts)


def _attribute(value: str) -> str:
    return str(Markup.escape(value))


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _excerpt(html: str) -> str:
    """The body's first words as plain text, for descriptions (OpenGraph, Twitter)."""
    parser = _TextOnly()
    parser.feed(html)
    text = " ".join("".join(parser.parts).split())
    if len(text) <= DESCRIPTION_LENGTH:
        return text
    return text[: DESCRIPTION_LENGTH - 1].rsplit(" ", 1)[0] + "…"


changelog_service = ChangelogService()
