"""Workspace settings in Chromium (owners only): origins, identity secrets, API keys shown
once and revocable, the embed snippet; every change through the API's service."""

from collections.abc import Callable

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests.console.conftest import Site, sign_in


class TestSettings:
    def test_an_owner_changes_origins_and_creates_then_revokes_a_key(
        self, page: Page, console_origin: str, site: Site, api: httpx.Client
    ) -> None:
        sign_in(page, console_origin, site.owner, path=f"/console/w/{site.slug}/settings")
        snippet = page.get_by_role("textbox", name="Embed snippet").input_value()
        assert f'src="{console_origin}/widget.js"' in snippet
        assert f'data-key="{site.workspace.publishable_key}"' in snippet

        page.get_by_label("Origins whose pages may use the widget").fill(
            "https://app.example.com\nhttps://staging.example.com/"
        )
        page.get_by_role("button", name="Save origins").click()
        expect(page.get_by_role("status")).to_have_text("Settings saved.")
        auth = {"Authorization": f"Bearer {site.workspace.secret_key}"}
        assert api.get("/v1/workspace", headers=auth).json()["allowed_origins"] == [
            "https://app.example.com",
            "https://staging.example.com",
        ]

        page.get_by_label("Name", exact=True).fill("CI")
        page.get_by_role("button", name="Create key").click()
        key = page.get_by_role("textbox", name="New key").input_value()
        assert key.startswith("sk_")
        assert api.get("/v1/workspace", headers={"Authorization": f"Bearer {key}"}).is_success
        page.goto(f"{console_origin}/console/w/{site.slug}/settings")
        expect(page.get_by_role("textbox", name="New key")).to_have_count(0)  # shown once

        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Revoke CI").click()
        expect(page.get_by_role("status")).to_contain_text("revoked")
        answer = api.get("/v1/workspace", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 401

        page.goto(f"{console_origin}/console/w/{site.slug}/audit")
        expect(page.get_by_text("key.revoked")).to_be_visible()
        expect(page.get_by_text("settings.updated")).to_be_visible()

    def test_the_workspace_time_zone_is_the_charts_default(
        self,
        new_context: Callable[..., BrowserContext],
        console_origin: str,
        site: Site,
        api: httpx.Client,
    ) -> None:
        item = site.workspace.announce("Counted in Kolkata")
        page = new_context(timezone_id="America/Sao_Paulo").new_page()
        sign_in(page, console_origin, site.owner, path=f"/console/w/{site.slug}/settings")
        auth = {"Authorization": f"Bearer {site.workspace.secret_key}"}
        try:
            page.get_by_label("Engagement is counted by day in").select_option("Asia/Kolkata")
            page.get_by_role("button", name="Save time zone").click()
            expect(page.get_by_role("status")).to_have_text("Settings saved.")
            assert api.get("/v1/workspace", headers=auth).json()["time_zone"] == "Asia/Kolkata"
            expect(page.get_by_label("Engagement is counted by day in")).to_have_value(
                "Asia/Kolkata"
            )
            # The chart opens in the workspace's zone, not the browser's.
            page.goto(
                f"{console_origin}/console/w/{site.slug}/announcements/{item['id']}/engagement"
            )
            expect(page.get_by_label("Time zone")).to_have_value("Asia/Kolkata")
            expect(page.locator("#range-summary")).to_contain_text("in Asia/Kolkata")
            # Back to each viewer's own.
            page.goto(f"{console_origin}/console/w/{site.slug}/settings")
            page.get_by_label("Engagement is counted by day in").select_option("")
            page.get_by_role("button", name="Save time zone").click()
            expect(page.get_by_role("status")).to_have_text("Settings saved.")
            assert api.get("/v1/workspace", headers=auth).json()["time_zone"] is None
        finally:
            api.patch("/v1/workspace", json={"time_zone": None}, headers=auth)

    def test_editors_cannot_open_settings(
        self, page: Page, console_origin: str, site: Site
    ) -> None:
        sign_in(page, console_origin, site.editor)
        expect(page.get_by_role("link", name="Settings")).to_have_count(0)
        answer = page.goto(f"{console_origin}/console/w/{site.slug}/settings")
        assert answer is not None and answer.status == 403
