"""Shared steps of the changelog tests: publishing through the API and reading the page."""

from html.parser import HTMLParser
from typing import Any

import httpx

from tests.fixtures.tenants import Tenant


async def publish(client: httpx.AsyncClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    """A published, public announcement (fields override), as the API returns it."""
    body = {"title": "Untitled", "body": "", "status": "published", "public": True, **fields}
    response = await client.post("/v1/announcements", json=body, headers=tenant.auth)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def patch_workspace(
    client: httpx.AsyncClient, tenant: Tenant, **fields: Any
) -> httpx.Response:
    return await client.patch("/v1/workspace", json=fields, headers=tenant.auth)


class PageReader(HTMLParser):
    """What a reader of the page gets: article headings, texts, links, meta tags."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.links: list[dict[str, str]] = []
        self.meta: dict[str, str] = {}
        self.link_tags: list[dict[str, str]] = []
        self.text_parts: list[str] = []
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.html_lang: str | None = None
        self._in_article = False
        self._in_heading = False
        self._heading: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.elements.append((tag, attributes))
        if tag == "html":
            self.html_lang = attributes.get("lang")
        if tag == "article":
            self._in_article = True
        if tag in ("h1", "h2") and self._in_article:
            self._in_heading, self._heading = True, []
        if tag == "a":
            self.links.append(attributes)
        if tag == "meta":
            key = attributes.get("property") or attributes.get("name")
            if key:
                self.meta[key] = attributes.get("content", "")
        if tag == "link":
            self.link_tags.append(attributes)

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self._in_article = False
        if tag in ("h1", "h2") and self._in_heading:
            self._in_heading = False
            self.headings.append("".join(self._heading).strip())

    def handle_data(self, data: str) -> None:
        self.text_parts.append(data)
        if self._in_heading:
            self._heading.append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self.text_parts).split())

    @property
    def titles(self) -> list[str]:
        """The announcements' titles (their articles' headings), in page order."""
        return self.headings

    def link_tag(self, rel: str, media_type: str | None = None) -> dict[str, str]:
        for tag in self.link_tags:
            if tag.get("rel") == rel and (media_type is None or tag.get("type") == media_type):
                return tag
        raise AssertionError(f"no <link rel={rel!r}> in {self.link_tags}")


def read_page(html: str) -> PageReader:
    reader = PageReader()
    reader.feed(html)
    return reader
