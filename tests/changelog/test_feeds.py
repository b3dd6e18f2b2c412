"""feed.atom, feed.rss and feed.json: valid documents readers can follow."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import feedparser
import httpx
import pytest

from tests.changelog.helpers import publish, read_page
from tests.fixtures.tenants import Tenant

KINDS = {
    "atom": "application/atom+xml",
    "rss": "application/rss+xml",
    "json": "application/feed+json",
}


async def two_updates(
    client: httpx.AsyncClient, tenant: Tenant
) -> tuple[dict[str, Any], dict[str, Any]]:
    first = await publish(client, tenant, title="First <update>", category="fix", body="Fixed *it*")
    second = await publish(
        client,
        tenant,
        title="Second & best",
        category="new",
        body="Now **faster**.",
        image_url="https://images.test/second.png",
        cta={"label": "See it", "url": "https://app.example.com/x"},
    )
    await publish(client, tenant, title="Private", public=False)
    return first, second


@pytest.mark.parametrize("kind", ["atom", "rss"])
class TestXmlFeeds:
    async def test_parsed_by_feedparser_with_absolute_urls_and_stable_ids(
        self, client: httpx.AsyncClient, tenant: Tenant, kind: str
    ) -> None:
        first, second = await two_updates(client, tenant)
        response = await client.get(f"/changelog/{tenant.slug}/feed.{kind}")
        assert response.status_code == 200
        assert response.headers["content-type"] == f"{KINDS[kind]}; charset=utf-8"
        feed = feedparser.parse(response.content)
        assert not feed.bozo, feed.get("bozo_exception")
        assert feed.version == ("atom10" if kind == "atom" else "rss20")
        assert feed.feed.title.endswith("Changelog")
        assert feed.feed.link == f"http://testserver/changelog/{tenant.slug}"
        assert [entry.title for entry in feed.entries] == ["Second & best", "First <update>"]
        newest = feed.entries[0]
        assert newest.link == f"http://testserver/changelog/{tenant.slug}/second-best"
        assert newest.id == f"urn:tidings:announcement:{second['id']}"
        assert feed.entries[1].id == f"urn:tidings:announcement:{first['id']}"
        content = newest.content[0].value if kind == "atom" else newest.description
        assert "<strong>faster</strong>" in content
        assert 'src="https://images.test/second.png"' in content
        assert 'href="https://app.example.com/x"' in content
        assert newest.published_parsed is not None
        if kind == "atom":
            assert newest.updated_parsed is not None
            assert feed.feed.updated_parsed is not None
            self_link = next(link for link in feed.feed.links if link.rel == "self")
            assert self_link.href == f"http://testserver/changelog/{tenant.slug}/feed.atom"
        assert [tag.term for tag in newest.tags] == (["new"] if kind == "atom" else ["New"])

    async def test_the_same_ids_after_an_edit_and_the_edit_moves_updated(
        self, client: httpx.AsyncClient, tenant: Tenant, kind: str
    ) -> None:
        first, _ = await two_updates(client, tenant)
        before = feedparser.parse(
            (await client.get(f"/changelog/{tenant.slug}/feed.{kind}")).content
        )
        await asyncio.sleep(1.05)
        response = await client.patch(
            f"/v1/announcements/{first['id']}",
            json={"title": "First, renamed"},
            headers=tenant.auth,
        )
        assert response.status_code == 200
        after = feedparser.parse(
            (await client.get(f"/changelog/{tenant.slug}/feed.{kind}")).content
        )
        assert [e.id for e in after.entries] == [e.id for e in before.entries]
        assert after.entries[1].title == "First, renamed"
        assert after.entries[1].link == before.entries[1].link  # the slug did not move
        if kind == "atom":
            assert after.entries[1].updated_parsed > before.entries[1].updated_parsed
            assert after.feed.updated_parsed > before.feed.updated_parsed


class TestJsonFeed:
    async def test_has_every_field_json_feed_1_1_requires(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        first, second = await two_updates(client, tenant)
        response = await client.get(f"/changelog/{tenant.slug}/feed.json")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/feed+json; charset=utf-8"
        document = response.json()
        # Required by the spec: version (the 1.1 URL), title, items; each item an id (a
        # string) and content_html or content_text. (feedparser 6 does not read JSON Feed.)
        assert document["version"] == "https://jsonfeed.org/version/1.1"
        assert isinstance(document["title"], str) and document["title"]
        assert isinstance(document["items"], list)
        for item in document["items"]:
            assert isinstance(item["id"], str) and item["id"]
            assert "content_html" in item or "content_text" in item
            datetime.fromisoformat(item["date_published"]).astimezone(UTC)
            datetime.fromisoformat(item["date_modified"]).astimezone(UTC)
        assert document["feed_url"] == f"http://testserver/changelog/{tenant.slug}/feed.json"
        assert document["home_page_url"] == f"http://testserver/changelog/{tenant.slug}"
        assert [item["id"] for item in document["items"]] == [
            f"urn:tidings:announcement:{second['id']}",
            f"urn:tidings:announcement:{first['id']}",
        ]
        assert (
            document["items"][0]["url"] == f"http://testserver/changelog/{tenant.slug}/second-best"
        )
        assert document["items"][0]["image"] == "https://images.test/second.png"
        assert document["items"][0]["tags"] == ["new"]
        assert document["authors"][0]["name"]
        assert [item["title"] for item in document["items"]] == ["Second & best", "First <update>"]


class TestFeedsAndThePage:
    async def test_the_page_links_its_feeds_as_alternates(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        html = read_page((await client.get(f"/changelog/{tenant.slug}")).text)
        for kind, media_type in KINDS.items():
            link = html.link_tag("alternate", media_type)
            assert link["href"] == f"/changelog/{tenant.slug}/feed.{kind}"
            assert (await client.get(link["href"])).status_code == 200

    async def test_a_category_feed_and_a_304(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        await two_updates(client, tenant)
        url = f"/changelog/{tenant.slug}/feed.atom?category=fix"
        response = await client.get(url)
        assert [e.title for e in feedparser.parse(response.content).entries] == ["First <update>"]
        again = await client.get(url, headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304

    async def test_an_unknown_kind_is_a_404_or_422(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        response = await client.get(f"/changelog/{tenant.slug}/feed.xml")
        assert response.status_code in (404, 422)
        assert response.headers["content-type"] == "application/problem+json"
