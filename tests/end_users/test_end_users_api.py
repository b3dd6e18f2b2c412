"""Access and erasure requests work for every user id a host can use, on both databases."""

from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import EndUser, Event, UserState
from tests.fixtures.factories import create_announcement
from tests.fixtures.tenants import Tenant
from tests.fixtures.widget_client import WidgetClient
from tests.widget.test_feed_and_events import event
from tests.workspaces.test_auth import assert_problem

# Any 1-256 characters is a valid user id (app/end_users/schemas.py): these are the ones a
# path mangles (separators, dot segments, reserved and control characters, non-ASCII).
AWKWARD_IDS = [
    "org/42",
    "/leading-slash",
    "trailing-slash/",
    "a//b",
    "..",
    ".",
    "../../v1/workspace",
    "x/./y/../z",
    "with space",
    "100%",
    "%2F-literally",
    "q?x=1&y=2#frag",
    "semi;colon,comma=eq",
    "+plus+",
    "line\nbreak",
    "carriage\rreturn",
    "tab\tbed",
    "ünïcødé/😀",
    "\\back\\slash",
    "a" * 256,
    "o/" * 128,
]


def segment(user_id: str) -> str:
    """The id as one path segment: everything but unreserved characters encoded, dots too
    (so that "." and ".." are not dot segments that URL normalisation removes)."""
    return quote(user_id, safe="").replace(".", "%2E")


async def person(widget: WidgetClient, user_id: str, announcement_id: str) -> None:
    """An anonymous visitor who then identifies as ``user_id``, with events before and after."""
    anonymous_id = f"anon-{abs(hash(user_id))}"
    response = await widget.events(
        {"anonymous_id": anonymous_id, "events": [event("impression", announcement_id)]}
    )
    assert response.status_code == 202, response.text
    response = await widget.identify(
        {
            "user_id": user_id,
            "anonymous_id": anonymous_id,
            "attributes": {"email": "someone@example.com", "plan": "pro"},
        }
    )
    assert response.status_code == 200, response.text
    response = await widget.events(
        {
            "user_id": user_id,
            "events": [
                event("click", announcement_id),
                event("reaction", announcement_id, value="positive"),
            ],
        }
    )
    assert response.status_code == 202, response.text


class TestEveryUserId:
    @pytest.mark.parametrize("user_id", AWKWARD_IDS)
    async def test_export_then_erase(
        self,
        client: httpx.AsyncClient,
        widget: WidgetClient,
        session: AsyncSession,
        tenant: Tenant,
        user_id: str,
    ) -> None:
        announcement = await create_announcement(session, tenant.workspace_id, status="published")
        await person(widget, user_id, announcement.id)
        neighbour = f"{user_id}-n" if len(user_id) < 255 else f"{user_id[:-1]}!"
        await person(widget, neighbour, announcement.id)
        url = f"/v1/end-users/{segment(user_id)}"

        exported = await client.get(url, headers=tenant.auth)
        assert exported.status_code == 200, exported.text
        body = exported.json()
        assert body["user_id"] == user_id
        assert [record["user_id"] for record in body["end_users"]] == [user_id, None]
        assert body["events"]["total"] == 3

        erased = await client.delete(url, headers=tenant.auth)
        assert erased.status_code == 200, erased.text
        assert erased.json() == {
            "user_id": user_id,
            "deleted": {"events": 3, "states": 1, "end_users": 2},
        }
        assert_problem(await client.get(url, headers=tenant.auth), 404)
        assert_problem(await client.delete(url, headers=tenant.auth), 404)
        # The neighbour, whose id starts the same, is untouched.
        users = (await session.execute(select(col(EndUser.user_id)))).scalars().all()
        assert sorted(u for u in users if u is not None) == [neighbour]

    async def test_an_id_longer_than_any_user_id_is_422(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        response = await client.delete(f"/v1/end-users/{'a' * 257}", headers=tenant.auth)
        assert_problem(response, 422)


class TestExport:
    async def test_holds_everything_stored_about_the_person(
        self,
        client: httpx.AsyncClient,
        widget: WidgetClient,
        session: AsyncSession,
        tenant: Tenant,
    ) -> None:
        first = await create_announcement(session, tenant.workspace_id, status="published")
        second = await create_announcement(session, tenant.workspace_id, status="published")
        await person(widget, "org/42", first.id)
        await widget.events({"user_id": "org/42", "events": [event("dismiss", second.id)]})

        response = await client.get("/v1/end-users/org%2F42", headers=tenant.auth)
        assert response.status_code == 200, response.text
        body = response.json()

        identified, anonymous = body["end_users"]
        assert identified["user_id"] == "org/42"
        assert identified["attributes"] == {"email": "someone@example.com", "plan": "pro"}
        assert anonymous["merged_into"] == identified["id"]
        assert anonymous["anonymous_id"].startswith("anon-")

        states = {state["announcement_id"]: state for state in body["states"]}
        assert set(states) == {first.id, second.id}
        assert states[first.id]["reaction"] == "positive"
        assert states[first.id]["clicked_at"] is not None
        assert states[second.id]["dismissed_at"] is not None

        events = body["events"]
        assert events["total"] == 4 and events["complete"] is True
        assert events["by_type"] == {"click": 1, "dismiss": 1, "impression": 1, "reaction": 1}
        assert len(events["items"]) == 4
        assert {item["end_user_id"] for item in events["items"]} == {
            identified["id"],
            anonymous["id"],
        }
        occurred = [item["occurred_at"] for item in events["items"]]
        assert occurred == sorted(occurred, reverse=True)
        assert events["first_occurred_at"] <= events["last_occurred_at"]
        # The same rows the database holds, no more.
        stored = (await session.execute(select(func.count()).select_from(Event))).scalar_one()
        assert stored == 4
        state_rows = (
            await session.execute(select(func.count()).select_from(UserState))
        ).scalar_one()
        assert state_rows == len(body["states"])

    async def test_another_workspace_sees_nothing(
        self,
        client: httpx.AsyncClient,
        widget: WidgetClient,
        tenant: Tenant,
        other_tenant: Tenant,
    ) -> None:
        await widget.identify({"user_id": "org/42", "attributes": {}})
        assert_problem(await client.get("/v1/end-users/org%2F42", headers=other_tenant.auth), 404)
        assert_problem(
            await client.delete("/v1/end-users/org%2F42", headers=other_tenant.auth), 404
        )
        assert (await client.get("/v1/end-users/org%2F42", headers=tenant.auth)).status_code == 200

    async def test_needs_the_secret_key(
        self, client: httpx.AsyncClient, widget: WidgetClient, tenant: Tenant
    ) -> None:
        await widget.identify({"user_id": "org/42", "attributes": {}})
        response = await client.get(
            "/v1/end-users/org%2F42", headers={"X-Tidings-Key": tenant.publishable_key}
        )
        assert response.status_code in (401, 403)
        assert_problem(await client.get("/v1/end-users/org%2F42"), 401)
