"""Under overload, event batches are refused by the HTTP connection, before the application.

``tidings serve`` (uvicorn) on the wire, on each database. The test holds the event writer
up from outside the server (SQLite: the writers' lock file; PostgreSQL: a lock on the
events table), fills the queue (``TIDINGS_INGEST_MAX_PENDING_EVENTS=100``), and then
sends batches that would not fit: each is answered 503 from its head, even one without a
key (the application would have answered 401), and the connection goes on serving.
"""

import asyncio
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import orjson
import pytest

from app.migrate import upgrade_database
from tests.fixtures.databases import BACKENDS, event_writers_held, fresh_database, in_thread
from tests.fixtures.live_server import LiveServer, live_server
from tests.fixtures.seeding import Seeded, seed_workspace

EVENTS = "/v1/widget/events"


@pytest.fixture(scope="module", params=BACKENDS)
def database(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[str]:
    with fresh_database(request.param, tmp_path_factory.mktemp("shed-db")) as url:
        in_thread(upgrade_database, url)
        yield url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, database: str) -> Iterator[LiveServer]:
    # One group in flight: the first batch holds the writer, the second fills the queue.
    env = {"TIDINGS_INGEST_MAX_PENDING_EVENTS": "100", "TIDINGS_INGEST_GROUPS_IN_FLIGHT": "1"}
    with live_server(database, tmp_path_factory.mktemp("shed"), env=env) as running:
        yield running


@pytest.fixture(scope="module")
def seeded(server: LiveServer, database: str) -> Seeded:
    return in_thread(asyncio.run, seed_workspace(database))


def _batch(seeded: Seeded, count: int) -> bytes:
    now = datetime.now(UTC).isoformat()
    return orjson.dumps(
        {
            "user_id": f"u-{uuid.uuid4().hex[:8]}",
            "events": [
                {
                    "id": str(uuid.uuid4()),
                    "type": "impression",
                    "announcement_id": seeded.announcement_id,
                    "occurred_at": now,
                }
                for _ in range(count)
            ],
        }
    )


def _post(body: bytes, *, key: str | None = None, close: bool = False) -> bytes:
    headers = f"POST {EVENTS}{f'?key={key}' if key else ''} HTTP/1.1\r\nHost: t\r\n"
    headers += "Content-Type: text/plain\r\n"
    if close:
        headers += "Connection: close\r\n"
    return f"{headers}Content-Length: {len(body)}\r\n\r\n".encode() + body


HEALTH = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    headers = {name.lower(): value for name, value in (line.split(": ", 1) for line in lines[1:])}
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 5)
    return int(lines[0].split(" ")[1]), headers, body


def _assert_shed(answer: tuple[int, dict[str, str], bytes]) -> None:
    status, headers, body = answer
    assert status == 503
    assert headers["content-type"] == "application/problem+json"
    assert headers["retry-after"] == "1"
    assert headers["x-content-type-options"] == "nosniff"
    assert re.fullmatch(r"[0-9a-f]{16}|b-7", headers["x-request-id"])
    problem = orjson.loads(body)
    assert problem["type"] == "urn:tidings:problem:service-unavailable"
    assert "Too many events are waiting" in problem["detail"]


async def _shed_count(client: httpx.AsyncClient) -> float:
    metrics = (await client.get("/metrics")).text
    pattern = (
        r'tidings_http_requests_total\{method="POST",route="/v1/widget/events",status="503"\} (\S+)'
    )
    found = re.search(pattern, metrics)
    return float(found.group(1)) if found else 0.0


async def _no_key(host: str, port: str) -> float:
    """How long the shed request waited for its answer."""
    reader, writer = await asyncio.open_connection(host, int(port))
    # No key at all: past the head, the application would answer 401.
    sent_at = time.monotonic()
    writer.write(_post(b"x" * 200))
    _assert_shed(await _answer(reader))
    waited = time.monotonic() - sent_at  # its Retry-After: a client resending at once waits
    # Kept alive: what comes next is read at once.
    sent_at = time.monotonic()
    writer.write(HEALTH)
    assert (await _answer(reader))[0] == 200
    assert time.monotonic() - sent_at < 0.5
    writer.close()
    return waited


async def _request_id(host: str, port: str) -> None:
    reader, writer = await asyncio.open_connection(host, int(port))
    # The client's request id comes back, as on every answer.
    writer.write(_post(b"x" * 200).replace(b"Host: t", b"Host: t\r\nX-Request-Id: b-7"))
    answer = await _answer(reader)
    _assert_shed(answer)
    assert answer[1]["x-request-id"] == "b-7"
    writer.close()


async def _pipelined(host: str, port: str, seeded: Seeded) -> None:
    reader, writer = await asyncio.open_connection(host, int(port))
    # In step: two pipelined batches, then a request served.
    writer.write(_post(_batch(seeded, 3), key=seeded.publishable_key) * 2 + HEALTH)
    _assert_shed(await _answer(reader))
    _assert_shed(await _answer(reader))
    assert (await _answer(reader))[0] == 200
    writer.close()


async def _chunked(host: str, port: str) -> None:
    reader, writer = await asyncio.open_connection(host, int(port))
    # No declared size (a full batch, then): its body is read to the end all the same.
    writer.write(
        f"POST {EVENTS} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n0\r\n\r\n".encode()
        + HEALTH
    )
    _assert_shed(await _answer(reader))
    assert (await _answer(reader))[0] == 200
    writer.close()


async def _closing(host: str, port: str) -> None:
    reader, writer = await asyncio.open_connection(host, int(port))
    # Asked to close: it does, after the answer.
    writer.write(_post(b"y" * 100, close=True))
    status, headers, _ = await _answer(reader)
    assert status == 503 and headers["connection"] == "close"
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


class TestShedding:
    async def test_a_full_queue_refuses_batches_from_their_head(
        self, server: LiveServer, seeded: Seeded, database: str
    ) -> None:
        host, port = server.base_url.removeprefix("http://").split(":")
        async with httpx.AsyncClient(base_url=server.base_url, timeout=15) as client:
            shed_before = await _shed_count(client)
            async with event_writers_held(database):
                # The writer takes the first batch and waits; the second fills the queue.
                first = asyncio.ensure_future(
                    client.post(
                        f"{EVENTS}?key={seeded.publishable_key}", content=_batch(seeded, 100)
                    )
                )
                await asyncio.sleep(0.3)
                second = asyncio.ensure_future(
                    client.post(
                        f"{EVENTS}?key={seeded.publishable_key}", content=_batch(seeded, 100)
                    )
                )
                await asyncio.sleep(0.3)

                # Each case on its own connection, all at once.
                others = [
                    _request_id(host, port),
                    _pipelined(host, port, seeded),
                    _chunked(host, port),
                    _closing(host, port),
                ]
                no_key = asyncio.ensure_future(_no_key(host, port))
                await asyncio.gather(*others)
                waited = await no_key
                assert 0.9 <= waited < 3
            assert (await asyncio.wait_for(first, 15)).status_code == 202
            assert (await asyncio.wait_for(second, 15)).status_code in (202, 503)
            # The queue drained: batches reach the application again.
            after = await client.post(
                f"{EVENTS}?key={seeded.publishable_key}", content=_batch(seeded, 2)
            )
            assert after.status_code == 202 and after.json()["accepted"] == 2
            assert (await client.post(EVENTS, content=b"{}")).status_code == 401
            # Counted like any answer of the route.
            assert await _shed_count(client) - shed_before == 6
