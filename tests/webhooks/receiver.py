"""A webhook receiver on 127.0.0.1: a tiny asyncio HTTP/1.1 server that can misbehave.

It records every request, answers as its script says (a status after a delay, a hang, a
closed connection), and counts what it accepted per ``webhook-id``.
"""

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TypedDict

import orjson
from standardwebhooks.webhooks import Webhook


@dataclass(frozen=True)
class Answer:
    status: int = 200
    delay_s: float = 0.0
    body: bytes = b"ok"


@dataclass(frozen=True)
class Hang:
    """Read the request, never answer."""


@dataclass(frozen=True)
class Close:
    """Read the request, close the connection without a word."""


Behaviour = Answer | Hang | Close


class WebhookEvent(TypedDict):
    """A Standard Webhooks delivery's body (app/webhooks/events.py), not a Slack message."""

    type: str
    timestamp: str
    data: dict[str, object]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()
    wall: float = field(default_factory=time.time)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> dict[str, object]:
        loaded: dict[str, object] = orjson.loads(self.body)
        return loaded

    def event(self) -> WebhookEvent:
        loaded: WebhookEvent = orjson.loads(self.body)
        return loaded


@dataclass
class Receiver:
    script: list[Behaviour] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    accepted: Counter[str] = field(default_factory=Counter)
    port: int = 0
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _answered: asyncio.Event = field(default_factory=asyncio.Event)
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/tidings"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Received(headers, body, time.monotonic()))
            self._arrived.set()
            behaviour = self.script.pop(0) if self.script else Answer()
            if isinstance(behaviour, Hang):
                await asyncio.sleep(3600)
            if isinstance(behaviour, Answer):
                await asyncio.sleep(behaviour.delay_s)
                writer.write(
                    f"HTTP/1.1 {behaviour.status} X\r\nContent-Length: {len(behaviour.body)}"
                    "\r\nConnection: close\r\n\r\n".encode()
                    + behaviour.body
                )
                await writer.drain()
                if 200 <= behaviour.status < 300:
                    self.accepted[headers.get("webhook-id", "")] += 1
                    self._answered.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        """The requests once at least ``count`` arrived (fails after ``timeout_s``)."""
        async with asyncio.timeout(timeout_s):
            while len(self.requests) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.requests

    async def wait_for_accepted(self, count: int, timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s):
            while sum(self.accepted.values()) < count:
                self._answered.clear()
                await self._answered.wait()


@contextlib.asynccontextmanager
async def running_receiver(*script: Behaviour) -> AsyncIterator[Receiver]:
    receiver = Receiver(script=list(script))
    server = await asyncio.start_server(receiver._serve, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.close()
        # Connections left hanging (Hang) are cut, so the server closes at once.
        handlers = list(receiver._handlers)
        for handler in handlers:
            handler.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


def verified(received: Received, secret: str) -> dict[str, object]:
    """The event, after the standardwebhooks package verified its signature."""
    event: dict[str, object] = Webhook(secret).verify(received.body, received.headers)
    return event
