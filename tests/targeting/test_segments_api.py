"""Saved segments over the admin API, and announcements that target them."""

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.audit import CLI_ACTOR
from app.models import Segment
from app.targeting.schemas import SegmentCreate
from app.targeting.service import segment_service
from tests.fixtures.factories import create_announcement
from tests.fixtures.tenants import Tenant
from tests.workspaces.test_auth import assert_problem, field_names

_counter = 0


async def create_segment(session: AsyncSession, workspace_id: str, **overrides: Any) -> Segment:
    global _counter
    _counter += 1
    fields: dict[str, Any] = {"name": f"Segment {_counter}", "condition": {"plan": "pro"}}
    fields.update(overrides)
    segment = await segment_service.create(
        session, workspace_id, SegmentCreate(**fields), actor=CLI_ACTOR
    )
    await session.commit()
    return segment


async def walk_pages(client: httpx.AsyncClient, tenant: Tenant, limit: int) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/segments", params=params, headers=tenant.auth)).json()
        assert len(page["data"]) <= limit
        seen += [item["id"] for item in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


class TestCreate:
    async def test_round_trip(self, client: httpx.AsyncClient, tenant: Tenant) -> None:
        payload = {
            "name": "Pro users in Germany",
            "description": "Paying customers we can reach in German.",
            "condition": {"plan": {"$in": ["pro", "team"]}, "country": "DE"},
        }
        response = await client.post("/v1/segments", json=payload, headers=tenant.auth)
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["id"].startswith("seg_")
        assert response.headers["etag"] == '"1"'
        assert response.headers["location"] == f"/v1/segments/{created['id']}"
        assert {key: created[key] for key in payload} == payload
        assert created["version"] == 1

        fetched = await client.get(f"/v1/segments/{created['id']}", headers=tenant.auth)
        assert fetched.json() == created
        assert fetched.headers["etag"] == '"1"'

    async def test_description_defaults_to_empty_and_empty_condition_is_everyone(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        response = await client.post(
            "/v1/segments", json={"name": "Everyone", "condition": {}}, headers=tenant.auth
        )
        assert response.status_code == 201, response.text
        assert response.json()["description"] == ""
        assert response.json()["condition"] == {}

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({"condition": {}}, "name"),
            ({"name": "ok"}, "condition"),
            ({"name": "", "condition": {}}, "name"),
            ({"name": "x" * 101, "condition": {}}, "name"),
            ({"name": "ok", "description": "x" * 501, "condition": {}}, "description"),
            ({"name": "ok", "condition": ["plan"]}, "condition"),
            ({"name": "ok", "condition": {}, "id": "seg_mine"}, "id"),
            ({"name": "ok", "condition": {}, "version": 3}, "version"),
            ({"name": "ok", "condition": {}, "workspace_id": "ws_x"}, "workspace_id"),
            ({"name": "ok", "condition": {"plan": {"$foo": 1}}}, "condition.plan.$foo"),
            (
                {"name": "ok", "condition": {"$and": [{"a": 1}, {"plan": {"$foo": 1}}]}},
                "condition.$and[1].plan.$foo",
            ),
            ({"name": "ok", "condition": {"email": {"$regex": "(a"}}}, "condition.email.$regex"),
            ({"name": "ok", "condition": {"tags": {"$in": "pro"}}}, "condition.tags.$in"),
        ],
    )
    async def test_bad_input_is_422_naming_the_field(
        self, client: httpx.AsyncClient, tenant: Tenant, payload: dict[str, object], field: str
    ) -> None:
        response = await client.post("/v1/segments", json=payload, headers=tenant.auth)
        body = assert_problem(response, 422)
        assert field in field_names(body), body
        listed = await client.get("/v1/segments", headers=tenant.auth)
        assert listed.json()["data"] == []

    async def test_names_are_unique_per_workspace(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        tenant: Tenant,
        other_tenant: Tenant,
    ) -> None:
        await create_segment(session, tenant.workspace_id, name="Beta testers")
        again = await client.post(
            "/v1/segments", json={"name": "Beta testers", "condition": {}}, headers=tenant.auth
        )
        assert "Beta testers" in str(assert_problem(again, 409)["detail"])
        elsewhere = await client.post(
            "/v1/segments",
            json={"name": "Beta testers", "condition": {}},
            headers=other_tenant.auth,
        )
        assert elsewhere.status_code == 201


