"""Limits every request meets, as pure ASGI middleware: body size and answer time.

Body: a declared ``Content-Length`` over the limit is refused before the application
runs. Any other body (chunked, or with a ``Content-Length`` that lies) is counted as it is
read: the read that crosses the limit fails, and whatever the application then makes of
that failure (FastAPI turns it into a 400) is replaced by one 413 problem response.

Time: see ``DeadlineMiddleware``.
"""

import asyncio
import contextvars
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import PayloadTooLarge, ServiceUnavailable, problem_response
from app.kit.bodies import MAX_BODY_BYTES


class BodyTooLarge(PayloadTooLarge):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The body is over {limit // 1024} KB.")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, receive, send, limit)
            return

        received = 0
        too_large = False
        app_started = False

        async def receive_within_limit() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise BodyTooLarge(limit)
            return message

        async def send_unless_refused(message: Message) -> None:
            nonlocal app_started
            if too_large and not app_started:
                return  # the application's answer to a body it never got whole
            if message["type"] == "http.response.start":
                app_started = True
            await send(message)

        try:
            await self.app(scope, receive_within_limit, send_unless_refused)
        except Exception:
            if not too_large or app_started:
                raise
        if too_large and not app_started:
            await _refuse(scope, receive, send, limit)


async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    error = BodyTooLarge(limit)
    # The unread rest of the body makes the connection useless for another request.
    response = problem_response(
        error.status,
        title=error.title,
        detail=error.detail,
        slug=error.slug,
        headers={"Connection": "close"},
    )
    await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class DeadlineMiddleware:
    """A request that has not begun its answer after ``timeout_s`` is answered 503 then.

    Pool, connect and statement timeouts each bound one wait, but a request can meet
    several in a row (a stale pooled connection, then a reconnect), and SQLAlchemy finishes
    closing a broken connection before it lets go: only a deadline on the whole bounds what
    a client waits when the database is partitioned away. The late work is not cancelled
    (cancelling mid-commit helps nobody); it ends on its own timeouts, and whatever it
    answers then is dropped. Time spent receiving the body is not counted: a slow upload
    is the client's delay, not the server's.

    One timer per app, ticking every ``TICK_S`` while requests are in flight, rather than
    one per request: this sits on the hot path.
    """

    TICK_S = 0.1

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self._in_flight: dict[int, _Clocked] = {}
        self._ticking: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = _Clocked(time.monotonic() + self.timeout_s, scope, receive, send)
        self._in_flight[id(request)] = request
        loop = asyncio.get_running_loop()
        if self._ticking is not loop:
            self._ticking = loop
            loop.call_later(self.TICK_S, self._tick, loop)
        try:
            await self.app(scope, request.receive, request.send)
        finally:
            del self._in_flight[id(request)]
            if request.answering is not None:
                await request.answering

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = time.monotonic()
        for request in list(self._in_flight.values()):
            if request.is_overdue(now):
                request.expired = True
                request.answering = loop.create_task(
                    self._answer_late(request), context=request.context
                )
        if self._in_flight and not loop.is_closed():
            loop.call_later(self.TICK_S, self._tick, loop)
        else:
            self._ticking = None

    async def _answer_late(self, request: "_Clocked") -> None:
        error = ServiceUnavailable(
            f"No answer within {self.timeout_s:g} s: the database is slow or unreachable."
        )
        response = problem_response(
            error.status,
            title=error.title,
            detail=error.detail,
            slug=error.slug,
            headers=error.headers,
        )
        await response(request.scope, request.raw_receive, request.raw_send)


class _Clocked:
    """One request on the clock, and the receive/send it is given instead of the server's."""

    __slots__ = (
        "answering",
        "context",
        "deadline",
        "expired",
        "paused_at",
        "raw_receive",
        "raw_send",
        "scope",
        "started",
    )

    def __init__(self, deadline: float, scope: Scope, receive: Receive, send: Send) -> None:
        self.deadline = deadline
        self.scope = scope
        self.raw_receive = receive
        self.raw_send = send
        self.started = False  # the app began its answer: the deadline no longer applies
        self.expired = False  # the deadline answered: the app's answer goes nowhere
        self.paused_at: float | None = None
        self.answering: asyncio.Task[None] | None = None
        self.context = contextvars.copy_context()  # the request id, for the late answer

    def is_overdue(self, now: float) -> bool:
        return (
            not self.started
            and not self.expired
            and self.paused_at is None
            and self.deadline <= now
        )

    async def receive(self) -> Message:
        if self.started or self.expired:
            return await self.raw_receive()
        self.paused_at = paused_at = time.monotonic()  # the clock stops while the client sends
        try:
            return await self.raw_receive()
        finally:
            self.deadline += time.monotonic() - paused_at
            self.paused_at = None

    async def send(self, message: Message) -> None:
        if self.expired:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self.raw_send(message)
