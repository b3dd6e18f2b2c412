"""Atom (RFC 4287), RSS 2.0 and JSON Feed 1.1 documents of a changelog.

Ids are URNs of the workspace and announcement ids: they never change when a slug, a
title or the host name does, so feed readers never show an item twice.
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from xml.etree.ElementTree import Element, SubElement, register_namespace, tostring

import orjson

ATOM = "http://www.w3.org/2005/Atom"
register_namespace("", ATOM)
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"

MEDIA_TYPES = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    title: str
    home_url: str
    feed_url: str
    language: str
    updated: datetime
    author: str
    icon: str | None


@dataclass(frozen=True, slots=True)
class FeedEntry:
    id: str
    url: str
    title: str
    content_html: str
    category: str
    category_name: str
    image_url: str | None
    published: datetime
    updated: datetime
    language: str | None


def _iso(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


# Characters XML 1.0 cannot carry at all, not even escaped (C0 controls but tab and line
# breaks, surrogates, U+FFFE/U+FFFF): a title may hold them, a feed must not.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


def _text(parent: Element, tag: str, text: str, **attributes: str) -> Element:
    element = SubElement(parent, tag, {k: _xml_text(v) for k, v in attributes.items()})
    element.text = _xml_text(text)
    return element


def atom(channel: Channel, entries: Sequence[FeedEntry]) -> bytes:
    feed = Element(f"{{{ATOM}}}feed", {"xml:lang": channel.language})
    _text(feed, f"{{{ATOM}}}id", channel.id)
    _text(feed, f"{{{ATOM}}}title", channel.title)
    _text(feed, f"{{{ATOM}}}updated", _iso(channel.updated))
    SubElement(
        feed, f"{{{ATOM}}}link", {"rel": "alternate", "type": "text/html", "href": channel.home_url}
    )
    SubElement(
        feed,
        f"{{{ATOM}}}link",
        {"rel": "self", "type": "application/atom+xml", "href": channel.feed_url},
    )
    author = SubElement(feed, f"{{{ATOM}}}author")
    _text(author, f"{{{ATOM}}}name", channel.author)
    if channel.icon:
        _text(feed, f"{{{ATOM}}}icon", channel.icon)
    _text(feed, f"{{{ATOM}}}generator", "Tidings")
    for entry in entries:
        item = SubElement(feed, f"{{{ATOM}}}entry")
        if entry.language:
            item.set("xml:lang", entry.language)
        _text(item, f"{{{ATOM}}}id", entry.id)
        _text(item, f"{{{ATOM}}}title", entry.title)
        SubElement(
            item, f"{{{ATOM}}}link", {"rel": "alternate", "type": "text/html", "href": entry.url}
        )
        _text(item, f"{{{ATOM}}}published", _iso(entry.published))
        _text(item, f"{{{ATOM}}}updated", _iso(entry.updated))
        SubElement(
            item, f"{{{ATOM}}}category", {"term": entry.category, "label": entry.category_name}
        )
        _text(item, f"{{{ATOM}}}content", entry.content_html, type="html")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + tostring(feed, encoding="unicode").encode()


def rss(channel: Channel, entries: Sequence[FeedEntry]) -> bytes:
    root = Element("rss", {"version": "2.0", "xmlns:atom": ATOM})
    info = SubElement(root, "channel")
    _text(info, "title", channel.title)
    _text(info, "link", channel.home_url)
    _text(info, "description", channel.title)
    _text(info, "language", channel.language)
    _text(info, "lastBuildDate", format_datetime(channel.updated, usegmt=True))
    _text(info, "generator", "Tidings")
    SubElement(
        info, "atom:link", {"href": channel.feed_url, "rel": "self", "type": "application/rss+xml"}
    )
    if channel.icon:
        image = SubElement(info, "image")
        _text(image, "url", channel.icon)
        _text(image, "title", channel.title)
        _text(image, "link", channel.home_url)
    for entry in entries:
        item = SubElement(info, "item")
        _text(item, "title", entry.title)
        _text(item, "link", entry.url)
        _text(item, "guid", entry.id, isPermaLink="false")
        _text(item, "pubDate", format_datetime(entry.published, usegmt=True))
        _text(item, "category", entry.category_name)
        _text(item, "description", entry.content_html)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + tostring(root, encoding="unicode").encode()


def json_feed(channel: Channel, entries: Sequence[FeedEntry]) -> bytes:
    document: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": channel.title,
        "home_page_url": channel.home_url,
        "feed_url": channel.feed_url,
        "language": channel.language,
        "authors": [{"name": channel.author}],
        "items": [
            {
                "id": entry.id,
                "url": entry.url,
                "title": entry.title,
                "content_html": entry.content_html,
                "date_published": _iso(entry.published),
                "date_modified": _iso(entry.updated),
                "tags": [entry.category],
                **({"image": entry.image_url} if entry.image_url else {}),
                **({"language": entry.language} if entry.language else {}),
            }
            for entry in entries
        ],
    }
    if channel.icon:
        document["icon"] = channel.icon
    return orjson.dumps(document)


RENDERERS: dict[str, Callable[[Channel, Sequence[FeedEntry]], bytes]] = {
    "atom": atom,
    "rss": rss,
    "json": json_feed,
}
