"""The widget API end to end: identify, targeted feed, ETags, events, per-user state."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import EndUser, Event, UserState
from tests.fixtures.factories import create_announcement
from tests.fixtures.tenants import Tenant
from tests.fixtures.widget_client import WidgetClient
from tests.workspaces.test_auth import assert_problem


def event(kind: str, announcement_id: str | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "type": kind,
        "occurred_at": datetime.now(UTC).isoformat(),
        **fields,
    }
    if announcement_id is not None:
        body["announcement_id"] = announcement_id
    return body


def ids(response: httpx.Response) -> list[str]:
    return [item["id"] for item in response.json()["announcements"]]


def item(response: httpx.Response, announcement_id: str) -> dict[str, Any]:
    return next(i for i in response.json()["announcements"] if i["id"] == announcement_id)


class TestFlow:
    async def test_identify_feed_etag_impression_dismissal(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        pro_popover = await create_announcement(
            session,
            tenant.workspace_id,
            title="For pro users",
            status="published",
            display="popover",
            audience={"condition": {"plan": "pro"}, "pages": ["/dashboard/*"]},
        )
        everyone = await create_announcement(
            session, tenant.workspace_id, title="For everyone", status="published"
        )
        await create_announcement(session, tenant.workspace_id, title="Draft")  # never shown
        await create_announcement(
            session,
            tenant.workspace_id,
            title="Free only",
            status="published",
            audience={"condition": {"plan": "free"}},
        )

        identified = await widget.identify({"user_id": "42", "attributes": {"plan": "pro"}})
        assert identified.status_code == 200, identified.text
        assert ids(identified) == [everyone.id, pro_popover.id]
        body = identified.json()
        assert body["unread_count"] == 2
        assert body["poll_after_s"] == 60
        popover = item(identified, pro_popover.id)
        assert popover["auto_show"] is True
        assert popover["pages"] == ["/dashboard/*"]
        assert popover["seen"] is False and popover["dismissed"] is False
        assert item(identified, everyone.id)["auto_show"] is False

        # A poll is a short GET: the attributes were stored by identify.
        polled = await widget.feed(user_id="42")
        assert ids(polled) == ids(identified)
        etag = polled.headers["etag"]
        assert etag.startswith('"') and polled.headers["cache-control"] == "private, no-cache"
        unchanged = await widget.feed(user_id="42", headers={"If-None-Match": etag})
        assert unchanged.status_code == 304 and unchanged.content == b""

        sent = await widget.events(
            {"user_id": "42", "events": [event("impression", pro_popover.id, surface="popover")]}
        )
        assert sent.status_code == 202 and sent.json() == {
            "accepted": 1,
            "duplicates": 0,
            "rejected": [],
        }
        after_impression = await widget.feed(user_id="42", headers={"If-None-Match": etag})
        assert after_impression.status_code == 200
        assert after_impression.headers["etag"] != etag
        assert item(after_impression, pro_popover.id)["seen"] is True
        assert after_impression.json()["unread_count"] == 1

        await widget.events({"user_id": "42", "events": [event("dismiss", pro_popover.id)]})
        dismissed = await widget.feed(user_id="42")
        popover = item(dismissed, pro_popover.id)
        assert popover["dismissed"] is True
        assert popover["auto_show"] is False  # until_dismissed: never again
        assert pro_popover.id in ids(dismissed)  # still listed in the feed

    async def test_open_marks_everything_visible_as_seen(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        for _ in range(3):
            await create_announcement(session, tenant.workspace_id, status="published")
        assert (await widget.feed(anonymous_id="anon-1")).json()["unread_count"] == 3
        await widget.events({"anonymous_id": "anon-1", "events": [event("open")]})
        feed = await widget.feed(anonymous_id="anon-1")
        assert feed.json()["unread_count"] == 0
        assert all(i["seen"] for i in feed.json()["announcements"])

    async def test_state_holds_across_devices(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        popover = await create_announcement(
            session, tenant.workspace_id, status="published", display="modal"
        )
        await widget.identify({"user_id": "7", "attributes": {}})
        await widget.events({"user_id": "7", "events": [event("dismiss", popover.id)]})
        # Another browser: no local state, same user id.
        phone = await widget.feed(
            user_id="7", headers={"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)"}
        )
        assert item(phone, popover.id)["dismissed"] is True
        assert item(phone, popover.id)["auto_show"] is False

    async def test_translation_by_locale(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        announcement = await create_announcement(
            session,
            tenant.workspace_id,
            title="Hello",
            body="Hi",
            status="published",
            translations={"de": {"title": "Hallo", "body": "Servus"}},
        )
        german = item(await widget.feed(anonymous_id="a", locale="de-AT"), announcement.id)
        assert german["title"] == "Hallo" and german["locale"] == "de"
        assert german["body_html"] == "<p>Servus</p>\n"
        french = item(await widget.feed(anonymous_id="a", locale="fr"), announcement.id)
        assert french["title"] == "Hello" and french["locale"] is None

    async def test_schedule_window(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        now = datetime.now(UTC)
        live = await create_announcement(session, tenant.workspace_id, status="published")
        await create_announcement(
            session, tenant.workspace_id, status="published", publish_at=now + timedelta(hours=1)
        )
        await create_announcement(
            session,
            tenant.workspace_id,
            status="published",
            publish_at=now - timedelta(days=2),
            expire_at=now - timedelta(days=1),
        )
        assert ids(await widget.feed(anonymous_id="a")) == [live.id]

    async def test_order_pinned_priority_newest(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        old = await create_announcement(session, tenant.workspace_id, status="published")
        new = await create_announcement(session, tenant.workspace_id, status="published")
        important = await create_announcement(
            session, tenant.workspace_id, status="published", priority=10
        )
        pinned = await create_announcement(
            session, tenant.workspace_id, status="published", pinned=True
        )
        assert ids(await widget.feed(anonymous_id="a")) == [pinned.id, important.id, new.id, old.id]

    async def test_rollout_is_stable_and_partial(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        half = await create_announcement(
            session, tenant.workspace_id, status="published", audience={"rollout": 50}
        )
        seen_by = [
            half.id in ids(await widget.feed(anonymous_id=f"visitor-{n}")) for n in range(60)
        ]
        assert 15 < sum(seen_by) < 45
        again = [half.id in ids(await widget.feed(anonymous_id=f"visitor-{n}")) for n in range(60)]
        assert again == seen_by

    async def test_builtin_attributes_target(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        mobile_only = await create_announcement(
            session,
            tenant.workspace_id,
            status="published",
            audience={"condition": {"device": "mobile", "anonymous": True}},
        )
        phone = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148"}
        assert ids(await widget.feed(anonymous_id="a", headers=phone)) == [mobile_only.id]
        assert ids(await widget.feed(anonymous_id="a")) == []
        assert ids(await widget.feed(user_id="u", headers=phone)) == []

    async def test_identify_cannot_claim_a_builtin(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        for_vip = await create_announcement(
            session,
            tenant.workspace_id,
            status="published",
            audience={"condition": {"id": "vip-1", "anonymous": False}},
        )
        claims = {"id": "vip-1", "anonymous": False, "device": "tv", "locale": "xx"}
        response = await widget.identify({"anonymous_id": "visitor-9", "attributes": claims})
        assert response.status_code == 200, response.text
        assert ids(response) == []
        assert ids(await widget.feed(anonymous_id="visitor-9")) == []
        # Identified as someone else, the claim is no better.
        await widget.identify({"user_id": "someone", "attributes": claims})
        assert ids(await widget.feed(user_id="someone")) == []
        # The real vip-1 sees it.
        assert ids(await widget.feed(user_id="vip-1")) == [for_vip.id]


class TestFeedEtag:
    """The ETag is computed from the feed's inputs, before planning: every input moves it."""

    async def test_each_input_of_the_feed_changes_the_etag(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        await create_announcement(
            session,
            tenant.workspace_id,
            status="published",
            audience={"condition": {"device": "mobile"}},
            translations={"de": {"title": "Neu", "body": "Hallo"}},
        )
        await widget.identify({"user_id": "7", "attributes": {"plan": "free"}})
        desktop = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0"}
        first = await widget.feed(user_id="7", headers=desktop)
        etag = first.headers["etag"]
        assert ids(first) == []

        async def poll(**params: Any) -> httpx.Response:
            headers = {"If-None-Match": etag, **desktop, **params.pop("headers", {})}
            return await widget.feed(headers=headers, **{"user_id": "7", **params})

        assert (await poll()).status_code == 304
        # Another device (targeting reads it), another locale, another visitor: 200s.
        phone = await poll(headers={"User-Agent": "Mozilla/5.0 (iPhone) Mobile/15E148"})
        assert phone.status_code == 200 and len(ids(phone)) == 1
        assert (await poll(locale="de")).status_code == 200
        assert (await poll(user_id="8")).status_code == 200
        # The same inputs again: still the same tag.
        assert (await poll()).status_code == 304

        # New attributes move the user's state_version, so the tag.
        await widget.identify({"user_id": "7", "attributes": {"plan": "pro"}})
        assert (await poll()).status_code == 200

    async def test_a_scheduled_announcement_going_live_changes_the_etag(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        soon = datetime.now(UTC) + timedelta(seconds=1.5)
        scheduled = await create_announcement(
            session, tenant.workspace_id, status="published", publish_at=soon
        )
        before = await widget.feed(user_id="7")
        assert ids(before) == []
        await asyncio.sleep(max((soon - datetime.now(UTC)).total_seconds(), 0) + 0.1)
        after = await widget.feed(user_id="7", headers={"If-None-Match": before.headers["etag"]})
        assert after.status_code == 200 and ids(after) == [scheduled.id]


class TestTargetingVerdicts:
    """A visitor's targeting verdict is reused between plans, never past what it depends on."""

    async def test_new_attributes_are_targeted_afresh(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        pro = await create_announcement(
            session,
            tenant.workspace_id,
            status="published",
            audience={"condition": {"plan": "pro"}},
        )
        await widget.identify({"user_id": "7", "attributes": {"plan": "free"}})
        assert ids(await widget.feed(user_id="7")) == []
        assert ids(await widget.feed(user_id="7")) == []  # planned again, from the verdict
        await widget.identify({"user_id": "7", "attributes": {"plan": "pro"}})
        assert ids(await widget.feed(user_id="7")) == [pro.id]
        await widget.identify({"user_id": "7", "attributes": {"plan": "free"}})
        assert ids(await widget.feed(user_id="7")) == []
        # Another user with the attributes the first one had: their own verdict.
        await widget.identify({"user_id": "8", "attributes": {"plan": "pro"}})
        assert ids(await widget.feed(user_id="8")) == [pro.id]

    async def test_state_changes_are_applied_to_a_reused_verdict(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        popover = await create_announcement(
            session, tenant.workspace_id, status="published", display="popover"
        )
        await widget.identify({"user_id": "7", "attributes": {}})
        before = await widget.feed(user_id="7")
        assert item(before, popover.id)["auto_show"] is True
        assert before.json()["unread_count"] == 1
        sent = await widget.events({"user_id": "7", "events": [event("dismiss", popover.id)]})
        assert sent.status_code == 202
        after = await widget.feed(user_id="7")
        shown = item(after, popover.id)
        assert shown["dismissed"] is True and shown["auto_show"] is False

    async def test_changed_content_is_targeted_afresh(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        first = await create_announcement(session, tenant.workspace_id, status="published")
        await widget.identify({"user_id": "7", "attributes": {"plan": "free"}})
        assert ids(await widget.feed(user_id="7")) == [first.id]
        second = await create_announcement(
            session,
            tenant.workspace_id,
            status="published",
            audience={"condition": {"plan": "free"}},
        )
        assert set(ids(await widget.feed(user_id="7"))) == {first.id, second.id}


class TestDailyCap:
    async def test_one_auto_shown_item_per_day_by_default(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        first = await create_announcement(
            session, tenant.workspace_id, status="published", display="popover"
        )
        second = await create_announcement(
            session, tenant.workspace_id, status="published", display="banner"
        )
        feed = await widget.feed(anonymous_id="a")
        assert [i["auto_show"] for i in feed.json()["announcements"]] == [True, False]
        shown = feed.json()["announcements"][0]["id"]
        await widget.events(
            {"anonymous_id": "a", "events": [event("impression", shown, surface="popover")]}
        )
        # Shown today and not dismissed: it may show again; the other waits for tomorrow.
        feed = await widget.feed(anonymous_id="a")
        assert item(feed, shown)["auto_show"] is True
        other = second.id if shown == first.id else first.id
        assert item(feed, other)["auto_show"] is False
        await widget.events({"anonymous_id": "a", "events": [event("dismiss", shown)]})
        feed = await widget.feed(anonymous_id="a")
        assert item(feed, shown)["auto_show"] is False
        assert item(feed, other)["auto_show"] is False

    async def test_frequency_once_stops_after_first_seen(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant, client: httpx.AsyncClient
    ) -> None:
        await client.patch("/v1/workspace", json={"popover_daily_cap": 5}, headers=tenant.auth)
        once = await create_announcement(
            session, tenant.workspace_id, status="published", display="popover", frequency="once"
        )
        always = await create_announcement(
            session, tenant.workspace_id, status="published", display="banner", frequency="always"
        )
        await widget.events(
            {
                "anonymous_id": "a",
                "events": [
                    event("impression", once.id, surface="popover"),
                    event("impression", always.id, surface="banner"),
                    event("dismiss", always.id),
                ],
            }
        )
        feed = await widget.feed(anonymous_id="a")
        assert item(feed, once.id)["auto_show"] is False
        assert item(feed, always.id)["auto_show"] is True


class TestAnonymousMerge:
    async def test_state_moves_to_the_identified_user(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        a = await create_announcement(
            session, tenant.workspace_id, status="published", display="popover"
        )
        b = await create_announcement(session, tenant.workspace_id, status="published")
        await widget.events(
            {
                "anonymous_id": "anon-9",
                "events": [
                    event("impression", a.id, surface="popover"),
                    event("dismiss", a.id),
                    event("reaction", b.id, value="positive"),
                ],
            }
        )
        # The user already used another device, where b was seen.
        await widget.events(
            {"user_id": "u9", "events": [event("impression", b.id, surface="feed")]}
        )

        merged = await widget.identify(
            {"user_id": "u9", "anonymous_id": "anon-9", "attributes": {}}
        )
        assert item(merged, a.id)["dismissed"] is True
        assert item(merged, b.id)["seen"] is True
        assert item(merged, b.id)["reaction"] == "positive"

        users = (
            (
                await session.execute(
                    select(EndUser).where(col(EndUser.workspace_id) == tenant.workspace_id)
                )
            )
            .scalars()
            .all()
        )
        anonymous = next(u for u in users if u.anonymous_id == "anon-9")
        identified = next(u for u in users if u.user_id == "u9")
        assert anonymous.merged_into == identified.id
        states = (
            (
                await session.execute(
                    select(UserState).where(col(UserState.end_user_id) == anonymous.id)
                )
            )
            .scalars()
            .all()
        )
        assert states == []
        # Identifying again with the same anonymous id changes nothing.
        again = await widget.identify({"user_id": "u9", "anonymous_id": "anon-9", "attributes": {}})
        assert again.json()["announcements"] == merged.json()["announcements"]


class TestEvents:
    async def test_retried_batch_counts_once(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        a = await create_announcement(session, tenant.workspace_id, status="published")
        batch = {"anonymous_id": "a", "events": [event("impression", a.id), event("click", a.id)]}
        first = await widget.events(batch)
        assert first.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
        retry = await widget.events(batch)
        assert retry.json() == {"accepted": 0, "duplicates": 2, "rejected": []}
        state = (await session.execute(select(UserState))).scalars().one()
        assert state.seen_count == 1 and state.clicked_at is not None

    async def test_same_id_different_payload_is_rejected(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        a = await create_announcement(session, tenant.workspace_id, status="published")
        original = event("impression", a.id)
        await widget.events({"anonymous_id": "a", "events": [original]})
        reused = {**original, "type": "click"}
        response = await widget.events({"anonymous_id": "a", "events": [reused, reused]})
        body = response.json()
        assert body["accepted"] == 0
        assert [r["index"] for r in body["rejected"]] == [0, 1]
        assert "already used" in body["rejected"][0]["error"]

    async def test_bad_events_are_rejected_one_by_one(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        mine = await create_announcement(session, tenant.workspace_id, status="published")
        theirs = await create_announcement(session, other_tenant.workspace_id, status="published")
        good = event("click", mine.id)
        batch = [
            good,
            {**event("impression", mine.id), "type": "hover"},
            {k: v for k, v in event("impression", mine.id).items() if k != "id"},
            event("impression", theirs.id),
            event("impression", "ann_doesnotexist"),
            {**event("impression", mine.id), "id": "x" * 65},
            event("reaction", mine.id),
            event("dismiss"),
            {**event("impression", mine.id), "occurred_at": "yesterday"},
            "not an object",
        ]
        response = await widget.events({"anonymous_id": "a", "events": batch})
        assert response.status_code == 202
        body = response.json()
        assert body["accepted"] == 1 and body["duplicates"] == 0
        assert [r["index"] for r in body["rejected"]] == list(range(1, len(batch)))
        errors = {r["index"]: r["error"] for r in body["rejected"]}
        assert "type" in errors[1] and "id" in errors[2]
        assert theirs.id in errors[3] and "value" in errors[6] and "announcement_id" in errors[7]
        stored = (await session.execute(select(Event))).scalars().all()
        assert [e.id for e in stored] == [good["id"]]

    async def test_text_plain_beacon_body(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        a = await create_announcement(session, tenant.workspace_id, status="published")
        body = orjson.dumps({"anonymous_id": "a", "events": [event("impression", a.id)]})
        response = await widget.events(body, headers={"Content-Type": "text/plain;charset=UTF-8"})
        assert response.status_code == 202 and response.json()["accepted"] == 1

    async def test_clock_skew_is_clamped_and_flagged(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        a = await create_announcement(session, tenant.workspace_id, status="published")
        future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
        slightly_off = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
        far = event("impression", a.id, occurred_at=future)
        near = event("click", a.id, occurred_at=slightly_off)
        await widget.events({"anonymous_id": "a", "events": [far, near]})
        stored = {e.id: e for e in (await session.execute(select(Event))).scalars().all()}
        assert stored[far["id"]].clamped is True
        assert abs(stored[far["id"]].occurred_at - datetime.now(UTC)) < timedelta(minutes=1)
        assert stored[near["id"]].clamped is False
        assert stored[near["id"]].occurred_at == datetime.fromisoformat(slightly_off)

    async def test_reaction_latest_wins(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        a = await create_announcement(session, tenant.workspace_id, status="published")
        now = datetime.now(UTC)
        later = event("reaction", a.id, value="negative", occurred_at=now.isoformat())
        earlier = event(
            "reaction", a.id, value="positive", occurred_at=(now - timedelta(minutes=5)).isoformat()
        )
        await widget.events({"anonymous_id": "a", "events": [later]})
        await widget.events({"anonymous_id": "a", "events": [earlier]})  # arrives late
        assert item(await widget.feed(anonymous_id="a"), a.id)["reaction"] == "negative"

    async def test_too_many_events_is_413_and_writes_nothing(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        a = await create_announcement(session, tenant.workspace_id, status="published")
        response = await widget.events(
            {"anonymous_id": "a", "events": [event("impression", a.id) for _ in range(101)]}
        )
        assert_problem(response, 413)
        assert (await session.execute(select(func.count()).select_from(Event))).scalar_one() == 0

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            (b"{not json", 400),
            (b"[1, 2]", 422),
            (b'{"anonymous_id": "a", "events": "nope"}', 422),
            (b'{"anonymous_id": "a"}', 422),
            (b'{"events": []}', 422),
            (b'{"user_id": "' + b"u" * 257 + b'", "events": []}', 422),
        ],
    )
    async def test_bad_envelopes(self, widget: WidgetClient, body: bytes, status: int) -> None:
        response = await widget.events(body, headers={"Content-Type": "application/json"})
        assert_problem(response, status)

    async def test_wrong_content_type_is_415(self, widget: WidgetClient) -> None:
        response = await widget.events(
            b"a=1", headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert_problem(response, 415)


class TestConcurrency:
    async def test_eight_writers_with_overlapping_retries_count_exactly(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        announcements = [
            await create_announcement(session, tenant.workspace_id, status="published")
            for _ in range(3)
        ]
        users = [f"user-{n}" for n in range(8)]
        batches: list[dict[str, Any]] = []
        for user in users:
            for _ in range(5):
                batches.append(
                    {
                        "anonymous_id": user,
                        "events": [event("impression", a.id, surface="feed") for a in announcements]
                        + [event("click", announcements[0].id)],
                    }
                )
        # Every batch is sent twice, concurrently: the retries overlap their originals.
        sends = batches + batches

        async def writer(share: list[dict[str, Any]]) -> list[httpx.Response]:
            return [await widget.events(batch) for batch in share]

        results = await asyncio.gather(*(writer(sends[n::8]) for n in range(8)))
        responses = [r for rs in results for r in rs]
        assert all(r.status_code == 202 for r in responses), [
            r.text for r in responses if r.status_code != 202
        ][:3]
        accepted = sum(r.json()["accepted"] for r in responses)
        duplicates = sum(r.json()["duplicates"] for r in responses)
        assert accepted == len(batches) * 4
        assert duplicates == len(batches) * 4
        events = (await session.execute(select(func.count()).select_from(Event))).scalar_one()
        assert events == len(batches) * 4
        seen = (await session.execute(select(func.sum(UserState.seen_count)))).scalar_one()
        assert seen == len(users) * 5 * 3


class TestChangelogUrl:
    """The feed says where the public changelog is: the widget's footer links to it."""

    async def test_null_until_something_is_public_then_on_the_host_the_widget_used(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant, client: httpx.AsyncClient
    ) -> None:
        await create_announcement(session, tenant.workspace_id, status="published")
        assert (await widget.feed(user_id="u1")).json()["changelog_url"] is None
        await create_announcement(session, tenant.workspace_id, status="published", public=True)
        await asyncio.sleep(1.1)  # the snapshot's re-check (TIDINGS_WIDGET_CACHE_RECHECK_S)
        polled = await widget.feed(user_id="u1")
        assert polled.json()["changelog_url"] == f"http://testserver/changelog/{tenant.slug}"
        proxied = await widget.feed(headers={"Host": "tidings.example.org:8443"}, user_id="u1")
        assert proxied.json()["changelog_url"] == (
            f"http://tidings.example.org:8443/changelog/{tenant.slug}"
        )
        identified = await widget.identify({"user_id": "u1"})
        assert identified.json()["changelog_url"] == polled.json()["changelog_url"]
        # A Host that is no host name is not echoed into a link.
        odd = await widget.feed(headers={"Host": "x.test/<script>"}, user_id="u1")
        assert odd.json()["changelog_url"] is None

    async def test_on_the_host_name_the_workspace_claimed(
        self, widget: WidgetClient, session: AsyncSession, tenant: Tenant, client: httpx.AsyncClient
    ) -> None:
        await create_announcement(session, tenant.workspace_id, status="published", public=True)
        claimed = await client.patch(
            "/v1/workspace", json={"changelog_host": "changelog.example.com"}, headers=tenant.auth
        )
        assert claimed.status_code == 200, claimed.text
        await asyncio.sleep(1.1)
        polled = await widget.feed(user_id="u1")
        assert polled.json()["changelog_url"] == "http://changelog.example.com/"
