"""How the widget talks to the server: batches, retries, sendBeacon, polling with ETags."""

import json

from playwright.sync_api import Page, Request, Response, Route, expect

from tests.widget_e2e.conftest import POLL_AFTER_S, Embed
from tests.widget_e2e.harness import Database, Workspace, wait_until


def is_events(request: Request) -> bool:
    return request.method == "POST" and "/v1/widget/events" in request.url


def is_feed(request: Request) -> bool:
    return request.method == "GET" and "/v1/widget/announcements" in request.url


class TestEvents:
    def test_pagehide_sends_the_queue_with_sendbeacon_as_text_plain(
        self, page: Page, embed: Embed, workspace: Workspace, db: Database
    ) -> None:
        item = workspace.announce("Dark mode")
        sent: list[Request] = []
        page.on("request", lambda request: sent.append(request) if is_events(request) else None)
        page.goto(embed("/beacon", before="tidings('identify',{user_id:'u-7'});"))
        page.get_by_role("button", name="What's new").click()
        page.get_by_role("button", name="Positive").click()

        # Well before the 2 s batch timer. A synthetic pagehide first, so the beacon is seen
        # here (Playwright loses sight of requests a page sends while it goes away).
        page.evaluate("dispatchEvent(new PageTransitionEvent('pagehide'))")
        wait_until(lambda: sent, page=page)
        beacon = sent[0]
        assert beacon.headers["content-type"] == "text/plain;charset=UTF-8"
        body = json.loads(beacon.post_data or "")
        assert body["user_id"] == "u-7"
        assert sorted(e["type"] for e in body["events"]) == ["impression", "open", "reaction"]

        # Then a real one: the same events go again, with the same ids, and count once.
        page.goto(embed("/elsewhere"))
        wait_until(lambda: workspace.state(item["id"], user_id="u-7")["reaction"] == "positive")
        assert db.count_events(workspace.id, "reaction") == 1
        assert db.count_events(workspace.id, "open") == 1

    def test_a_failed_batch_is_retried_with_the_same_ids_and_counted_once(
        self, page: Page, embed: Embed, workspace: Workspace, db: Database
    ) -> None:
        item = workspace.announce("Dark mode")
        bodies: list[str] = []

        def lose_the_first_answer(route: Route) -> None:
            # The server commits the batch, but the browser never hears back.
            response = route.fetch()
            bodies.append(route.request.post_data or "")
            if len(bodies) == 1:
                route.fulfill(status=503, body="")
            else:
                route.fulfill(response=response)

        page.route("**/v1/widget/events**", lose_the_first_answer)
        page.goto(embed("/retry"))
        page.get_by_role("button", name="What's new").click()
        wait_until(lambda: len(bodies) >= 2, timeout=12, page=page)

        first, second = (json.loads(body)["events"] for body in bodies[:2])
        assert first == second  # same ids, same content
        assert db.count_events(workspace.id, "impression", item["id"]) == 1
        assert db.count_events(workspace.id, "open") == 1


class TestPolling:
    def test_honours_poll_after_s_the_etag_and_hidden_tabs(
        self, page: Page, embed: Embed, workspace: Workspace
    ) -> None:
        workspace.announce("Dark mode")
        feeds: list[tuple[int, str | None]] = []

        def record(response: Response) -> None:
            if is_feed(response.request):
                feeds.append((response.status, response.request.headers.get("if-none-match")))

        page.on("response", record)
        page.clock.install()
        page.goto(embed("/poll"))
        launcher = page.get_by_role("button", name="What's new")
        expect(launcher).to_have_attribute("aria-label", "What's new, 1 unread")
        assert feeds == [(200, None)]

        page.clock.run_for((POLL_AFTER_S - 1) * 1000)
        page.wait_for_timeout(200)
        assert len(feeds) == 1  # not before poll_after_s
        page.clock.run_for(2000)
        wait_until(lambda: len(feeds) == 2, page=page)
        status, etag = feeds[1]
        assert status == 304 and etag

        workspace.announce("Faster search")
        page.wait_for_timeout(1100)  # the server's feed cache is at most 1 s stale
        page.clock.run_for(POLL_AFTER_S * 1000 + 100)
        expect(launcher).to_have_attribute("aria-label", "What's new, 2 unread")
        assert feeds[2][0] == 200

        # Hidden tab: no polling at all; visible again: polls at once.
        page.evaluate(
            """() => {
              Object.defineProperty(document, 'hidden', {value: true, configurable: true});
              document.dispatchEvent(new Event('visibilitychange'));
            }"""
        )
        page.clock.run_for(10 * 60 * 1000)
        page.wait_for_timeout(300)
        assert len(feeds) == 3
        page.evaluate(
            """() => {
              Object.defineProperty(document, 'hidden', {value: false, configurable: true});
              document.dispatchEvent(new Event('visibilitychange'));
            }"""
        )
        page.clock.run_for(100)
        wait_until(lambda: len(feeds) == 4, page=page)

    def test_backs_off_while_the_api_fails(self, page: Page, embed: Embed) -> None:
        attempts: list[Request] = []

        def refuse(route: Route) -> None:
            attempts.append(route.request)
            route.fulfill(status=503, body="")

        page.route("**/v1/widget/announcements**", refuse)
        page.clock.install()
        page.goto(embed("/flaky"))
        wait_until(lambda: attempts, page=page)
        for _ in range(20):  # ten minutes, in steps so each retry can be answered
            page.clock.run_for(30_000)
            page.wait_for_timeout(20)
        # Polling every 5 s would be 120 attempts; 5 s doubling (with jitter) up to 5 min
        # is at most 9.
        assert 4 <= len(attempts) <= 9
