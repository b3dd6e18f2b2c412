"""256 KB per request body, counted on the bytes that arrive, on every route."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Message

from app.kit.bodies import MAX_BODY_BYTES
from app.middleware import RequestMiddleware
from app.models import Announcement, Event
from tests.fixtures.tenants import Tenant
from tests.workspaces.test_auth import assert_problem

OVER = MAX_BODY_BYTES + 1


async def _chunks(total: int, size: int = 16 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        chunk = b"x" * min(size, total - sent)
        sent += len(chunk)
        yield chunk


class _Probe:
    """A bare app behind the middleware: records how much of the body it was given."""

    def __init__(self) -> None:
        self.calls = 0
        self.received: list[int] = []

        async def echo_length(request: Request) -> PlainTextResponse:
            self.calls += 1
            body = await request.body()
            self.received.append(len(body))
            return PlainTextResponse(str(len(body)))

        self.app = RequestMiddleware(Starlette(routes=[Route("/", echo_length, methods=["POST"])]))

    async def call(self, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> list[Message]:
        """Drive the ASGI app by hand: a client may send whatever headers it likes."""
        pending = [
            {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
            for index, chunk in enumerate(chunks)
        ]
        sent: list[Message] = []

        async def receive() -> Message:
            return pending.pop(0) if pending else {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message)

        scope: dict[str, Any] = {
            "type": "http",
            "http_version": "1.1",
            "method": "POST",
            "path": "/",
            "raw_path": b"/",
            "root_path": "",
            "scheme": "http",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 5000),
            "server": ("testserver", 80),
        }
        await self.app(scope, receive, send)
        return sent


def _status_and_body(messages: list[Message]) -> tuple[int, dict[str, Any]]:
    start = next(m for m in messages if m["type"] == "http.response.start")
    assert sum(m["type"] == "http.response.start" for m in messages) == 1
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"application/problem+json"
    return start["status"], orjson.loads(body)


class TestMiddleware:
    async def test_declared_length_over_the_limit_never_reaches_the_app(self) -> None:
        probe = _Probe()
        messages = await probe.call([(b"content-length", str(OVER).encode())], [b"{}"])
        status, body = _status_and_body(messages)
        assert status == 413
        assert body["type"] == "urn:tidings:problem:payload-too-large"
        assert probe.calls == 0

    async def test_lying_content_length_is_caught_on_the_bytes(self) -> None:
        probe = _Probe()
        chunks = [b"x" * (64 * 1024)] * 5  # 320 KB behind a claim of 10 bytes
        status, _ = _status_and_body(await probe.call([(b"content-length", b"10")], chunks))
        assert status == 413
        assert probe.received == []  # the app never saw a body

    async def test_chunked_body_without_length_is_caught_on_the_bytes(self) -> None:
        probe = _Probe()
        chunks = [b"x" * 1000] * 300
        status, _ = _status_and_body(await probe.call([], chunks))
        assert status == 413

    async def test_a_body_of_exactly_the_limit_passes(self) -> None:
        probe = _Probe()
        chunks = [b"x" * (MAX_BODY_BYTES // 4)] * 4
        messages = await probe.call([], chunks)
        assert messages[0]["status"] == 200
        assert probe.received == [MAX_BODY_BYTES]


class TestEveryRoute:
    async def test_admin_json_route_answers_413_not_400(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        # FastAPI reads this body itself and would call a failed read a 400.
        body = orjson.dumps({"title": "Big", "body": "x" * OVER})

        async def stream() -> AsyncIterator[bytes]:
            yield body

        response = await client.post(
            "/v1/announcements",
            content=stream(),
            headers={**tenant.auth, "Content-Type": "application/json"},
        )
        assert_problem(response, 413)
        assert "request_id" in response.json()
        count = await session.scalar(select(func.count()).select_from(Announcement))
        assert count == 0

    async def test_declared_oversize_is_refused_before_authentication(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(
            "/v1/announcements", content=b"x" * OVER, headers={"Content-Type": "application/json"}
        )
        assert_problem(response, 413)
        assert response.headers["connection"] == "close"

    async def test_chunked_widget_events_are_refused_and_nothing_is_written(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        response = await client.post(
            "/v1/widget/events",
            params={"key": tenant.publishable_key},
            content=_chunks(OVER + 10_000),
            headers={"Content-Type": "text/plain"},
        )
        assert_problem(response, 413)
        count = await session.scalar(select(func.count()).select_from(Event))
        assert count == 0

    async def test_small_bodies_pass_untouched(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        response = await client.post(
            "/v1/announcements", json={"title": "Small", "body": "ok"}, headers=tenant.auth
        )
        assert response.status_code == 201, response.text
