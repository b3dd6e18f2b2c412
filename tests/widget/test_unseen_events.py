"""Events count only for announcements the feed could have shown that user.

Drafts, archived, scheduled and expired announcements, and those whose audience leaves the
user out, are in nobody's (or not in this user's) feed: an impression, click, dismissal or
reaction for them is rejected on its own, with the reason, and counts nowhere.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import Announcement
from tests.fixtures.factories import create_announcement
from tests.fixtures.tenants import Tenant
from tests.fixtures.widget_client import WidgetClient
from tests.widget.test_ingest import counters, stored_events

KINDS = ("impression", "click", "dismiss", "reaction")


def _event(kind: str, announcement_id: str) -> dict[str, Any]:
    event = {
        "id": str(uuid.uuid4()),
        "type": kind,
        "announcement_id": announcement_id,
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    if kind == "reaction":
        event["value"] = "positive"
    return event


async def _unseen(session: AsyncSession, workspace_id: str, why: str) -> str:
    """An announcement of the workspace that the visitor "u1" (plan "free") cannot see."""
    now = datetime.now(UTC)
    if why == "draft":
        return (await create_announcement(session, workspace_id)).id
    if why == "archived":
        return (await create_announcement(session, workspace_id, status="archived")).id
    if why == "scheduled":
        publish_at = now + timedelta(days=1)
        return (
            await create_announcement(
                session, workspace_id, status="published", publish_at=publish_at
            )
        ).id
    if why == "expired":
        announcement = await create_announcement(session, workspace_id, status="published")
        # Expired a minute ago (an announcement cannot be created already expired).
        await session.execute(
            update(Announcement)
            .where(col(Announcement.id) == announcement.id)
            .values(expire_at=now - timedelta(minutes=1))
        )
        await session.commit()
        return announcement.id
    assert why == "targeted-away"
    return (
        await create_announcement(
            session, workspace_id, status="published", audience={"condition": {"plan": "pro"}}
        )
    ).id


REASONS = {
    "draft": "is not published",
    "archived": "is not published",
    "scheduled": "is scheduled for",
    "expired": "is not published",
    "targeted-away": "is not in this user's feed",
}


class TestOnlyWhatTheFeedShows:
    @pytest.mark.parametrize("why", list(REASONS))
    async def test_events_for_an_unseen_announcement_are_rejected_one_by_one(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant, why: str
    ) -> None:
        await widget.identify({"user_id": "u1", "attributes": {"plan": "free"}})
        shown = (await create_announcement(session, tenant.workspace_id, status="published")).id
        unseen = await _unseen(session, tenant.workspace_id, why)
        batch = [_event(kind, unseen) for kind in KINDS] + [_event("impression", shown)]

        response = await widget.events({"user_id": "u1", "events": batch})

        assert response.status_code == 202
        answer = response.json()
        assert (answer["accepted"], answer["duplicates"]) == (1, 0)
        assert [r["index"] for r in answer["rejected"]] == [0, 1, 2, 3]
        for rejection in answer["rejected"]:
            assert repr(unseen) in rejection["error"]
            assert REASONS[why] in rejection["error"], rejection["error"]
        assert await stored_events(session, tenant.workspace_id) == 1
        totals = await counters(session, tenant.workspace_id)
        assert totals["impressions"] == 1 and totals["unique_viewers"] == 1
        assert totals["clicks"] == totals["dismissals"] == totals["reactions_positive"] == 0

    async def test_an_audience_that_includes_the_user_counts(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        await widget.identify({"user_id": "pro-1", "attributes": {"plan": "pro"}})
        for_pros = (
            await create_announcement(
                session,
                tenant.workspace_id,
                status="published",
                audience={"condition": {"plan": "pro"}},
            )
        ).id
        mine = await widget.events(
            {"user_id": "pro-1", "events": [_event(kind, for_pros) for kind in KINDS]}
        )
        assert mine.json() == {"accepted": 4, "duplicates": 0, "rejected": []}
        # An anonymous visitor has no plan: the same events are not theirs to send.
        theirs = await widget.events(
            {"anonymous_id": str(uuid.uuid4()), "events": [_event("click", for_pros)]}
        )
        assert theirs.json()["accepted"] == 0
        assert "is not in this user's feed" in theirs.json()["rejected"][0]["error"]
        assert (await counters(session, tenant.workspace_id))["clicks"] == 1

    async def test_a_copy_of_a_rejected_event_is_rejected_with_it(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        draft = (await create_announcement(session, tenant.workspace_id)).id
        event = _event("impression", draft)
        answer = (await widget.events({"user_id": "u1", "events": [event, event]})).json()
        assert answer["accepted"] == 0 and answer["duplicates"] == 0
        assert [r["index"] for r in answer["rejected"]] == [0, 1]
