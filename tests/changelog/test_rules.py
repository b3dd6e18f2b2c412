"""Write-time rules: public + audience needs a confirmation; the accent must be readable;
a changelog host is a host name claimed once."""

from typing import Any

import httpx
import pytest

from tests.changelog.helpers import patch_workspace, publish
from tests.fixtures.tenants import Tenant

AUDIENCES: list[dict[str, Any]] = [
    {"condition": {"plan": "pro"}},
    {"rollout": 50},
    {"rollout": 100},
]


class TestPublicDespiteAudience:
    @pytest.mark.parametrize("audience", AUDIENCES, ids=["condition", "rollout", "rollout-100"])
    async def test_public_with_an_audience_is_refused_without_the_confirmation(
        self, client: httpx.AsyncClient, tenant: Tenant, audience: dict[str, Any]
    ) -> None:
        body = {"title": "Pro only", "public": True, "audience": audience}
        response = await client.post("/v1/announcements", json=body, headers=tenant.auth)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["errors"][0]["field"] == "public"
        assert problem["errors"][0]["type"] == "public_with_audience"
        assert "public_despite_audience" in problem["detail"]
        listed = await client.get("/v1/announcements", headers=tenant.auth)
        assert listed.json()["data"] == []

    async def test_with_the_confirmation_it_is_public_and_on_the_page(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        created = await publish(
            client,
            tenant,
            title="Pro only",
            audience={"condition": {"plan": "pro"}},
            public_despite_audience=True,
        )
        assert created["public"] is True and created["public_despite_audience"] is True
        response = await client.get(f"/changelog/{tenant.slug}")
        assert "Pro only" in response.text

    async def test_segments_count_as_an_audience(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        segment = await client.post(
            "/v1/segments",
            json={"name": "Pros", "condition": {"plan": "pro"}},
            headers=tenant.auth,
        )
        assert segment.status_code == 201, segment.text
        body = {"title": "x", "public": True, "audience": {"segments": [segment.json()["id"]]}}
        response = await client.post("/v1/announcements", json=body, headers=tenant.auth)
        assert response.status_code == 422

    async def test_pages_alone_do_not_narrow_who_sees_it(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        created = await publish(client, tenant, title="On settings", audience={"pages": ["/s/*"]})
        assert created["public"] is True

    async def test_patches_are_checked_against_the_whole_announcement(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        targeted = await publish(
            client, tenant, title="Targeted", public=False, audience={"condition": {"a": 1}}
        )
        url = f"/v1/announcements/{targeted['id']}"
        response = await client.patch(url, json={"public": True}, headers=tenant.auth)
        assert response.status_code == 422
        public = await publish(client, tenant, title="Public")
        response = await client.patch(
            f"/v1/announcements/{public['id']}",
            json={"audience": {"condition": {"a": 1}}},
            headers=tenant.auth,
        )
        assert response.status_code == 422
        response = await client.patch(
            url, json={"public": True, "public_despite_audience": True}, headers=tenant.auth
        )
        assert response.status_code == 200
        assert response.json()["public"] is True
        # Withdrawing the confirmation while it is still public and targeted is refused too.
        response = await client.patch(
            url, json={"public_despite_audience": False}, headers=tenant.auth
        )
        assert response.status_code == 422


class TestTheme:
    async def test_settings_are_stored_and_shown_on_the_page(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        response = await patch_workspace(
            client,
            tenant,
            changelog_name="Acme",
            changelog_logo_url="https://images.test/logo.png",
            changelog_accent="#0B5FFF",
            changelog_product_url="https://app.acme.test/",
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["changelog_accent"] == "#0b5fff"
        assert body["changelog_name"] == "Acme"
        page = await client.get(f"/changelog/{tenant.slug}")
        assert "<title>Acme Changelog</title>" in page.text
        assert '<img src="https://images.test/logo.png"' in page.text
        assert '<a class="back" href="https://app.acme.test/">Back to Acme</a>' in page.text
        assert "--accent:#0b5fff" in page.text
        response = await patch_workspace(client, tenant, changelog_accent=None)
        assert response.json()["changelog_accent"] is None

    # Ratios against the page's light gray (#f6f7f9), where text reads worst: #767676 passes
    # on white (4.54:1) and not there.
    @pytest.mark.parametrize(
        ("accent", "ratio"),
        [("#ffcc00", "1.41"), ("#8a8a8a", "3.22"), ("#7a7a7a", "4.00"), ("#767676", "4.23")],
    )
    async def test_an_accent_below_wcag_aa_is_refused_with_its_ratio(
        self, client: httpx.AsyncClient, tenant: Tenant, accent: str, ratio: str
    ) -> None:
        response = await patch_workspace(client, tenant, changelog_accent=accent)
        assert response.status_code == 422
        problem = response.json()
        assert problem["errors"][0]["field"] == "changelog_accent"
        assert problem["errors"][0]["type"] == "contrast_too_low"
        assert f"{ratio}:1" in problem["detail"]
        assert "4.5:1" in problem["detail"]
        after = await client.get("/v1/workspace", headers=tenant.auth)
        assert after.json()["changelog_accent"] is None

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("changelog_accent", "blue"),
            ("changelog_accent", "#12345"),
            ("changelog_logo_url", "http://images.test/logo.png"),
            ("changelog_logo_url", "javascript:alert(1)"),
            ("changelog_product_url", "javascript:alert(1)"),
            ("changelog_name", ""),
            ("changelog_host", "https://changelog.example.com"),
            ("changelog_host", "changelog.example.com:8443"),
            ("changelog_host", "localhost"),
            ("changelog_host", "10.0.0.1"),
            ("changelog_host", "bad_name.example.com"),
        ],
    )
    async def test_bad_settings_are_422s_naming_the_field(
        self, client: httpx.AsyncClient, tenant: Tenant, field: str, value: str
    ) -> None:
        response = await patch_workspace(client, tenant, **{field: value})
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == field


class TestHostClaims:
    async def test_a_host_is_normalized_and_claimed_by_one_workspace_only(
        self, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        response = await patch_workspace(client, tenant, changelog_host="Changelog.Example.COM.")
        assert response.status_code == 200
        assert response.json()["changelog_host"] == "changelog.example.com"
        taken = await patch_workspace(client, other_tenant, changelog_host="changelog.example.com")
        assert taken.status_code == 409
        assert "changelog.example.com" in taken.json()["detail"]
        released = await patch_workspace(client, tenant, changelog_host=None)
        assert released.json()["changelog_host"] is None
        claimed = await patch_workspace(
            client, other_tenant, changelog_host="changelog.example.com"
        )
        assert claimed.status_code == 200
