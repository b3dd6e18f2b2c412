"""``tidings serve`` as operators run it: headers on the wire, chunked bodies, SIGTERM.

The graceful-shutdown test sends event batches from several clients, sends SIGTERM in
the middle, and then, with the server gone, reads the database: every event that got a
202 must be there. A slow upload in flight at the signal must still be answered.
"""

import asyncio
import logging
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest

from app.kit.bodies import MAX_BODY_BYTES
from app.migrate import upgrade_database
from tests.fixtures.databases import BACKENDS, fresh_database, in_thread
from tests.fixtures.live_server import SERVERS, LiveServer, live_server
from tests.fixtures.load import VISITOR, Load
from tests.fixtures.seeding import Seeded, events_found, seed_workspace

figures = logging.getLogger("tests.figures")


@pytest.fixture(scope="module", params=SERVERS)
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("live")
    url = f"sqlite+aiosqlite:///{directory / 'tidings.db'}"
    with live_server(url, directory, server=request.param) as running:
        yield running


class TestOnTheWire:
    @pytest.mark.parametrize("path", ["/healthz", "/v1/workspace", "/v1/nope", "/openapi.json"])
    def test_no_version_banner_and_nosniff_everywhere(self, server: LiveServer, path: str) -> None:
        response = httpx.get(server.base_url + path)
        if server.server == "granian":
            # granian names itself (it has no option not to), without a version.
            assert response.headers["server"] == "granian"
        else:
            assert "server" not in response.headers
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "uvicorn" not in str(response.headers).lower()

    async def test_chunked_body_over_the_limit_is_413(self, server: LiveServer) -> None:
        """Raw HTTP/1.1 with Transfer-Encoding: chunked; the answer comes mid-upload."""
        host, port = server.base_url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /v1/announcements HTTP/1.1\r\nHost: test\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"x" * 16384
        first = b""
        try:
            for _ in range(MAX_BODY_BYTES // len(chunk) + 4):
                writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                await writer.drain()
                try:  # stop sending as soon as the server has answered
                    first = await asyncio.wait_for(reader.read(1), timeout=0.05)
                except TimeoutError:
                    continue
                break
            answer = first + await asyncio.wait_for(reader.read(), timeout=5)  # until closed
        finally:
            writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"content-type: application/problem+json" in head.lower()
        assert b"payload-too-large" in body


def _event(announcement_id: str, event_id: str) -> dict[str, str]:
    return {
        "id": event_id,
        "type": "impression",
        "announcement_id": announcement_id,
        "occurred_at": datetime.now(UTC).isoformat(),
    }


def _slow_batch(
    announcement_id: str, ids: list[str], pieces: int, pause_s: float
) -> AsyncIterator[bytes]:
    events = [_event(announcement_id, event_id) for event_id in ids]
    body = orjson.dumps({"anonymous_id": VISITOR, "events": events})
    size = len(body) // pieces + 1

    async def trickle() -> AsyncIterator[bytes]:
        for start in range(0, len(body), size):
            yield body[start : start + size]
            await asyncio.sleep(pause_s)

    return trickle()


async def _until_refused(base_url: str, within_s: float = 5.0) -> None:
    """Wait until the server refuses new connections (it stops accepting on SIGTERM)."""
    deadline = time.monotonic() + within_s
    unanswered = 0
    async with httpx.AsyncClient(timeout=0.5) as client:
        while time.monotonic() < deadline:
            try:
                await client.get(f"{base_url}/healthz", headers={"Connection": "close"})
            except httpx.ConnectError:
                return
            except httpx.TimeoutException:
                unanswered += 1  # accepted by the kernel, never answered
            except httpx.TransportError:
                pass  # accepted just before the listener closed, then dropped
            await asyncio.sleep(0.05)
    raise AssertionError(
        f"still accepting connections {within_s} s after SIGTERM; {unanswered} probes were "
        "accepted but never answered (is something blocking the event loop?)"
    )


@pytest.fixture(params=BACKENDS)
def served_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        in_thread(upgrade_database, url)
        yield url


class TestWidgetHotPath:
    @pytest.mark.parametrize("server_name", SERVERS)
    async def test_feed_etag_and_events_on_the_wire(
        self, served_database: str, tmp_path: Path, server_name: str
    ) -> None:
        """The widget's two hot routes through the real server: a feed with its ETag, a
        poll answered 304, events as sendBeacon sends them and as a chunked upload."""
        seeded: Seeded = await seed_workspace(served_database)
        feed = {"key": seeded.publishable_key, "anonymous_id": VISITOR}
        ids = [f"wire-{uuid.uuid4()}" for _ in range(4)]
        with live_server(served_database, tmp_path, server=server_name) as server:
            async with httpx.AsyncClient(base_url=server.base_url) as client:
                first = await client.get("/v1/widget/announcements", params=feed)
                assert first.status_code == 200, first.text
                assert [a["id"] for a in first.json()["announcements"]] == [seeded.announcement_id]
                etag = first.headers["etag"]
                polled = await client.get(
                    "/v1/widget/announcements", params=feed, headers={"If-None-Match": etag}
                )
                assert polled.status_code == 304 and polled.content == b""
                assert polled.headers["etag"] == etag

                beacon = await client.post(
                    "/v1/widget/events",
                    params={"key": seeded.publishable_key},
                    content=orjson.dumps(
                        {
                            "anonymous_id": VISITOR,
                            "events": [_event(seeded.announcement_id, i) for i in ids[:2]],
                        }
                    ),
                    headers={"Content-Type": "text/plain"},
                )
                assert beacon.status_code == 202, beacon.text
                assert beacon.json()["accepted"] == 2
                chunked = await client.post(
                    "/v1/widget/events",
                    params={"key": seeded.publishable_key},
                    content=_slow_batch(seeded.announcement_id, ids[2:], 3, 0.05),
                    headers={"Content-Type": "text/plain"},
                )
                assert chunked.status_code == 202, chunked.text
                request_id = chunked.headers["x-request-id"]
            server.terminate()
            await asyncio.to_thread(server.wait, 30)
        assert await events_found(served_database, set(ids)) == set(ids)
        # Our access line, with our request id; the server writes none of its own.
        access = [line for line in server.log_text().splitlines() if "/v1/widget/" in line]
        assert any(request_id in line and '"status":202' in line for line in access), access
        assert len(access) == 4, access


class TestGracefulShutdown:
    @pytest.mark.parametrize("server_name", SERVERS)
    async def test_sigterm_mid_load_loses_no_acknowledged_event(
        self, served_database: str, tmp_path: Path, server_name: str
    ) -> None:
        seeded: Seeded = await seed_workspace(served_database)
        with live_server(served_database, tmp_path, server=server_name) as server:
            limits = httpx.Limits(max_connections=8)
            async with httpx.AsyncClient(base_url=server.base_url, limits=limits) as client:
                load = Load(
                    client, seeded.publishable_key, seeded.secret_key, seeded.announcement_id
                )
                stop = asyncio.Event()
                workers = asyncio.create_task(load.run(workers=8, stop=stop, max_s=30))
                await asyncio.sleep(0.8)

                # An upload that is still arriving when the signal comes.
                slow_ids = [f"slow-{uuid.uuid4()}" for _ in range(20)]
                async with httpx.AsyncClient(base_url=server.base_url) as slow_client:
                    slow = asyncio.create_task(
                        slow_client.post(
                            "/v1/widget/events",
                            params={"key": seeded.publishable_key},
                            content=_slow_batch(seeded.announcement_id, slow_ids, 20, 0.15),
                            headers={"Content-Type": "text/plain"},
                        )
                    )
                    await asyncio.sleep(0.3)
                    signalled_at = time.monotonic()
                    server.terminate()
                    await _until_refused(server.base_url)
                    assert not slow.done(), "the slow upload is still in flight"
                    slow_response = await slow

                exit_code = await asyncio.to_thread(server.wait, 30)
                exited_at = time.monotonic()
                stop.set()
                await workers

        # uvicorn finishes its shutdown, then re-raises the signal: the supervisor sees
        # SIGTERM; granian exits 0.
        assert exit_code in (0, -signal.SIGTERM), server.log_text()
        assert "Application shutdown complete." in server.log_text()
        for secret in (seeded.secret_key, seeded.publishable_key):
            assert secret not in server.log_text()  # keys travel in URLs and headers here
        assert slow_response.status_code == 202, slow_response.text
        acknowledged = load.acknowledged | set(slow_ids)
        found = await events_found(served_database, acknowledged)
        assert found == acknowledged, f"{len(acknowledged - found)} acknowledged events lost"
        # Requests well before the signal all succeeded. Ones sent in the last moment may
        # meet a keep-alive connection the server is closing: a client retry, not a loss
        # (the in-flight guarantee is the slow upload's, and no 202 went missing above).
        before = [o for o in load.outcomes if o.started < signalled_at - 0.5]
        assert before and all(o.status in (200, 202) for o in before), load.statuses()
        assert all(o.status in (200, 202, None) for o in load.outcomes), load.statuses()
        figures.info(
            "SIGTERM: %d events sent, %d acknowledged, %d found; %d requests, %s; "
            "exit %.2f s after the signal",
            load.sent + len(slow_ids),
            len(acknowledged),
            len(found),
            len(load.outcomes),
            dict(load.statuses()),
            exited_at - signalled_at,
        )


class TestBehindAProxy:
    @pytest.mark.parametrize("server_name", SERVERS)
    async def test_forwarded_addresses_from_a_trusted_proxy_are_told_apart(
        self, tmp_path: Path, server_name: str
    ) -> None:
        """The loopback client is a trusted proxy (the default): failed authentications
        count against the address it forwards, on each server alike."""
        env = {
            "TIDINGS_RATE_LIMIT_AUTH_FAILURES_PER_MIN": "6",
            "TIDINGS_RATE_LIMIT_AUTH_FAILURES_BURST": "3",
        }
        url = f"sqlite+aiosqlite:///{tmp_path / 'tidings.db'}"
        with live_server(url, tmp_path, env=env, server=server_name) as server:
            async with httpx.AsyncClient(base_url=server.base_url) as client:

                async def attempt(forwarded: str) -> int:
                    headers = {
                        "Authorization": "Bearer sk_" + "A" * 43,
                        "X-Forwarded-For": f"{forwarded}, 127.0.0.1",
                    }
                    return (await client.get("/v1/workspace", headers=headers)).status_code

                assert [await attempt("192.0.2.66") for _ in range(4)] == [401, 401, 401, 429]
                assert await attempt("192.0.2.67") == 401  # another client, its own bucket
