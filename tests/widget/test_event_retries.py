"""An exact retry of a stored event is a duplicate, whatever else carries its id.

A retry is compared with the stored row, never with whichever copy of its id came first
in the write group or in the request: a different event reusing the id is rejected, the
retry beside it is not (the widget drops rejected events for good).
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.ingest.writer import REUSED_ID
from tests.fixtures.factories import create_announcement
from tests.fixtures.tenants import Tenant
from tests.fixtures.widget_client import WidgetClient
from tests.widget.test_ingest import incoming, ingestor_of, one_group, stored_events, submission


class TestInOneWriteGroup:
    @pytest.mark.parametrize("retry_first", [False, True])
    async def test_the_retry_is_a_duplicate_and_the_other_is_rejected(
        self, app: FastAPI, session: AsyncSession, tenant: Tenant, retry_first: bool
    ) -> None:
        a = (await create_announcement(session, tenant.workspace_id, status="published")).id
        shared = str(uuid.uuid4())
        ingestor = ingestor_of(app)
        (stored,) = await one_group(
            ingestor,
            submission(
                tenant.workspace_id,
                [incoming("impression", a, event_id=shared, digest="stored")],
                user_id="u1",
            ),
        )
        assert stored.accepted == 1

        def retry() -> Any:
            return submission(
                tenant.workspace_id,
                [incoming("impression", a, event_id=shared, digest="stored")],
                user_id="u1",
            )

        def other() -> Any:
            return submission(
                tenant.workspace_id,
                [incoming("click", a, event_id=shared, digest="different")],
                user_id="u2",
            )

        # Several of each, interleaved: every retry is a duplicate, every other one rejected.
        group = [retry(), other(), retry(), other()] if retry_first else [other(), retry()] * 2
        results = await one_group(ingestor, *group)
        for sent, result in zip(group, results, strict=True):
            if sent.events[0].payload_hash == "stored":
                assert (result.accepted, result.duplicates, result.rejected) == (0, 1, [])
            else:
                assert (result.accepted, result.duplicates) == (0, 0)
                assert result.rejected == [(0, REUSED_ID)]
        assert await stored_events(session, tenant.workspace_id) == 1

    async def test_with_nothing_stored_the_first_copy_owns_the_id(
        self, app: FastAPI, session: AsyncSession, tenant: Tenant
    ) -> None:
        a = (await create_announcement(session, tenant.workspace_id, status="published")).id
        shared = str(uuid.uuid4())
        first = submission(
            tenant.workspace_id, [incoming("click", a, event_id=shared, digest="x")], user_id="u"
        )
        other = submission(
            tenant.workspace_id, [incoming("click", a, event_id=shared, digest="y")], user_id="u"
        )
        same = submission(
            tenant.workspace_id, [incoming("click", a, event_id=shared, digest="x")], user_id="u"
        )
        results = await one_group(ingestor_of(app), first, other, same)
        assert [(r.accepted, r.duplicates, r.rejected) for r in results] == [
            (1, 0, []),
            (0, 0, [(0, REUSED_ID)]),
            (0, 1, []),
        ]


def _event(event_id: str, kind: str, announcement_id: str, at: str) -> dict[str, Any]:
    return {"id": event_id, "type": kind, "announcement_id": announcement_id, "occurred_at": at}


class TestInOneRequest:
    @pytest.mark.parametrize("retry_first", [False, True])
    async def test_the_retry_is_a_duplicate_and_the_other_is_rejected(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant, retry_first: bool
    ) -> None:
        a = (await create_announcement(session, tenant.workspace_id, status="published")).id
        at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        shared = str(uuid.uuid4())
        original = _event(shared, "impression", a, at)
        first = await widget.events({"user_id": "u1", "events": [original]})
        assert first.json() == {"accepted": 1, "duplicates": 0, "rejected": []}

        different = _event(shared, "click", a, at)
        batch = [original, different, original] if retry_first else [different, original]
        response = await widget.events({"user_id": "u1", "events": batch})
        assert response.status_code == 202
        answer = response.json()
        assert answer["accepted"] == 0
        assert answer["duplicates"] == batch.count(original)
        assert answer["rejected"] == [
            {"index": i, "error": REUSED_ID} for i, e in enumerate(batch) if e is different
        ]
        assert await stored_events(session, tenant.workspace_id) == 1

    async def test_with_nothing_stored_the_first_copy_owns_the_id(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        a = (await create_announcement(session, tenant.workspace_id, status="published")).id
        at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        shared = str(uuid.uuid4())
        batch = [_event(shared, "click", a, at), _event(shared, "dismiss", a, at)]
        response = await widget.events({"user_id": "u1", "events": [*batch, batch[0]]})
        assert response.json() == {
            "accepted": 1,
            "duplicates": 1,
            "rejected": [{"index": 1, "error": REUSED_ID}],
        }