class TestList:
    async def test_cursor_pagination_walks_everything_newest_first(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        ids = [(await create_segment(session, tenant.workspace_id)).id for _ in range(5)]
        assert await walk_pages(client, tenant, 2) == list(reversed(ids))
        assert await walk_pages(client, tenant, 100) == list(reversed(ids))

    @pytest.mark.parametrize(
        ("params", "field"),
        [({"limit": 101}, "limit"), ({"limit": 0}, "limit"), ({"cursor": "garbage!"}, "cursor")],
    )
    async def test_bad_parameters_are_422(
        self, client: httpx.AsyncClient, tenant: Tenant, params: dict[str, str | int], field: str
    ) -> None:
        response = await client.get("/v1/segments", params=params, headers=tenant.auth)
        assert field in field_names(assert_problem(response, 422))

    async def test_only_own_workspace(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        await create_segment(session, other_tenant.workspace_id)
        mine = await create_segment(session, tenant.workspace_id)
        listed = (await client.get("/v1/segments", headers=tenant.auth)).json()
        assert [item["id"] for item in listed["data"]] == [mine.id]


class TestUpdate:
    async def test_partial_update_bumps_version(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        segment = await create_segment(
            session, tenant.workspace_id, name="Pro", description="Paying"
        )
        response = await client.patch(
            f"/v1/segments/{segment.id}",
            json={"condition": {"plan": {"$in": ["pro", "team"]}}},
            headers={**tenant.auth, "If-Match": '"1"'},
        )
        assert response.status_code == 200, response.text
        updated = response.json()
        assert updated["name"] == "Pro" and updated["description"] == "Paying"
        assert updated["condition"] == {"plan": {"$in": ["pro", "team"]}}
        assert updated["version"] == 2
        assert response.headers["etag"] == '"2"'

    async def test_stale_if_match_is_412_and_changes_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        segment = await create_segment(session, tenant.workspace_id, name="Original")
        path = f"/v1/segments/{segment.id}"
        first = await client.patch(
            path, json={"name": "First edit"}, headers={**tenant.auth, "If-Match": '"1"'}
        )
        assert first.status_code == 200
        for stale in ['"1"', 'W/"2"', "2", "garbage"]:
            response = await client.patch(
                path, json={"name": "Lost edit"}, headers={**tenant.auth, "If-Match": stale}
            )
            assert_problem(response, 412)
        current = (await client.get(path, headers=tenant.auth)).json()
        assert current["name"] == "First edit" and current["version"] == 2

    async def test_invalid_condition_is_422_and_changes_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        segment = await create_segment(session, tenant.workspace_id, condition={"plan": "pro"})
        path = f"/v1/segments/{segment.id}"
        response = await client.patch(
            path,
            json={"condition": {"$or": [{"plan": "pro"}, {"age": {"$gt": [1]}}]}},
            headers=tenant.auth,
        )
        assert field_names(assert_problem(response, 422)) == ["condition.$or[1].age.$gt"]
        current = (await client.get(path, headers=tenant.auth)).json()
        assert current["condition"] == {"plan": "pro"} and current["version"] == 1

    async def test_a_new_condition_reaches_the_widget_feed_at_once(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        segment = await create_segment(session, tenant.workspace_id, condition={"id": "visitor-1"})
        announcement = await create_announcement(
            session, tenant.workspace_id, status="published", audience={"segments": [segment.id]}
        )

        async def feed_of(visitor: str) -> list[str]:
            params = {"key": tenant.publishable_key, "anonymous_id": visitor}
            response = await client.get("/v1/widget/announcements", params=params)
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["announcements"]]

        assert await feed_of("visitor-1") == [announcement.id]
        assert await feed_of("visitor-2") == []
        await client.patch(
            f"/v1/segments/{segment.id}",
            json={"condition": {"id": "visitor-2"}},
            headers=tenant.auth,
        )
        assert await feed_of("visitor-1") == []
        assert await feed_of("visitor-2") == [announcement.id]

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({"name": None}, "name"),
            ({"condition": None}, "condition"),
            ({"name": ""}, "name"),
            ({"version": 5}, "version"),
            ({"id": "seg_x"}, "id"),
        ],
    )
    async def test_bad_patch_is_422(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        tenant: Tenant,
        payload: dict[str, object],
        field: str,
    ) -> None:
        segment = await create_segment(session, tenant.workspace_id)
        response = await client.patch(
            f"/v1/segments/{segment.id}", json=payload, headers=tenant.auth
        )
        assert field in field_names(assert_problem(response, 422))

    async def test_renaming_to_a_taken_name_is_409(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        await create_segment(session, tenant.workspace_id, name="Taken")
        segment = await create_segment(session, tenant.workspace_id, name="Free")
        response = await client.patch(
            f"/v1/segments/{segment.id}", json={"name": "Taken"}, headers=tenant.auth
        )
        assert_problem(response, 409)
        same = await client.patch(
            f"/v1/segments/{segment.id}", json={"name": "Free"}, headers=tenant.auth
        )
        assert same.status_code == 200


class TestDelete:
    async def test_deletes_an_unused_segment(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        segment = await create_segment(session, tenant.workspace_id)
        response = await client.delete(f"/v1/segments/{segment.id}", headers=tenant.auth)
        assert response.status_code == 204
        assert_problem(await client.get(f"/v1/segments/{segment.id}", headers=tenant.auth), 404)

    async def test_segment_in_use_is_409_naming_the_announcements(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        segment = await create_segment(session, tenant.workspace_id, name="Pro")
        launch = await create_announcement(
            session,
            tenant.workspace_id,
            title="Dark mode",
            status="published",
            audience={"segments": [segment.id]},
        )
        beta = await create_announcement(
            session, tenant.workspace_id, title="Beta API", audience={"segments": [segment.id]}
        )
        unrelated = await create_announcement(session, tenant.workspace_id, title="Unrelated")
        response = await client.delete(f"/v1/segments/{segment.id}", headers=tenant.auth)
        detail = str(assert_problem(response, 409)["detail"])
        for announcement in (launch, beta):
            assert announcement.id in detail and announcement.title in detail
        assert unrelated.id not in detail
        still = await client.get(f"/v1/segments/{segment.id}", headers=tenant.auth)
        assert still.status_code == 200

        # Once no announcement uses it any more, it can go.
        await client.patch(
            f"/v1/announcements/{launch.id}", json={"audience": {}}, headers=tenant.auth
        )
        await client.delete(f"/v1/announcements/{beta.id}", headers=tenant.auth)
        response = await client.delete(f"/v1/segments/{segment.id}", headers=tenant.auth)
        assert response.status_code == 204, response.text

    async def test_a_long_list_of_users_is_cut_short(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        segment = await create_segment(session, tenant.workspace_id)
        for _ in range(12):
            await create_announcement(
                session, tenant.workspace_id, audience={"segments": [segment.id]}
            )
        response = await client.delete(f"/v1/segments/{segment.id}", headers=tenant.auth)
        detail = str(assert_problem(response, 409)["detail"])
        assert "12 announcements" in detail and "and 2 more" in detail
        assert detail.count("ann_") == 10

    async def test_replacing_the_audience_frees_the_old_segment_and_holds_the_new(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        old = await create_segment(session, tenant.workspace_id)
        new = await create_segment(session, tenant.workspace_id)
        announcement = await create_announcement(
            session, tenant.workspace_id, audience={"segments": [old.id]}
        )
        response = await client.patch(
            f"/v1/announcements/{announcement.id}",
            json={"audience": {"segments": [new.id], "rollout": 50}},
            headers=tenant.auth,
        )
        assert response.json()["audience"]["segments"] == [new.id]
        assert (
            await client.delete(f"/v1/segments/{old.id}", headers=tenant.auth)
        ).status_code == 204
        assert_problem(await client.delete(f"/v1/segments/{new.id}", headers=tenant.auth), 409)

    async def test_editing_other_fields_keeps_the_segment_in_use(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        segment = await create_segment(session, tenant.workspace_id)
        announcement = await create_announcement(
            session, tenant.workspace_id, audience={"segments": [segment.id]}
        )
        await client.patch(
            f"/v1/announcements/{announcement.id}", json={"title": "Renamed"}, headers=tenant.auth
        )
        response = await client.delete(f"/v1/segments/{segment.id}", headers=tenant.auth)
        assert "Renamed" in str(assert_problem(response, 409)["detail"])


class TestAnnouncementAudience:
    async def test_segments_are_stored_once_in_order(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        first = await create_segment(session, tenant.workspace_id)
        second = await create_segment(session, tenant.workspace_id)
        response = await client.post(
            "/v1/announcements",
            json={"title": "ok", "audience": {"segments": [second.id, first.id, second.id]}},
            headers=tenant.auth,
        )
        assert response.status_code == 201, response.text
        assert response.json()["audience"]["segments"] == [second.id, first.id]

    async def test_unknown_segment_is_422_naming_its_position(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        known = await create_segment(session, tenant.workspace_id)
        response = await client.post(
            "/v1/announcements",
            json={"title": "ok", "audience": {"segments": [known.id, "seg_nope"]}},
            headers=tenant.auth,
        )
        assert field_names(assert_problem(response, 422)) == ["audience.segments[1]"]
        assert (await client.get("/v1/announcements", headers=tenant.auth)).json()["data"] == []

    async def test_another_workspaces_segment_is_unknown(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        tenant: Tenant,
        other_tenant: Tenant,
    ) -> None:
        theirs = await create_segment(session, other_tenant.workspace_id)
        announcement = await create_announcement(session, tenant.workspace_id)
        response = await client.patch(
            f"/v1/announcements/{announcement.id}",
            json={"audience": {"segments": [theirs.id]}},
            headers=tenant.auth,
        )
        assert field_names(assert_problem(response, 422)) == ["audience.segments[0]"]
        current = (
            await client.get(f"/v1/announcements/{announcement.id}", headers=tenant.auth)
        ).json()
        assert current["audience"]["segments"] == [] and current["version"] == 1


class TestTenancy:
    async def test_another_workspaces_segment_is_404_and_unchanged(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        tenant: Tenant,
        other_tenant: Tenant,
    ) -> None:
        theirs = await create_segment(session, other_tenant.workspace_id, name="Theirs")
        path = f"/v1/segments/{theirs.id}"
        assert_problem(await client.get(path, headers=tenant.auth), 404)
        assert_problem(await client.patch(path, json={"name": "Mine"}, headers=tenant.auth), 404)
        assert_problem(await client.delete(path, headers=tenant.auth), 404)
        still = (await client.get(path, headers=other_tenant.auth)).json()
        assert still["name"] == "Theirs" and still["version"] == 1

    async def test_needs_a_secret_key(self, client: httpx.AsyncClient, tenant: Tenant) -> None:
        assert_problem(await client.get("/v1/segments"), 401)
        response = await client.get(
            "/v1/segments", headers={"Authorization": f"Bearer {tenant.publishable_key}"}
        )
        assert_problem(response, 403)
