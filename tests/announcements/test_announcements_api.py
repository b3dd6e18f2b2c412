"""Authoring announcements over the admin API."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.fixtures.factories import create_announcement
from tests.fixtures.tenants import Tenant
from tests.workspaces.test_auth import assert_problem, field_names


def iso(moment: datetime) -> str:
    return moment.isoformat()


NOW = datetime.now(UTC)


async def walk_pages(
    client: httpx.AsyncClient, tenant: Tenant, params: dict[str, str | int]
) -> list[str]:
    """Follow next_cursor to the end; the ids in the order the pages gave them."""
    seen: list[str] = []
    cursor: str | None = None
    while True:
        query = {**params, "cursor": cursor} if cursor else params
        page = (await client.get("/v1/announcements", params=query, headers=tenant.auth)).json()
        seen += [item["id"] for item in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


class TestCreate:
    async def test_full_announcement_round_trip(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        payload = {
            "title": "Dark mode is here",
            "body": "Switch it on in **Settings**. [Read more](https://example.com/dark)",
            "category": "new",
            "image_url": "https://cdn.example.com/dark.png",
            "cta": {"label": "Try it", "url": "https://app.example.com/settings"},
            "display": "popover",
            "pinned": True,
            "priority": 5,
            "status": "published",
            "publish_at": iso(NOW - timedelta(hours=1)),
            "expire_at": iso(NOW + timedelta(days=7)),
            "audience": {"condition": {"plan": {"$in": ["pro", "team"]}}, "rollout": 50},
            "frequency": "once",
            "public": True,
            "public_despite_audience": True,  # targeted and public: the author confirms
            "translations": {"de": {"title": "Dunkelmodus", "body": "In den *Einstellungen*."}},
        }
        response = await client.post("/v1/announcements", json=payload, headers=tenant.auth)
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["id"].startswith("ann_")
        assert response.headers["etag"] == '"1"'
        assert response.headers["location"] == f"/v1/announcements/{created['id']}"
        assert created["state"] == "live"
        assert created["version"] == 1
        assert created["published_at"] is not None
        assert "<strong>Settings</strong>" in created["body_html"]
        assert 'rel="noopener noreferrer"' in created["body_html"]
        german = created["translations"]["de"]
        assert german["body_html"] == "<p>In den <em>Einstellungen</em>.</p>\n"
        assert created["audience"]["condition"] == {"plan": {"$in": ["pro", "team"]}}
        assert created["audience"]["rollout"] == 50
        assert created["cta"] == payload["cta"]

        fetched = await client.get(f"/v1/announcements/{created['id']}", headers=tenant.auth)
        assert fetched.json() == created
        assert fetched.headers["etag"] == '"1"'

    async def test_defaults(self, client: httpx.AsyncClient, tenant: Tenant) -> None:
        response = await client.post(
            "/v1/announcements", json={"title": "Minimal"}, headers=tenant.auth
        )
        created = response.json()
        assert created["status"] == "draft" and created["state"] == "draft"
        assert created["display"] == "feed"
        assert created["frequency"] == "until_dismissed"
        assert created["category"] == "announcement"
        assert created["audience"] == {
            "condition": None,
            "segments": [],
            "rollout": None,
            "pages": [],
        }
        assert created["body_html"] == ""

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({"title": ""}, "title"),
            ({"title": "x" * 201}, "title"),
            ({"title": "ok", "body": "x" * 20_001}, "body"),
            ({"title": "ok", "image_url": "http://cdn.example.com/a.png"}, "image_url"),
            ({"title": "ok", "image_url": "data:image/png;base64,AAAA"}, "image_url"),
            ({"title": "ok", "cta": {"label": "Go", "url": "javascript:alert(1)"}}, "cta.url"),
            ({"title": "ok", "cta": {"label": "Go", "url": "ftp://example.com"}}, "cta.url"),
            ({"title": "ok", "display": "toast"}, "display"),
            ({"title": "ok", "status": "live"}, "status"),
            ({"title": "ok", "frequency": "sometimes"}, "frequency"),
            ({"title": "ok", "publish_at": "2026-01-01T00:00:00"}, "publish_at"),
            (
                {"title": "ok", "translations": {"not a locale!": {"title": "x"}}},
                "translations.not a locale!",
            ),
            ({"title": "ok", "translations": {"de": {"title": ""}}}, "translations.de.title"),
            ({"title": "ok", "id": "ann_mine"}, "id"),
            ({"title": "ok", "workspace_id": "ws_other"}, "workspace_id"),
            ({"title": "ok", "version": 7}, "version"),
            ({"title": "ok", "body_html": "<script>"}, "body_html"),
            ({"title": "ok", "impressions": 100}, "impressions"),
            ({"title": "ok", "audience": {"rollout": 101}}, "audience.rollout"),
            ({"title": "ok", "audience": {"pages": ["settings"]}}, "audience.pages[0]"),
            ({"title": "ok", "audience": {"who": "everyone"}}, "audience.who"),
        ],
    )
    async def test_bad_input_is_422_naming_the_field(
        self, client: httpx.AsyncClient, tenant: Tenant, payload: dict[str, object], field: str
    ) -> None:
        response = await client.post("/v1/announcements", json=payload, headers=tenant.auth)
        body = assert_problem(response, 422)
        assert field in field_names(body), body
        listed = await client.get("/v1/announcements", headers=tenant.auth)
        assert listed.json()["data"] == []

    async def test_expire_before_publish_is_422(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        response = await client.post(
            "/v1/announcements",
            json={
                "title": "ok",
                "publish_at": iso(NOW + timedelta(days=2)),
                "expire_at": iso(NOW + timedelta(days=1)),
            },
            headers=tenant.auth,
        )
        assert field_names(assert_problem(response, 422)) == ["expire_at"]

    async def test_invalid_condition_points_at_the_node(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        response = await client.post(
            "/v1/announcements",
            json={
                "title": "ok",
                "audience": {"condition": {"$and": [{"a": 1}, {"plan": {"$foo": 1}}]}},
            },
            headers=tenant.auth,
        )
        body = assert_problem(response, 422)
        assert field_names(body) == ["audience.condition.$and[1].plan.$foo"]

    async def test_translation_locales_are_normalised(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        response = await client.post(
            "/v1/announcements",
            json={"title": "ok", "translations": {"pt-br": {"title": "Olá"}}},
            headers=tenant.auth,
        )
        assert list(response.json()["translations"]) == ["pt-BR"]


class TestState:
    @pytest.mark.parametrize(
        ("fields", "state"),
        [
            ({"status": "draft"}, "draft"),
            ({"status": "archived"}, "archived"),
            ({"status": "published"}, "live"),
            ({"status": "published", "publish_at": iso(NOW + timedelta(hours=1))}, "scheduled"),
            (
                {
                    "status": "published",
                    "publish_at": iso(NOW - timedelta(days=2)),
                    "expire_at": iso(NOW - timedelta(days=1)),
                },
                "expired",
            ),
        ],
    )
    async def test_state_is_derived_and_filterable(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        tenant: Tenant,
        fields: dict[str, object],
        state: str,
    ) -> None:
        wanted = await create_announcement(session, tenant.workspace_id, **fields)
        await create_announcement(
            session, tenant.workspace_id, status="draft" if state != "draft" else "archived"
        )
        response = await client.get(f"/v1/announcements/{wanted.id}", headers=tenant.auth)
        assert response.json()["state"] == state
        listed = await client.get("/v1/announcements", params={"state": state}, headers=tenant.auth)
        assert [item["id"] for item in listed.json()["data"]] == [wanted.id]


class TestList:
    async def test_cursor_pagination_walks_everything_newest_first(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        ids = [(await create_announcement(session, tenant.workspace_id)).id for _ in range(7)]
        seen = await walk_pages(client, tenant, {"limit": 3})
        assert seen == list(reversed(ids))

    async def test_pinned_first(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        a = await create_announcement(session, tenant.workspace_id, pinned=True)
        b = await create_announcement(session, tenant.workspace_id)
        c = await create_announcement(session, tenant.workspace_id, pinned=True)
        d = await create_announcement(session, tenant.workspace_id)
        seen = await walk_pages(client, tenant, {"limit": 1, "pinned_first": "true"})
        assert seen == [c.id, a.id, d.id, b.id]

    async def test_filters_by_category_and_title_text(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        fix = await create_announcement(
            session, tenant.workspace_id, title="Fixed 100% of crashes", category="fix"
        )
        await create_announcement(
            session, tenant.workspace_id, title="Fixed nothing", category="new"
        )
        await create_announcement(
            session, tenant.workspace_id, title="Faster search", category="fix"
        )
        by_category = await client.get(
            "/v1/announcements", params={"category": "fix", "q": "fixed"}, headers=tenant.auth
        )
        assert [item["id"] for item in by_category.json()["data"]] == [fix.id]
        # LIKE wildcards in the text are literal characters.
        by_percent = await client.get(
            "/v1/announcements", params={"q": "100%"}, headers=tenant.auth
        )
        assert [item["id"] for item in by_percent.json()["data"]] == [fix.id]
        by_underscore = await client.get(
            "/v1/announcements", params={"q": "_"}, headers=tenant.auth
        )
        assert by_underscore.json()["data"] == []

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"limit": 101}, "limit"),
            ({"limit": 0}, "limit"),
            ({"cursor": "garbage!"}, "cursor"),
            ({"state": "live-ish"}, "state"),
        ],
    )
    async def test_bad_parameters_are_422(
        self, client: httpx.AsyncClient, tenant: Tenant, params: dict[str, str | int], field: str
    ) -> None:
        response = await client.get("/v1/announcements", params=params, headers=tenant.auth)
        assert field in field_names(assert_problem(response, 422))

    async def test_only_own_workspace(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        await create_announcement(session, other_tenant.workspace_id)
        mine = await create_announcement(session, tenant.workspace_id)
        listed = (await client.get("/v1/announcements", headers=tenant.auth)).json()
        assert [item["id"] for item in listed["data"]] == [mine.id]


class TestUpdate:
    async def test_partial_update_bumps_version_and_rerenders(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        announcement = await create_announcement(session, tenant.workspace_id, title="Old")
        response = await client.patch(
            f"/v1/announcements/{announcement.id}",
            json={"body": "New *body*", "status": "published"},
            headers={**tenant.auth, "If-Match": '"1"'},
        )
        assert response.status_code == 200, response.text
        updated = response.json()
        assert updated["title"] == "Old"
        assert updated["body_html"] == "<p>New <em>body</em></p>\n"
        assert updated["version"] == 2
        assert response.headers["etag"] == '"2"'
        assert updated["state"] == "live"
        assert updated["published_at"] is not None

    async def test_stale_if_match_is_412_and_changes_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        announcement = await create_announcement(session, tenant.workspace_id, title="Original")
        path = f"/v1/announcements/{announcement.id}"
        first = await client.patch(
            path, json={"title": "First edit"}, headers={**tenant.auth, "If-Match": '"1"'}
        )
        assert first.status_code == 200
        second = await client.patch(
            path, json={"title": "Lost edit"}, headers={**tenant.auth, "If-Match": '"1"'}
        )
        assert_problem(second, 412)
        weak = await client.patch(
            path, json={"title": "Weak"}, headers={**tenant.auth, "If-Match": 'W/"2"'}
        )
        assert_problem(weak, 412)
        current = (await client.get(path, headers=tenant.auth)).json()
        assert current["title"] == "First edit" and current["version"] == 2

    async def test_if_match_is_read_as_for_segments_lists_and_star_included(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        announcement = await create_announcement(session, tenant.workspace_id)
        path = f"/v1/announcements/{announcement.id}"
        listed = await client.patch(
            path, json={"title": "Listed"}, headers={**tenant.auth, "If-Match": '"9", "1"'}
        )
        assert listed.status_code == 200 and listed.headers["etag"] == '"2"'
        star = await client.patch(
            path, json={"title": "Star"}, headers={**tenant.auth, "If-Match": "*"}
        )
        assert star.status_code == 200 and star.headers["etag"] == '"3"'
        garbage = await client.patch(
            path, json={"title": "Garbage"}, headers={**tenant.auth, "If-Match": "three"}
        )
        assert_problem(garbage, 412)
        assert 'version "3"' in garbage.json()["detail"]

    async def test_clearing_and_null_rules(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        announcement = await create_announcement(
            session, tenant.workspace_id, cta={"label": "Go", "url": "https://example.com"}
        )
        path = f"/v1/announcements/{announcement.id}"
        cleared = await client.patch(path, json={"cta": None}, headers=tenant.auth)
        assert cleared.json()["cta"] is None
        refused = await client.patch(path, json={"title": None}, headers=tenant.auth)
        assert field_names(assert_problem(refused, 422)) == ["title"]

    async def test_window_is_checked_against_stored_values(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        announcement = await create_announcement(
            session, tenant.workspace_id, publish_at=NOW + timedelta(days=3)
        )
        response = await client.patch(
            f"/v1/announcements/{announcement.id}",
            json={"expire_at": iso(NOW + timedelta(days=1))},
            headers=tenant.auth,
        )
        assert field_names(assert_problem(response, 422)) == ["expire_at"]

    async def test_server_owned_fields_are_422(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        announcement = await create_announcement(session, tenant.workspace_id)
        for field, value in [
            ("id", "ann_x"),
            ("version", 9),
            ("body_html", "<b>"),
            ("state", "live"),
        ]:
            response = await client.patch(
                f"/v1/announcements/{announcement.id}", json={field: value}, headers=tenant.auth
            )
            assert field in field_names(assert_problem(response, 422))


class TestDelete:
    async def test_deletes_a_draft(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        draft = await create_announcement(session, tenant.workspace_id)
        response = await client.delete(f"/v1/announcements/{draft.id}", headers=tenant.auth)
        assert response.status_code == 204
        assert_problem(await client.get(f"/v1/announcements/{draft.id}", headers=tenant.auth), 404)

    @pytest.mark.parametrize("status", ["published", "archived"])
    async def test_refuses_published_or_archived_with_a_hint(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant, status: str
    ) -> None:
        announcement = await create_announcement(session, tenant.workspace_id, status=status)
        response = await client.delete(f"/v1/announcements/{announcement.id}", headers=tenant.auth)
        body = assert_problem(response, 409)
        assert "archive" in str(body["detail"]).lower()
        assert (
            await client.get(f"/v1/announcements/{announcement.id}", headers=tenant.auth)
        ).status_code == 200


class TestTenancy:
    async def test_another_workspaces_announcement_is_404_and_unchanged(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        theirs = await create_announcement(session, other_tenant.workspace_id, title="Theirs")
        path = f"/v1/announcements/{theirs.id}"
        assert_problem(await client.get(path, headers=tenant.auth), 404)
        assert_problem(
            await client.patch(path, json={"title": "Mine now"}, headers=tenant.auth), 404
        )
        assert_problem(await client.delete(path, headers=tenant.auth), 404)
        still = (await client.get(path, headers=other_tenant.auth)).json()
        assert still["title"] == "Theirs" and still["version"] == 1

    async def test_publishable_key_cannot_author(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        response = await client.post(
            "/v1/announcements",
            json={"title": "x"},
            headers={"Authorization": f"Bearer {tenant.publishable_key}"},
        )
        assert_problem(response, 403)
