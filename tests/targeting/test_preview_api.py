"""`POST /v1/audience/preview`: whether a user would see something, and why."""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.targeting.rollout import hash_v2
from tests.fixtures.factories import create_announcement
from tests.fixtures.tenants import Tenant
from tests.targeting.test_segments_api import create_segment
from tests.workspaces.test_auth import assert_problem, field_names


async def preview(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any]
) -> tuple[bool, list[str]]:
    response = await client.post("/v1/audience/preview", json=body, headers=tenant.auth)
    assert response.status_code == 200, response.text
    result = response.json()
    assert set(result) == {"match", "reasons"}
    return result["match"], result["reasons"]


def line_about(reasons: list[str], text: str) -> str:
    """The one reason line that mentions ``text``."""
    found = [line for line in reasons if text in line]
    assert len(found) == 1, (text, reasons)
    return found[0]


class TestCondition:
    async def test_each_sub_condition_shows_pass_or_fail(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        condition = {
            "plan": {"$in": ["pro", "team"]},
            "$or": [{"country": "DE"}, {"beta": True}],
        }
        attributes: dict[str, Any] = {"plan": "pro", "country": "FR"}
        user = {"id": "42", "attributes": attributes}
        match, reasons = await preview(client, tenant, {"condition": condition, "user": user})
        assert match is False
        assert reasons[0] == "condition → fail"
        assert line_about(reasons, "plan:").endswith("→ pass")
        assert '"pro"' in line_about(reasons, "plan:")
        assert line_about(reasons, "$or").endswith("→ fail")
        assert line_about(reasons, "country:").endswith("→ fail")
        assert '"FR"' in line_about(reasons, "country:")
        assert line_about(reasons, "beta:").endswith("→ fail")

        attributes["beta"] = True
        match, reasons = await preview(client, tenant, {"condition": condition, "user": user})
        assert match is True
        assert reasons[0] == "condition → pass"
        assert line_about(reasons, "beta:").endswith("→ pass")

    async def test_empty_condition_is_everyone(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        match, reasons = await preview(client, tenant, {"condition": {}, "user": {}})
        assert match is True
        assert reasons == ["condition: none (everyone)"]

    @pytest.mark.parametrize(
        ("user", "condition", "expected"),
        [
            ({"id": "42"}, {"id": "42", "anonymous": False}, True),
            ({}, {"anonymous": True, "id": {"$exists": False}}, True),
            ({"id": "anon-7", "anonymous": True}, {"id": "anon-7", "anonymous": True}, True),
            ({"locale": "pt_br"}, {"locale": "pt-BR"}, True),
            ({"device": "mobile"}, {"device": "mobile"}, True),
            ({"device": "mobile"}, {"device": "desktop"}, False),
            # The built-ins always win over the user's own attributes of the same name.
            ({"device": "mobile", "attributes": {"device": "tv"}}, {"device": "tv"}, False),
            ({"id": "42", "attributes": {"id": "crm-42"}}, {"id": "crm-42"}, False),
            ({"attributes": {"id": "vip-1", "anonymous": False}}, {"id": "vip-1"}, False),
            ({"attributes": {"anonymous": False}}, {"anonymous": False}, False),
        ],
    )
    async def test_built_in_attributes_over_the_users_own(
        self,
        client: httpx.AsyncClient,
        tenant: Tenant,
        user: dict[str, Any],
        condition: dict[str, Any],
        expected: bool,
    ) -> None:
        match, _ = await preview(client, tenant, {"condition": condition, "user": user})
        assert match is expected

    async def test_invalid_condition_is_422_pointing_at_the_node(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        response = await client.post(
            "/v1/audience/preview",
            json={"condition": {"$and": [{"a": 1}, {"plan": {"$foo": 1}}]}, "user": {}},
            headers=tenant.auth,
        )
        assert field_names(assert_problem(response, 422)) == ["condition.$and[1].plan.$foo"]


class TestSegment:
    async def test_segment_line_names_it_and_traces_its_condition(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        segment = await create_segment(
            session, tenant.workspace_id, name="Adults", condition={"age": {"$gte": 18}}
        )
        match, reasons = await preview(
            client, tenant, {"segment_id": segment.id, "user": {"attributes": {"age": 17}}}
        )
        assert match is False
        assert reasons[0] == f"segment {segment.id} (Adults) → fail"
        assert line_about(reasons, "age:").endswith("→ fail")
        assert "17" in line_about(reasons, "age:")

        match, reasons = await preview(
            client, tenant, {"segment_id": segment.id, "user": {"attributes": {"age": 30}}}
        )
        assert match is True
        assert reasons[0] == f"segment {segment.id} (Adults) → pass"


class TestAnnouncement:
    async def test_live_announcement_traces_state_condition_segments_and_rollout(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        pro = await create_segment(
            session, tenant.workspace_id, name="Pro", condition={"plan": "pro"}
        )
        announcement = await create_announcement(
            session,
            tenant.workspace_id,
            status="published",
            audience={"condition": {"country": "DE"}, "segments": [pro.id], "rollout": 100},
        )
        user = {"id": "42", "attributes": {"plan": "pro", "country": "DE"}}
        match, reasons = await preview(
            client, tenant, {"announcement_id": announcement.id, "user": user}
        )
        assert match is True
        assert reasons[0] == "status: published"
        assert line_about(reasons, "state:").startswith("state: live")
        assert "condition → pass" in reasons
        assert f"segment {pro.id} (Pro) → pass" in reasons
        assert line_about(reasons, "rollout").endswith("→ in")

    async def test_rollout_line_shows_the_users_bucket(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        announcement = await create_announcement(
            session, tenant.workspace_id, status="published", audience={"rollout": 30}
        )
        for user_id in ("1", "2", "3", "4", "5", "6"):
            bucket = hash_v2(announcement.id, user_id) * 100
            match, reasons = await preview(
                client, tenant, {"announcement_id": announcement.id, "user": {"id": user_id}}
            )
            rollout = line_about(reasons, "rollout")
            assert f"rollout 30%: bucket {bucket:.2f}" in rollout
            assert match is (bucket < 30)
            assert rollout.endswith("→ in" if bucket < 30 else "→ out")

    async def test_without_a_user_id_a_partial_rollout_excludes(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        announcement = await create_announcement(
            session, tenant.workspace_id, status="published", audience={"rollout": 99}
        )
        match, reasons = await preview(
            client, tenant, {"announcement_id": announcement.id, "user": {}}
        )
        assert match is False
        assert "no user key" in line_about(reasons, "rollout")

    async def test_scheduled_announcement_matches_but_is_not_shown_yet(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        opens = datetime(2099, 12, 1, 9, 0, tzinfo=UTC)
        announcement = await create_announcement(
            session, tenant.workspace_id, status="published", publish_at=opens
        )
        match, reasons = await preview(
            client, tenant, {"announcement_id": announcement.id, "user": {"id": "42"}}
        )
        assert match is False
        assert "state: scheduled — opens 2099-12-01T09:00:00Z" in reasons
        assert "condition: none (everyone)" in reasons
        assert "scheduled" in reasons[-1]

    @pytest.mark.parametrize(
        ("fields", "state_line"),
        [
            ({"status": "draft"}, "state: draft"),
            ({"status": "archived"}, "state: archived"),
            (
                {
                    "status": "published",
                    "publish_at": datetime(2020, 1, 1, tzinfo=UTC),
                    "expire_at": datetime(2020, 2, 1, tzinfo=UTC),
                },
                "state: expired — closed 2020-02-01T00:00:00Z",
            ),
            (
                {
                    "status": "published",
                    "publish_at": datetime(2020, 1, 1, tzinfo=UTC),
                    "expire_at": datetime(2099, 2, 1, 12, 30, tzinfo=UTC),
                },
                "state: live — open since 2020-01-01T00:00:00Z, closes 2099-02-01T12:30:00Z",
            ),
        ],
    )
    async def test_status_and_window(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        tenant: Tenant,
        fields: dict[str, Any],
        state_line: str,
    ) -> None:
        announcement = await create_announcement(session, tenant.workspace_id, **fields)
        match, reasons = await preview(
            client, tenant, {"announcement_id": announcement.id, "user": {"id": "42"}}
        )
        assert reasons[0] == f"status: {fields['status']}"
        assert reasons[1].startswith(state_line), reasons
        assert match is state_line.startswith("state: live")

    async def test_a_changed_segment_condition_applies_at_once(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        segment = await create_segment(session, tenant.workspace_id, condition={"plan": "pro"})
        announcement = await create_announcement(
            session, tenant.workspace_id, status="published", audience={"segments": [segment.id]}
        )
        body = {"announcement_id": announcement.id, "user": {"attributes": {"plan": "free"}}}
        assert (await preview(client, tenant, body))[0] is False
        response = await client.patch(
            f"/v1/segments/{segment.id}",
            json={"condition": {"plan": {"$in": ["pro", "free"]}}},
            headers=tenant.auth,
        )
        assert response.status_code == 200
        assert (await preview(client, tenant, body))[0] is True

    async def test_pages_are_named_for_popovers(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        announcement = await create_announcement(
            session,
            tenant.workspace_id,
            status="published",
            display="popover",
            audience={"pages": ["/settings/*"]},
        )
        match, reasons = await preview(
            client, tenant, {"announcement_id": announcement.id, "user": {"id": "42"}}
        )
        assert match is True
        assert "/settings/*" in line_about(reasons, "pages:")


class TestRequest:
    @pytest.mark.parametrize(
        "body",
        [
            {"user": {}},
            {"condition": {}, "segment_id": "seg_x", "user": {}},
            {"segment_id": "seg_x", "announcement_id": "ann_x", "user": {}},
            {"condition": {}},
            {"condition": {}, "user": {}, "attributes": {}},
            {"condition": {}, "user": {"attributes": [1]}},
            {"condition": {}, "user": {"device": "tv"}},
            {"condition": {}, "user": {"locale": "not a locale"}},
            {"condition": {}, "user": {"name": "Ada"}},
        ],
    )
    async def test_malformed_request_is_422(
        self, client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any]
    ) -> None:
        response = await client.post("/v1/audience/preview", json=body, headers=tenant.auth)
        assert_problem(response, 422)

    async def test_attribute_limits_apply(self, client: httpx.AsyncClient, tenant: Tenant) -> None:
        too_many = {f"k{i}": i for i in range(51)}
        response = await client.post(
            "/v1/audience/preview",
            json={"condition": {}, "user": {"attributes": too_many}},
            headers=tenant.auth,
        )
        assert field_names(assert_problem(response, 422)) == ["user.attributes"]
        too_big = {"notes": "x" * 9000}
        response = await client.post(
            "/v1/audience/preview",
            json={"condition": {}, "user": {"attributes": too_big}},
            headers=tenant.auth,
        )
        assert field_names(assert_problem(response, 422)) == ["user.attributes"]

    @pytest.mark.parametrize("selector", ["segment_id", "announcement_id"])
    async def test_unknown_ids_are_404(
        self, client: httpx.AsyncClient, tenant: Tenant, selector: str
    ) -> None:
        response = await client.post(
            "/v1/audience/preview", json={selector: "xyz_nope", "user": {}}, headers=tenant.auth
        )
        assert_problem(response, 404)

    async def test_another_workspaces_ids_are_404(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        tenant: Tenant,
        other_tenant: Tenant,
    ) -> None:
        segment = await create_segment(session, other_tenant.workspace_id)
        announcement = await create_announcement(
            session, other_tenant.workspace_id, status="published"
        )
        for body in (
            {"segment_id": segment.id, "user": {}},
            {"announcement_id": announcement.id, "user": {}},
        ):
            response = await client.post("/v1/audience/preview", json=body, headers=tenant.auth)
            assert_problem(response, 404)

    async def test_needs_a_secret_key(self, client: httpx.AsyncClient, tenant: Tenant) -> None:
        response = await client.post(
            "/v1/audience/preview",
            json={"condition": {}, "user": {}},
            headers={"X-Tidings-Key": tenant.publishable_key},
        )
        assert_problem(response, 401)
        response = await client.post(
            "/v1/audience/preview",
            json={"condition": {}, "user": {}},
            headers={"Authorization": f"Bearer {tenant.publishable_key}"},
        )
        assert_problem(response, 403)
