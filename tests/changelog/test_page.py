"""GET /changelog/{slug}: what the public sees, and what it never sees."""

import asyncio
import base64
import hashlib
from datetime import timedelta

import httpx
import pytest

from app.kit.time import utc_now
from tests.changelog.helpers import publish, read_page
from tests.fixtures.tenants import Tenant


async def page(
    client: httpx.AsyncClient, tenant: Tenant, query: str = "", **headers: str
) -> httpx.Response:
    return await client.get(f"/changelog/{tenant.slug}{query}", headers=headers)


class TestItems:
    async def test_newest_first_with_date_category_body_image_and_cta(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        await publish(client, tenant, title="Older", category="fix", body="First *fix*")
        await publish(
            client,
            tenant,
            title="Dark mode",
            category="new",
            body="Switch it on in **Settings**.",
            image_url="https://images.test/dark.png",
            cta={"label": "Try it", "url": "https://app.example.com/settings"},
        )
        response = await page(client, tenant)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert "set-cookie" not in response.headers
        html = read_page(response.text)
        assert html.titles == ["Dark mode", "Older"]
        assert "Switch it on in Settings." in html.text
        assert "<strong>Settings</strong>" in response.text
        assert '<img src="https://images.test/dark.png"' in response.text
        cta = next(link for link in html.links if link.get("class") == "cta")
        assert cta["href"] == "https://app.example.com/settings"
        assert "Try it" in html.text
        assert "New" in html.text and "Fix" in html.text
        today = utc_now()
        times = [attrs["datetime"] for tag, attrs in html.elements if tag == "time"]
        assert len(times) == 2 and all(t.startswith(today.date().isoformat()) for t in times)
        assert f"{today.strftime('%B')} {today.day}, {today.year}" in html.text

    async def test_no_script_and_no_cookie_and_a_strict_policy(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        await publish(client, tenant, title="Hello")
        response = await page(client, tenant)
        assert "<script" not in response.text
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy
        assert "set-cookie" not in response.headers

    async def test_the_stylesheet_is_served_with_its_integrity(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        html = read_page((await page(client, tenant)).text)
        sheet = html.link_tag("stylesheet")
        response = await client.get(sheet["href"])
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/css")
        assert "immutable" in response.headers["cache-control"]
        digest = base64.b64encode(hashlib.sha384(response.content).digest()).decode()
        assert sheet["integrity"] == f"sha384-{digest}"
        assert (await client.get("/changelog/_assets/changelog-000.css")).status_code == 404

    async def test_an_empty_changelog_says_so(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        response = await page(client, tenant)
        assert response.status_code == 200
        assert "Nothing has been published yet." in read_page(response.text).text


class TestOnlyPublicLiveAnnouncements:
    async def test_drafts_archived_expired_scheduled_and_private_never_appear(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        now = utc_now()
        await publish(client, tenant, title="Shown")
        await publish(client, tenant, title="A draft", status="draft")
        await publish(client, tenant, title="Not public", public=False)
        await publish(
            client, tenant, title="Scheduled", publish_at=(now + timedelta(days=1)).isoformat()
        )
        await publish(
            client, tenant, title="Expiring", expire_at=(now + timedelta(seconds=1)).isoformat()
        )
        archived = await publish(client, tenant, title="Archived")
        response = await client.patch(
            f"/v1/announcements/{archived['id']}", json={"status": "archived"}, headers=tenant.auth
        )
        assert response.status_code == 200
        assert read_page((await page(client, tenant)).text).titles == ["Expiring", "Shown"]
        for hidden in ("A draft", "Not public", "Scheduled", "Archived"):
            assert hidden not in (await page(client, tenant)).text
        # The expiry passes without a write: the page changes all the same.
        await asyncio.sleep(1.1)
        assert read_page((await page(client, tenant)).text).titles == ["Shown"]

    async def test_another_workspaces_announcements_stay_on_its_own_page(
        self, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        await publish(client, tenant, title="Ours")
        theirs = await publish(client, other_tenant, title="Theirs")
        assert read_page((await page(client, tenant)).text).titles == ["Ours"]
        for handle in (theirs["id"], theirs["slug"]):
            response = await client.get(f"/changelog/{tenant.slug}/{handle}")
            assert response.status_code == 404
            assert response.headers["content-type"] == "application/problem+json"

    async def test_an_unknown_workspace_is_a_404(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/changelog/no-such-workspace")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert "no-such-workspace" in response.json()["detail"]


class TestPagination:
    async def test_ten_a_page_with_links_both_ways(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        for number in range(1, 24):
            await publish(client, tenant, title=f"Update {number:02d}")
        first = read_page((await page(client, tenant)).text)
        assert first.titles == [f"Update {n:02d}" for n in range(23, 13, -1)]
        older = next(link for link in first.links if link.get("rel") == "next")
        assert older["href"] == f"/changelog/{tenant.slug}?page=2"
        assert not any(link.get("rel") == "prev" for link in first.links)
        assert "Page 1 of 3" in first.text

        second = read_page((await client.get(older["href"])).text)
        assert second.titles == [f"Update {n:02d}" for n in range(13, 3, -1)]
        assert next(link for link in second.links if link.get("rel") == "prev")["href"] == (
            f"/changelog/{tenant.slug}"
        )
        third = read_page((await page(client, tenant, "?page=3")).text)
        assert third.titles == ["Update 03", "Update 02", "Update 01"]
        assert not any(link.get("rel") == "next" for link in third.links)

    async def test_a_page_past_the_end_is_a_404_and_a_bad_number_a_422(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        await publish(client, tenant, title="Only one")
        response = await page(client, tenant, "?page=2")
        assert response.status_code == 404
        assert "last one is 1" in response.json()["detail"]
        for bad in ("0", "-1", "two", "99999999"):
            response = await page(client, tenant, f"?page={bad}")
            assert response.status_code == 422, bad
            assert response.headers["content-type"] == "application/problem+json"


class TestCategoryFilter:
    async def test_only_that_category_and_the_filter_links(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        await publish(client, tenant, title="A fix", category="fix")
        await publish(client, tenant, title="A feature", category="new")
        await publish(client, tenant, title="Another fix", category="fix")
        html = read_page((await page(client, tenant, "?category=fix")).text)
        assert html.titles == ["Another fix", "A fix"]
        current = [link for link in html.links if link.get("aria-current") == "page"]
        assert [link["href"] for link in current] == [f"/changelog/{tenant.slug}?category=fix"]
        hrefs = {link["href"] for link in html.links}
        assert f"/changelog/{tenant.slug}?category=new" in hrefs
        assert f"/changelog/{tenant.slug}" in hrefs

    async def test_an_empty_category_says_so_and_a_malformed_one_is_a_422(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        await publish(client, tenant, title="A fix", category="fix")
        response = await page(client, tenant, "?category=security")
        assert response.status_code == 200
        assert "Nothing in this category yet." in read_page(response.text).text
        response = await page(client, tenant, "?category=%3Cscript%3E")
        assert response.status_code == 422


class TestPermalink:
    async def test_by_slug_and_by_id_with_open_graph_twitter_and_canonical(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        created = await publish(
            client,
            tenant,
            title="Faster search",
            body="Results **as you type**, with typo tolerance.",
            image_url="https://images.test/search.png",
        )
        assert created["slug"] == "faster-search"
        by_slug = await client.get(f"/changelog/{tenant.slug}/faster-search")
        by_id = await client.get(f"/changelog/{tenant.slug}/{created['id']}")
        assert by_slug.status_code == by_id.status_code == 200
        assert by_slug.text == by_id.text
        html = read_page(by_slug.text)
        assert html.titles == ["Faster search"]
        canonical = f"http://testserver/changelog/{tenant.slug}/faster-search"
        assert html.link_tag("canonical")["href"] == canonical
        assert html.meta["og:url"] == canonical
        assert html.meta["og:type"] == "article"
        assert html.meta["og:title"] == "Faster search"
        assert html.meta["og:description"] == "Results as you type, with typo tolerance."
        assert html.meta["og:image"] == "https://images.test/search.png"
        assert html.meta["twitter:card"] == "summary_large_image"
        assert html.meta["twitter:title"] == "Faster search"
        assert html.meta["article:published_time"].startswith(utc_now().date().isoformat())
        assert any(link["href"] == f"/changelog/{tenant.slug}" for link in html.links)

    async def test_the_list_links_each_item_to_its_permalink(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        await publish(client, tenant, title="Hello world")
        html = read_page((await page(client, tenant)).text)
        assert {"href": f"/changelog/{tenant.slug}/hello-world"} in html.links

    async def test_unknown_draft_and_private_handles_are_404s(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        draft = await publish(client, tenant, title="Draft", status="draft")
        private = await publish(client, tenant, title="Private", public=False)
        for handle in ("nope", draft["id"], private["id"], private["slug"]):
            response = await client.get(f"/changelog/{tenant.slug}/{handle}")
            assert response.status_code == 404, handle


class TestSlugs:
    async def test_given_at_first_publication_unique_and_kept_when_the_title_changes(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        first = await publish(client, tenant, title="Dark mode!")
        second = await publish(client, tenant, title="Dark Mode")
        draft = await publish(client, tenant, title="Dark mode", status="draft")
        assert (first["slug"], second["slug"], draft["slug"]) == ("dark-mode", "dark-mode-2", None)
        response = await client.patch(
            f"/v1/announcements/{draft['id']}", json={"status": "published"}, headers=tenant.auth
        )
        assert response.json()["slug"] == "dark-mode-3"
        response = await client.patch(
            f"/v1/announcements/{first['id']}", json={"title": "Night mode"}, headers=tenant.auth
        )
        assert response.json()["slug"] == "dark-mode"

    async def test_an_authors_slug_is_kept_and_a_title_without_letters_keeps_the_id(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        chosen = await publish(client, tenant, title="Dark mode", slug="night-theme")
        assert chosen["slug"] == "night-theme"
        emoji = await publish(client, tenant, title="🎉🎉")
        assert emoji["slug"] is None
        response = await client.get(f"/changelog/{tenant.slug}/{emoji['id']}")
        assert response.status_code == 200


@pytest.mark.parametrize("header", ["If-None-Match", "If-Modified-Since"])
class TestConditionalRequests:
    async def test_304_until_something_changes(
        self, client: httpx.AsyncClient, tenant: Tenant, header: str
    ) -> None:
        await publish(client, tenant, title="First")
        response = await page(client, tenant)
        etag, last_modified = response.headers["etag"], response.headers["last-modified"]
        assert etag.startswith('"') and not etag.startswith("W/")
        validator = etag if header == "If-None-Match" else last_modified
        again = await page(client, tenant, **{header: validator})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag

        await asyncio.sleep(1.05)  # Last-Modified has one-second resolution
        await publish(client, tenant, title="Second")
        changed = await page(client, tenant, **{header: validator})
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag
        assert read_page(changed.text).titles == ["Second", "First"]


class TestHead:
    async def test_head_answers_like_get(self, client: httpx.AsyncClient, tenant: Tenant) -> None:
        await publish(client, tenant, title="Hello")
        for path in ("", "/hello", "/feed.rss"):
            got = await client.get(f"/changelog/{tenant.slug}{path}")
            head = await client.head(f"/changelog/{tenant.slug}{path}")
            assert head.status_code == 200, path
            assert head.headers["etag"] == got.headers["etag"]
