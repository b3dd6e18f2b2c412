"""Clients that send too much or too slowly, against ``tidings serve`` on the wire, on
each server (uvicorn, granian).

The server gets short bounds here (1 s for a head, 1.5 s for a body) so that each case
ends quickly; the defaults are 10 s and 30 s (app/serving.py, app/serving_granian.py).
Where granian enforces a bound itself its answer differs (docs/operations.md): a head
too large gets a bare 431 (or, sent in one go, a reset connection), a slow head a closed
connection, and it takes at most 100 header lines.
"""

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.fixtures.databases import in_thread
from tests.fixtures.live_server import SERVERS, LiveServer, live_server
from tests.fixtures.seeding import Seeded, seed_workspace

HEAD_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.5
MAX_HEADER_BYTES = 16 * 1024


@pytest.fixture(scope="module", params=SERVERS)
def server_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory, server_name: str) -> str:
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('slow-db') / 'tidings.db'}"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, database: str, server_name: str
) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("slow")
    env = {
        "TIDINGS_HTTP_HEADER_TIMEOUT_S": str(HEAD_TIMEOUT_S),
        "TIDINGS_HTTP_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "TIDINGS_HTTP_MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
    }
    with live_server(database, directory, env=env, server=server_name) as running:
        yield running


@pytest.fixture(scope="module")
def seeded(server: LiveServer, database: str) -> Seeded:
    """A workspace, so that widget requests pass authentication and reach their body."""
    return in_thread(asyncio.run, seed_workspace(database))


