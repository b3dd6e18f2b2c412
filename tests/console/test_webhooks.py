"""Webhooks in Chromium (owners only): add an endpoint (its secret shown once), a signed
delivery to a receiver on 127.0.0.1 when an announcement is published, its row on the
endpoint's page, a redelivery with the same webhook-id, disable, delete."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from playwright.sync_api import Page, expect
from standardwebhooks.webhooks import Webhook

from tests.console.conftest import Site, sign_in


class _Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()

    def wait_for(self, count: int, timeout_s: float = 15.0) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"{count} deliveries expected, {len(self.received)} arrived")


@contextmanager
def receiver() -> Iterator[tuple[str, _Receiver]]:
    """An HTTP receiver on 127.0.0.1 that answers 204 and keeps what it got."""
    seen = _Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with seen.lock:
                seen.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", seen
    finally:
        server.shutdown()
        server.server_close()


class TestWebhooks:
    def test_an_owner_adds_an_endpoint_sees_its_deliveries_and_redelivers(
        self, page: Page, console_origin: str, site: Site, api: httpx.Client
    ) -> None:
        auth = {"Authorization": f"Bearer {site.workspace.secret_key}"}
        with receiver() as (url, seen):
            sign_in(page, console_origin, site.owner, path=f"/console/w/{site.slug}/webhooks")
            expect(page.get_by_text("No endpoint yet")).to_be_visible()
            # A URL that is none: the API's own words, nothing stored.
            page.get_by_label("URL").fill("ftp://example.com/x")
            page.get_by_role("button", name="Add endpoint").click()
            expect(page.get_by_role("alert")).to_contain_text("url")
            assert api.get("/v1/webhooks", headers=auth).json()["data"] == []

            page.get_by_label("URL").fill(url)
            page.get_by_label("Description").fill("Our release bot")
            page.get_by_role("checkbox", name="announcement.published").check()
            page.get_by_role("button", name="Add endpoint").click()
            expect(page.get_by_role("status")).to_have_text("Endpoint added.")
            secret = page.get_by_role("textbox", name="Signing secret").input_value()
            assert secret.startswith("whsec_")
            (listed,) = api.get("/v1/webhooks", headers=auth).json()["data"]
            assert listed["url"] == url and listed["event_types"] == ["announcement.published"]

            item = site.workspace.announce("Hooked")
            (headers, body), *_ = seen.wait_for(1)
            event = Webhook(secret).verify(body, headers)
            assert event["type"] == "announcement.published"
            assert event["data"]["id"] == item["id"]

            page.get_by_role("link", name=url).click()
            row = page.get_by_role("row").filter(has_text="announcement.published")
            expect(row).to_contain_text("delivered")
            expect(row).to_contain_text("HTTP 204")
            row.get_by_role("button", name="Redeliver").click()
            expect(page.get_by_role("status")).to_contain_text("same webhook-id")
            (first, _), (again, _) = seen.wait_for(2)[:2]
            assert again["webhook-id"] == first["webhook-id"]

            page.get_by_role("button", name="Disable").click()
            expect(page.get_by_role("status")).to_contain_text("disabled")
            assert api.get(f"/v1/webhooks/{listed['id']}", headers=auth).json()["enabled"] is False
            page.get_by_role("button", name="Enable").click()
            expect(page.get_by_role("status")).to_contain_text("enabled again")

            page.once("dialog", lambda dialog: dialog.accept())
            page.get_by_role("button", name="Delete endpoint").click()
            expect(page.get_by_role("status")).to_contain_text("deleted")
            expect(page.get_by_text("No endpoint yet")).to_be_visible()
            assert api.get("/v1/webhooks", headers=auth).json()["data"] == []

    def test_editors_cannot_open_webhooks(
        self, page: Page, console_origin: str, site: Site
    ) -> None:
        sign_in(page, console_origin, site.editor)
        expect(page.get_by_role("link", name="Webhooks")).to_have_count(0)
        answer = page.goto(f"{console_origin}/console/w/{site.slug}/webhooks")
        assert answer is not None and answer.status == 403
