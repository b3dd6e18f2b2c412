"""A workspace's own host name serves its changelog at /, feeds and permalinks included."""

import asyncio

import feedparser
import httpx
import pytest
from fastapi import FastAPI

from app.changelog.hosts import normalize_host
from app.config import Settings
from tests.changelog.helpers import patch_workspace, publish, read_page
from tests.fixtures.apps import client_for, running_app
from tests.fixtures.tenants import Tenant

HOST = "changelog.example.com"


async def on_host(client: httpx.AsyncClient, path: str, host: str = HOST) -> httpx.Response:
    return await client.get(path, headers={"Host": host})


class TestCustomHost:
    async def test_root_feeds_and_permalinks_answer_on_the_claimed_host(
        self, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        await publish(client, tenant, title="Hello from our host")
        await publish(client, other_tenant, title="Someone else")
        assert (await patch_workspace(client, tenant, changelog_host=HOST)).status_code == 200

        response = await on_host(client, "/", host="Changelog.Example.com:443")
        assert response.status_code == 200
        html = read_page(response.text)
        assert html.titles == ["Hello from our host"]
        assert html.link_tag("canonical")["href"] == f"https://{HOST}/"
        assert html.link_tag("alternate", "application/atom+xml")["href"] == "/feed.atom"
        assert {"href": "/hello-from-our-host"} in html.links

        entry = await on_host(client, "/hello-from-our-host")
        assert entry.status_code == 200
        assert read_page(entry.text).link_tag("canonical")["href"] == (
            f"https://{HOST}/hello-from-our-host"
        )
        feed = feedparser.parse((await on_host(client, "/feed.atom")).content)
        assert feed.entries[0].link == f"https://{HOST}/hello-from-our-host"
        # The page's stylesheet is under a longer path, routed as on any host.
        sheet = read_page(response.text).link_tag("stylesheet")["href"]
        assert (await on_host(client, sheet)).status_code == 200
        # The APIs keep answering on that host name too.
        api = await client.get("/v1/workspace", headers={"Host": HOST, **tenant.auth})
        assert api.status_code == 200

    async def test_the_usual_address_stays_and_points_to_the_host_as_canonical(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        await publish(client, tenant, title="Hello")
        await patch_workspace(client, tenant, changelog_host=HOST)
        response = await client.get(f"/changelog/{tenant.slug}")
        html = read_page(response.text)
        assert html.titles == ["Hello"]
        assert html.link_tag("canonical")["href"] == f"https://{HOST}/"
        assert {"href": f"/changelog/{tenant.slug}/hello"} in html.links

    async def test_other_hosts_are_untouched_and_a_released_host_stops_serving(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        await publish(client, tenant, title="Hello")
        await patch_workspace(client, tenant, changelog_host=HOST)
        assert (await on_host(client, "/", host="other.example.com")).status_code == 404
        assert (await on_host(client, "/healthz", host="other.example.com")).status_code == 200
        assert (await on_host(client, "/")).status_code == 200
        await patch_workspace(client, tenant, changelog_host=None)
        assert (await on_host(client, "/")).status_code == 404

    async def test_unknown_permalinks_on_the_host_are_404s(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        await patch_workspace(client, tenant, changelog_host=HOST)
        response = await on_host(client, "/no-such-update")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


class TestHostNames:
    @pytest.mark.parametrize(
        ("raw", "normal"),
        [
            ("News.Acme.io", "news.acme.io"),
            ("a.b.", "a.b"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ],
    )
    def test_normalized(self, raw: str, normal: str) -> None:
        assert normalize_host(raw) == normal

    @pytest.mark.parametrize(
        "bad",
        [
            "",
            "localhost",
            "a..b",
            "-a.example",
            "a_b.example",
            "bücher.example",
            "::1",
            "1.2.3.4",
            "a.example/x",
        ],
    )
    def test_refused(self, bad: str) -> None:
        with pytest.raises(ValueError):
            normalize_host(bad)


class TestAcrossReplicas:
    async def test_a_change_on_one_replica_shows_on_another_within_the_bound(
        self, app: FastAPI, settings: Settings, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        await publish(client, tenant, title="Before")
        recheck_s = 1.0
        async with (
            running_app(settings, widget_cache_recheck_s=recheck_s) as replica,
            client_for(replica) as other,
        ):
            url = f"/changelog/{tenant.slug}"
            first = await other.get(url)
            assert read_page(first.text).titles == ["Before"]
            await publish(client, tenant, title="After")
            # Within the bound the replica may serve its snapshot (it does: no query).
            assert read_page((await other.get(url)).text).titles == ["Before"]
            await asyncio.sleep(recheck_s * 1.1)
            assert read_page((await other.get(url)).text).titles == ["After", "Before"]
