"""A request leaves no reference cycle behind: what it allocated is freed when it ends.

Cycles are only freed by the garbage collector, whose full collections under load took
50-70 ms twice a second (a pause of the event loop each time). Every request made one:
the scope and the request middleware's exchange referred to each other. (The event
writer still builds a few SQLAlchemy statements per group that end in cycles: once per
group, not per request; not covered here yet.)
"""

import gc
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Message

from tests.fixtures.factories import create_announcement
from tests.fixtures.tenants import Tenant


def _scope(method: str, path: str, query: bytes = b"", headers: Any = ()) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }


async def _call(app: FastAPI, scope: dict[str, Any], body: bytes = b"") -> int:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


@pytest.fixture
def saved_garbage() -> Iterator[list[Any]]:
    """What the collector finds in cycles meanwhile (kept, not freed, to be looked at)."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


async def test_requests_free_what_they_allocated(
    app: FastAPI, session: AsyncSession, tenant: Tenant, saved_garbage: list[Any]
) -> None:
    await create_announcement(session, tenant.workspace_id, status="published", public=True)
    key = tenant.publishable_key.encode()
    admin = [(b"authorization", f"Bearer {tenant.secret_key}".encode())]
    requests = [
        (_scope("GET", "/v1/widget/announcements", b"key=" + key + b"&user_id=u1"), b"", 200),
        (_scope("POST", "/v1/widget/events", b"key=" + key), b"{not json", 400),
        (_scope("GET", f"/changelog/{tenant.slug}"), b"", 200),
        (_scope("GET", "/v1/announcements/nope", headers=admin), b"", 404),
        (_scope("GET", "/healthz"), b"", 200),
    ]
    for _ in range(20):  # warm: caches filled (compiled statements too), nothing left to load
        for scope, body, status in requests:
            assert await _call(app, dict(scope), body) == status
    gc.collect()
    saved_garbage.clear()
    for _ in range(20):
        for scope, body, status in requests:
            assert await _call(app, dict(scope), body) == status
    gc.collect()
    kinds = sorted({type(thing).__name__ for thing in saved_garbage})
    assert len(saved_garbage) == 0, f"{len(saved_garbage)} objects in cycles: {kinds}"