async def _connect(server: LiveServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = server.base_url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def _answer(
    reader: asyncio.StreamReader, timeout_s: float
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the answer."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout_s)
    lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {name.lower(): value for name, value in (line.split(": ", 1) for line in lines[1:])}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Send what the server may refuse halfway: it answers and closes without reading on."""
    with contextlib.suppress(ConnectionError):
        writer.write(data)
        await writer.drain()


def _rss_kb(server: LiveServer) -> int:
    """Of the server's processes: uvicorn serves in its own, granian in a child."""
    pids = [server.process.pid]
    for task in Path(f"/proc/{server.process.pid}/task").iterdir():
        pids += [int(pid) for pid in (task / "children").read_text().split()]
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


async def _refused_head(server: LiveServer, reader: asyncio.StreamReader) -> None:
    """A head too large is refused: 431 with a problem on uvicorn; on granian a bare 431,
    or a reset connection when the client sent on after the limit (granian does not
    linger to read what it will drop)."""
    try:
        status, headers, body = await _answer(reader, 10)
    except (ConnectionError, asyncio.IncompleteReadError):
        assert server.server == "granian"
        return
    assert status == 431
    if server.server == "granian":
        assert body == b""
        return
    assert headers["content-type"] == "application/problem+json"
    assert str(MAX_HEADER_BYTES) in orjson.loads(body)["detail"]


class TestHeadSize:
    async def test_an_8_mb_header_is_431_and_costs_no_memory(self, server: LiveServer) -> None:
        before = _rss_kb(server)
        for _ in range(19):
            reader, writer = await _connect(server)
            await _send(
                writer,
                b"GET /v1/widget/announcements?anonymous_id=a HTTP/1.1\r\nHost: t\r\n"
                + b"X-Tidings-Key: pk_"
                + b"A" * (8 * 1024 * 1024)
                + b"\r\n\r\n",
            )
            await _refused_head(server, reader)
            writer.close()
        growth_kb = _rss_kb(server) - before
        assert growth_kb < 10 * 1024, f"RSS grew {growth_kb} KB"
        async with httpx.AsyncClient() as client:
            assert (await client.get(server.base_url + "/healthz")).status_code == 200

    async def test_many_small_headers_add_up(self, server: LiveServer) -> None:
        reader, writer = await _connect(server)
        fillers = "".join(f"X-Filler-{index}: {'v' * 60}\r\n" for index in range(400))
        await _send(writer, f"GET /healthz HTTP/1.1\r\nHost: t\r\n{fillers}\r\n".encode())
        await _refused_head(server, reader)
        writer.close()

    def test_headers_within_the_limit_are_served(self, server: LiveServer) -> None:
        # About 7 KB in 45 lines (granian refuses more than 100 lines, whatever their size).
        headers = {f"x-filler-{index}": "v" * 150 for index in range(40)}
        assert httpx.get(server.base_url + "/healthz", headers=headers).status_code == 200


class TestSlowClients:
    async def test_a_trickled_head_is_cut_off_within_the_bound(self, server: LiveServer) -> None:
        reader, writer = await _connect(server)
        started = time.monotonic()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        await writer.drain()

        async def trickle() -> None:
            for _ in range(50):
                await asyncio.sleep(0.2)
                await _send(writer, b"X")

        trickling = asyncio.create_task(trickle())
        try:
            if server.server == "granian":  # granian closes the connection, unanswered
                assert await asyncio.wait_for(reader.read(), HEAD_TIMEOUT_S + 3) == b""
            else:
                status, _, body = await _answer(reader, HEAD_TIMEOUT_S + 3)
                assert status == 408
                assert "head" in orjson.loads(body)["detail"]
        finally:
            trickling.cancel()
            writer.close()
        assert time.monotonic() - started < HEAD_TIMEOUT_S + 1.5

    async def test_a_silent_connection_is_closed(self, server: LiveServer) -> None:
        reader, writer = await _connect(server)
        started = time.monotonic()
        assert await asyncio.wait_for(reader.read(), HEAD_TIMEOUT_S + 3) == b""
        writer.close()
        assert time.monotonic() - started < HEAD_TIMEOUT_S + 1.5

    @pytest.mark.parametrize("path", ["/v1/widget/events", "/v1/announcements"])
    async def test_a_stalled_body_is_408_within_the_bound(
        self, server: LiveServer, seeded: Seeded, path: str
    ) -> None:
        reader, writer = await _connect(server)
        started = time.monotonic()
        writer.write(
            f"POST {path}?key={seeded.publishable_key} HTTP/1.1\r\nHost: t\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{".encode()
        )
        await writer.drain()
        status, _, body = await _answer(reader, BODY_TIMEOUT_S + 3)
        writer.close()
        assert status == 408
        assert "body" in orjson.loads(body)["detail"]
        assert time.monotonic() - started < BODY_TIMEOUT_S + 1.5

    async def test_forty_trickling_connections_are_all_let_go(
        self, server: LiveServer, seeded: Seeded
    ) -> None:
        request = (
            "POST /v1/widget/events HTTP/1.1\r\nHost: t\r\n"
            f"X-Tidings-Key: {seeded.publishable_key}\r\n"
            "Content-Type: text/plain\r\nContent-Length: 50\r\n\r\n"
        )

        async def one() -> int:
            reader, writer = await _connect(server)
            await _send(writer, request.encode())
            answer = asyncio.create_task(_answer(reader, BODY_TIMEOUT_S + 5))
            for _ in range(20):  # one byte every 0.25 s: 5 s for the whole body
                await asyncio.sleep(0.25)
                if answer.done():
                    break
                await _send(writer, b"x")
            status, headers, _ = await answer
            writer.close()
            assert headers["connection"] == "close"
            return status

        statuses = await asyncio.gather(*(one() for _ in range(40)))
        assert statuses == [408] * 40
        async with httpx.AsyncClient() as client:
            assert (await client.get(server.base_url + "/healthz")).status_code == 200

    async def test_a_slow_but_steady_client_within_the_bounds_is_served(
        self, server: LiveServer
    ) -> None:
        reader, writer = await _connect(server)
        for part in (b"GET /heal", b"thz HTTP/1.1\r\nHo", b"st: t\r\nConnection: close\r\n\r\n"):
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(HEAD_TIMEOUT_S / 4)
        status, _, _ = await _answer(reader, 5)
        writer.close()
        assert status == 200

    def test_kept_alive_connections_serve_request_after_request(self, server: LiveServer) -> None:
        with httpx.Client(base_url=server.base_url) as client:
            for _ in range(3):
                assert client.get("/healthz").status_code == 200
                time.sleep(HEAD_TIMEOUT_S * 0.6)  # idle between requests is not a slow head
