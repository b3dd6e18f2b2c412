"""Engagement figures as product managers read them: exact, per bucket, in their zone."""

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.engagement.counting import StatsDelta
from app.engagement.repository import EngagementRepository
from app.models import EndUser, Event, UserState
from tests.fixtures.factories import create_announcement
from tests.fixtures.tenants import Tenant
from tests.fixtures.widget_client import WidgetClient
from tests.widget.test_feed_and_events import event
from tests.workspaces.test_auth import assert_problem, field_names


async def stats(
    client: httpx.AsyncClient, tenant: Tenant, announcement_id: str, **params: Any
) -> dict[str, Any]:
    response = await client.get(
        f"/v1/announcements/{announcement_id}/stats", params=params, headers=tenant.auth
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


class TestFigures:
    async def test_counts_uniques_rates_and_reactions(
        self,
        client: httpx.AsyncClient,
        widget: WidgetClient,
        session: AsyncSession,
        tenant: Tenant,
    ) -> None:
        a = await create_announcement(session, tenant.workspace_id, status="published")
        # alice: 2 impressions, 2 clicks, a reaction she changes; bob: 1 impression, dismisses;
        # carol: 1 impression, neutral.
        await widget.events(
            {
                "anonymous_id": "alice",
                "events": [
                    event("impression", a.id),
                    event("impression", a.id),
                    event("click", a.id),
                    event("click", a.id),
                    event("reaction", a.id, value="negative"),
                ],
            }
        )
        await widget.events(
            {"anonymous_id": "alice", "events": [event("reaction", a.id, value="positive")]}
        )
        await widget.events(
            {"anonymous_id": "bob", "events": [event("impression", a.id), event("dismiss", a.id)]}
        )
        await widget.events(
            {
                "anonymous_id": "carol",
                "events": [
                    event("impression", a.id),
                    event("reaction", a.id, value="neutral"),
                ],
            }
        )
        totals = (await stats(client, tenant, a.id))["totals"]
        assert totals == {
            "impressions": 4,
            "unique_viewers": 3,
            "clicks": 2,
            "unique_clickers": 1,
            "dismissals": 1,
            "unique_dismissers": 1,
            "reactions": {"positive": 1, "neutral": 1, "negative": 0},
            "ctr": round(1 / 3, 4),
            "dismiss_rate": round(1 / 3, 4),
        }

    async def test_no_viewers_gives_null_rates_and_zero_series(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        a = await create_announcement(session, tenant.workspace_id, status="published")
        body = await stats(client, tenant, a.id, **{"from": "2026-01-01", "to": "2026-01-03"})
        assert body["totals"]["ctr"] is None and body["totals"]["impressions"] == 0
        assert [point["start"] for point in body["series"]] == [
            "2026-01-01T00:00:00+00:00",
            "2026-01-02T00:00:00+00:00",
            "2026-01-03T00:00:00+00:00",
        ]

    async def test_merge_does_not_double_count_a_person(
        self,
        client: httpx.AsyncClient,
        widget: WidgetClient,
        session: AsyncSession,
        tenant: Tenant,
    ) -> None:
        a = await create_announcement(session, tenant.workspace_id, status="published")
        await widget.events(
            {
                "anonymous_id": "anon",
                "events": [event("impression", a.id), event("reaction", a.id, value="positive")],
            }
        )
        await widget.events(
            {
                "user_id": "u1",
                "events": [event("impression", a.id), event("reaction", a.id, value="negative")],
            }
        )
        before = (await stats(client, tenant, a.id))["totals"]
        assert before["unique_viewers"] == 2
        await widget.identify({"user_id": "u1", "anonymous_id": "anon", "attributes": {}})
        after = (await stats(client, tenant, a.id))["totals"]
        assert after["unique_viewers"] == 1
        assert after["impressions"] == 2
        assert sum(after["reactions"].values()) == 1


class TestSeries:
    async def test_dst_day_in_berlin_has_25_hours(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        a = await create_announcement(session, tenant.workspace_id, status="published")
        # 2026-10-25: clocks go back at 03:00 CEST → 02:00 CET. Local 02:30 happens twice.
        first_0230 = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
        second_0230 = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET
        late_evening = datetime(2026, 10, 25, 22, 45, tzinfo=UTC)  # 23:45 CET, same day
        next_day = datetime(2026, 10, 25, 23, 0, tzinfo=UTC)  # 00:00 CET on the 26th
        delta = StatsDelta()
        for moment, amount in ((first_0230, 1), (second_0230, 2), (late_evening, 4), (next_day, 8)):
            delta.add(a.id, moment, "impressions", amount)
        await EngagementRepository(session).add_stats(delta.rows(tenant.workspace_id))
        await session.commit()

        daily = await stats(
            client,
            tenant,
            a.id,
            **{"from": "2026-10-24", "to": "2026-10-26", "tz": "Europe/Berlin"},
        )
        assert [(p["start"], p["impressions"]) for p in daily["series"]] == [
            ("2026-10-24T00:00:00+02:00", 0),
            ("2026-10-25T00:00:00+02:00", 7),
            ("2026-10-26T00:00:00+01:00", 8),
        ]
        hourly = await stats(
            client,
            tenant,
            a.id,
            **{"from": "2026-10-25", "to": "2026-10-25", "tz": "Europe/Berlin", "interval": "hour"},
        )
        starts = [p["start"] for p in hourly["series"]]
        assert len(starts) == 25
        assert starts[2:5] == [
            "2026-10-25T02:00:00+02:00",
            "2026-10-25T02:00:00+01:00",
            "2026-10-25T03:00:00+01:00",
        ]
        by_start = {p["start"]: p["impressions"] for p in hourly["series"]}
        assert by_start["2026-10-25T02:00:00+02:00"] == 1
        assert by_start["2026-10-25T02:00:00+01:00"] == 2
        assert hourly["totals"]["impressions"] == 7

    async def test_without_tz_the_workspace_zone_counts_and_a_bad_zone_is_refused(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        a = await create_announcement(session, tenant.workspace_id, status="published")
        delta = StatsDelta()
        delta.add(
            a.id, datetime(2026, 10, 25, 23, 0, tzinfo=UTC), "impressions", 1
        )  # 26th in Berlin
        await EngagementRepository(session).add_stats(delta.rows(tenant.workspace_id))
        await session.commit()
        days = {"from": "2026-10-25", "to": "2026-10-26"}

        in_utc = await stats(client, tenant, a.id, **days)
        assert in_utc["tz"] == "UTC"
        assert [p["impressions"] for p in in_utc["series"]] == [1, 0]

        bad = await client.patch(
            "/v1/workspace", json={"time_zone": "Mars/Olympus"}, headers=tenant.auth
        )
        assert "Mars/Olympus" in str(assert_problem(bad, 422))
        patched = await client.patch(
            "/v1/workspace", json={"time_zone": "Europe/Berlin"}, headers=tenant.auth
        )
        assert patched.status_code == 200 and patched.json()["time_zone"] == "Europe/Berlin"
        in_berlin = await stats(client, tenant, a.id, **days)
        assert in_berlin["tz"] == "Europe/Berlin"
        assert [p["impressions"] for p in in_berlin["series"]] == [0, 1]
        listed = await client.get("/v1/stats", params=days, headers=tenant.auth)
        assert listed.json()["tz"] == "Europe/Berlin"
        # A zone asked for still wins; null goes back to UTC.
        asked = await stats(client, tenant, a.id, tz="Asia/Tokyo", **days)
        assert asked["tz"] == "Asia/Tokyo"
        await client.patch("/v1/workspace", json={"time_zone": None}, headers=tenant.auth)
        assert (await stats(client, tenant, a.id, **days))["tz"] == "UTC"

    async def test_half_hour_zone_days_are_exact(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        a = await create_announcement(session, tenant.workspace_id, status="published")
        delta = StatsDelta()
        delta.add(a.id, datetime(2026, 3, 1, 18, 15, tzinfo=UTC), "clicks")  # 23:45 IST, 1 Mar
        delta.add(a.id, datetime(2026, 3, 1, 18, 30, tzinfo=UTC), "clicks", 10)  # 00:00 IST, 2 Mar
        await EngagementRepository(session).add_stats(delta.rows(tenant.workspace_id))
        await session.commit()
        body = await stats(
            client, tenant, a.id, **{"from": "2026-03-01", "to": "2026-03-02", "tz": "Asia/Kolkata"}
        )
        assert [p["clicks"] for p in body["series"]] == [1, 10]


class TestCsv:
    async def test_csv_matches_json(
        self,
        client: httpx.AsyncClient,
        widget: WidgetClient,
        session: AsyncSession,
        tenant: Tenant,
    ) -> None:
        a = await create_announcement(
            session, tenant.workspace_id, status="published", title='Say "hi", world'
        )
        await widget.events(
            {"anonymous_id": "x", "events": [event("impression", a.id), event("click", a.id)]}
        )
        today = datetime.now(UTC).date()
        params = {"from": str(today - timedelta(days=2)), "to": str(today)}
        as_json = await stats(client, tenant, a.id, **params)
        response = await client.get(
            f"/v1/announcements/{a.id}/stats",
            params=params,
            headers={**tenant.auth, "Accept": "text/csv"},
        )
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert [row["start"] for row in rows] == [p["start"] for p in as_json["series"]]
        assert [int(row["impressions"]) for row in rows] == [
            p["impressions"] for p in as_json["series"]
        ]
        assert rows[-1]["ctr"] == "1.0" and rows[0]["ctr"] == ""

        listing = await client.get(
            "/v1/stats", params={**params, "format": "csv"}, headers=tenant.auth
        )
        table = list(csv.DictReader(io.StringIO(listing.text)))
        assert table[0]["title"] == 'Say "hi", world'
        assert table[0]["impressions"] == "1" and table[0]["unique_clickers"] == "1"
        assert listing.text.splitlines()[0].startswith(
            "announcement_id,title,state,published_at,impressions"
        )


class TestWorkspaceStats:
    async def test_one_row_per_announcement_sorted_and_paged(
        self,
        client: httpx.AsyncClient,
        widget: WidgetClient,
        session: AsyncSession,
        tenant: Tenant,
    ) -> None:
        quiet = await create_announcement(session, tenant.workspace_id, status="published")
        busy = await create_announcement(session, tenant.workspace_id, status="published")
        medium = await create_announcement(session, tenant.workspace_id, status="archived")
        await create_announcement(session, tenant.workspace_id)  # a draft: nothing to report
        await widget.events(
            {
                "anonymous_id": "x",
                "events": [event("impression", busy.id)] * 1
                + [event("impression", busy.id), event("impression", medium.id)],
            }
        )
        first = (await client.get("/v1/stats", params={"limit": 2}, headers=tenant.auth)).json()
        assert [row["announcement_id"] for row in first["data"]] == [busy.id, medium.id]
        assert first["data"][0]["impressions"] == 2
        rest = (
            await client.get(
                "/v1/stats",
                params={"limit": 2, "cursor": first["next_cursor"]},
                headers=tenant.auth,
            )
        ).json()
        assert [row["announcement_id"] for row in rest["data"]] == [quiet.id]
        assert rest["next_cursor"] is None
        by_title = (
            await client.get("/v1/stats", params={"sort": "title"}, headers=tenant.auth)
        ).json()
        assert len(by_title["data"]) == 3


class TestBadInput:
    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"from": "2026-02-01", "to": "2026-01-01"}, "from"),
            ({"from": "2024-01-01", "to": "2026-01-01"}, "to"),
            ({"tz": "Mars/Olympus"}, "tz"),
            ({"interval": "week"}, "interval"),
            ({"from": "last tuesday"}, "from"),
            ({"format": "xml"}, "format"),
        ],
    )
    async def test_422(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        tenant: Tenant,
        params: dict[str, str],
        field: str,
    ) -> None:
        a = await create_announcement(session, tenant.workspace_id, status="published")
        response = await client.get(
            f"/v1/announcements/{a.id}/stats", params=params, headers=tenant.auth
        )
        body = assert_problem(response, 422)
        assert field in field_names(body)

    async def test_bad_sort_is_422(self, client: httpx.AsyncClient, tenant: Tenant) -> None:
        assert_problem(
            await client.get("/v1/stats", params={"sort": "-vibes"}, headers=tenant.auth), 422
        )

    async def test_another_workspaces_announcement_is_404(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        theirs = await create_announcement(session, other_tenant.workspace_id, status="published")
        assert_problem(
            await client.get(f"/v1/announcements/{theirs.id}/stats", headers=tenant.auth), 404
        )


class TestErasure:
    async def test_erases_the_person_and_keeps_the_aggregates(
        self,
        client: httpx.AsyncClient,
        widget: WidgetClient,
        session: AsyncSession,
        tenant: Tenant,
    ) -> None:
        a = await create_announcement(session, tenant.workspace_id, status="published")
        await widget.events({"anonymous_id": "anon-e", "events": [event("impression", a.id)]})
        await widget.identify(
            {
                "user_id": "erase-me",
                "anonymous_id": "anon-e",
                "attributes": {"email": "e@example.com"},
            }
        )
        await widget.events(
            {
                "user_id": "erase-me",
                "events": [event("click", a.id), event("reaction", a.id, value="positive")],
            }
        )
        await widget.events({"anonymous_id": "someone-else", "events": [event("impression", a.id)]})
        before = (await stats(client, tenant, a.id))["totals"]

        response = await client.delete("/v1/end-users/erase-me", headers=tenant.auth)
        assert response.status_code == 200, response.text
        assert response.json()["deleted"] == {"events": 3, "states": 1, "end_users": 2}

        assert (await stats(client, tenant, a.id))["totals"] == before
        remaining_users = (await session.execute(select(col(EndUser.anonymous_id)))).scalars().all()
        assert remaining_users == ["someone-else"]
        assert (await session.execute(select(func.count()).select_from(Event))).scalar_one() == 1
        assert (
            await session.execute(select(func.count()).select_from(UserState))
        ).scalar_one() == 1
        assert_problem(await client.delete("/v1/end-users/erase-me", headers=tenant.auth), 404)

    async def test_cannot_erase_in_another_workspace(
        self, client: httpx.AsyncClient, widget: WidgetClient, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        await widget.identify({"user_id": "shared-id", "attributes": {}})
        assert_problem(
            await client.delete("/v1/end-users/shared-id", headers=other_tenant.auth), 404
        )
        assert (
            await client.delete("/v1/end-users/shared-id", headers=tenant.auth)
        ).status_code == 200
