"""The XSS corpus of the content tests, as titles and bodies on the public page and feeds."""

import re
from itertools import zip_longest
from xml.etree import ElementTree

import feedparser
import httpx

from app.changelog.service import FEED_SIZE
from tests.announcements.test_content import (
    HTML_VECTORS,
    MARKDOWN_VECTORS,
    PERMITTED_TAGS,
    forbidden_content,
)
from tests.changelog.helpers import publish, read_page
from tests.fixtures.tenants import Tenant

# The page's own markup, around the announcements' sanitized bodies.
PAGE_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "link",
    "style",
    "body",
    "header",
    "main",
    "footer",
    "nav",
    "article",
    "div",
    "span",
    "time",
    "h1",
    "h2",
    "a",
    "p",
    "img",
    "ul",
    "li",
}


def body_of(html: str) -> str:
    start = html.index('<div class="body">') + len('<div class="body">')
    return html[start : html.index("</div>\n", start)]


class TestTheCorpusIsInert:
    async def test_titles_are_text_and_bodies_are_sanitized_on_every_page(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        pairs = list(zip_longest(HTML_VECTORS.values(), MARKDOWN_VECTORS.values()))
        created = []
        for title, body in pairs:
            title = (title or "plain title")[:200].strip() or "blank"
            created.append(await publish(client, tenant, title=title, body=body or ""))
        for announcement in created:
            response = await client.get(f"/changelog/{tenant.slug}/{announcement['id']}")
            assert response.status_code == 200
            html = read_page(response.text)
            # The title reads back exactly as written: it was escaped, not parsed.
            assert html.titles == [announcement["title"]]
            assert html.meta["og:title"] == announcement["title"]
            assert forbidden_content(body_of(response.text)) == []
            for tag, attributes in html.elements:
                assert tag in PAGE_TAGS | PERMITTED_TAGS, tag
                assert not any(name.startswith("on") for name in attributes), attributes
                for name in ("href", "src"):
                    assert (
                        not attributes.get(name, "")
                        .lower()
                        .startswith(("javascript:", "data:text", "vbscript:"))
                    )
            assert "<script" not in response.text.lower()

        for page_number in range(1, len(created) // 10 + 2):
            listing = await client.get(f"/changelog/{tenant.slug}?page={page_number}")
            assert listing.status_code == 200
            assert "<script" not in listing.text.lower()
            for tag, attributes in read_page(listing.text).elements:
                assert tag in PAGE_TAGS | PERMITTED_TAGS, tag
                assert not any(name.startswith("on") for name in attributes), attributes

        feed = (await client.get(f"/changelog/{tenant.slug}/feed.atom")).content
        assert not feedparser.parse(feed).bozo
        # Read as plain XML (feedparser rewrites HTML-looking titles): each title is text.
        # Feeds drop the C0 controls XML cannot carry; nothing else of a title changes.
        entries = ElementTree.fromstring(feed).iter("{http://www.w3.org/2005/Atom}entry")
        atom_titles = [e.findtext("{http://www.w3.org/2005/Atom}title") for e in entries]
        titles = {re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f]", "", a["title"]) for a in created}
        assert set(atom_titles) <= titles
        assert len(atom_titles) == min(FEED_SIZE, len(created))
        document = (await client.get(f"/changelog/{tenant.slug}/feed.json")).json()
        assert {item["title"] for item in document["items"]} <= {a["title"] for a in created}
        for item in document["items"]:
            body = item["content_html"].split("\n", 1)[-1]
            assert "<script" not in body.lower()
