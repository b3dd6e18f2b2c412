"""What every request passes through, in one pure ASGI layer, outermost first:

1. **Context**: a request id (a valid incoming ``X-Request-Id``, else a new one) for the
   logs and problem bodies, ``X-Request-Id`` and ``X-Content-Type-Options`` on the answer,
   then Prometheus metrics per route template and a JSON access line.
2. **Rate limits** (app/ratelimit/policy.py): a 429 before the request costs anything;
   a 401 answer charges its client's failed-authentication bucket.
3. **Deadline**: a request that has not begun its answer after ``timeout_s`` is answered
   503 then. Pool, connect and statement timeouts each bound one wait, but a request can
   meet several in a row (a stale pooled connection, then a reconnect), and SQLAlchemy
   finishes closing a broken connection before it lets go: only a deadline on the whole
   bounds what a client waits when the database is partitioned away. The late work is not
   cancelled (cancelling mid-commit helps nobody); it ends on its own timeouts, and
   whatever it answers then is dropped. Work that writes agrees with the 503: the event
   writer rolls back what the deadline has answered, and holds the deadline of what it is
   committing (app/kit/deadlines.py), which is then answered by the commit's result.
   Time spent receiving the body is not counted: a slow upload is the client's delay,
   not the server's.
4. **Body limit**: a declared ``Content-Length`` over the limit is refused before the
   application runs. Any other body (chunked, or with a ``Content-Length`` that lies) is
   counted as it is read: the read that crosses the limit fails, and whatever the
   application then makes of that failure (FastAPI turns it into a 400) is replaced by
   one 413.

One layer, one receive wrapper and one send wrapper per request, because the widget's
feed is called by every end user: as four separate middleware these cost a third of a
304 poll.
"""

import asyncio
import logging
import random
import re
import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import ServiceUnavailable, problem_response
from app.kit.bodies import MAX_BODY_BYTES
from app.kit.deadlines import Deadline
from app.kit.limits import BodyTooLarge, body_too_large, declared_length
from app.logs import request_id_var
from app.ratelimit.policy import RateLimits

access_logger = logging.getLogger("tidings.access")

REQUESTS = Counter(
    "tidings_http_requests_total",
    "HTTP requests by route and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "tidings_http_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_NOSNIFF = (b"x-content-type-options", b"nosniff")


class RequestMiddleware:
    # Overdue requests are found by one timer per app, ticking while requests are in
    # flight, rather than one timer per request.
    TICK_S = 0.1

    def __init__(
        self,
        app: ASGIApp,
        *,
        rate_limits: RateLimits | None = None,
        timeout_s: float = 30.0,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.rate_limits = rate_limits
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes
        self._in_flight: dict[int, _Exchange] = {}
        self._ticking: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_for(_header(scope, b"x-request-id"))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        exchange = _Exchange(
            scope, receive, send, request_id, time.monotonic() + self.timeout_s, self.max_body_bytes
        )
        try:
            await self._guarded(exchange)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            count_request(scope["method"], route, exchange.status, elapsed)
            if access_logger.isEnabledFor(logging.INFO):
                _log_access(scope, route, exchange.status, elapsed)
            request_id_var.reset(token)

    async def _guarded(self, exchange: "_Exchange") -> None:
        scope = exchange.scope
        rate_limits = self.rate_limits
        client = None
        if rate_limits is not None and rate_limits.applies_to(scope):
            refusal, client = await rate_limits.admit(scope)
            if refusal is not None:
                await refusal(scope, exchange.raw_receive, exchange.stamped_send)
                return
        declared = declared_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await body_too_large(self.max_body_bytes)(
                scope, exchange.raw_receive, exchange.stamped_send
            )
            return
        self._clock_in(exchange)
        scope[_EXCHANGE] = exchange  # for deadline_of
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except Exception:
            if not exchange.too_large or exchange.app_started:
                raise
        finally:
            del self._in_flight[id(exchange)]
            # The scope and the exchange refer to each other: a cycle per request, left to
            # the garbage collector (gen-2 pauses of 50-70 ms twice a second under load).
            del scope[_EXCHANGE]
            if exchange.answering is not None:
                await exchange.answering
        if exchange.too_large and not exchange.app_started and not exchange.expired:
            await body_too_large(self.max_body_bytes)(
                scope, exchange.raw_receive, exchange.stamped_send
            )
        if client is not None and exchange.status == 401 and rate_limits is not None:
            await rate_limits.note_answer(scope, client, exchange.status)  # a failed authentication

    # --- the deadline ------------------------------------------------------------------

    def _clock_in(self, exchange: "_Exchange") -> None:
        self._in_flight[id(exchange)] = exchange
        ticking = self._ticking
        if ticking is None or not ticking.is_running():  # a stopped loop's timers never fire
            loop = asyncio.get_running_loop()
            self._ticking = loop
            loop.call_later(self.TICK_S, self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = time.monotonic()
        for exchange in list(self._in_flight.values()):
            if exchange.is_overdue(now):
                exchange.expired = True
                exchange.answering = loop.create_task(self._answer_late(exchange))
        if self._in_flight and not loop.is_closed():
            loop.call_later(self.TICK_S, self._tick, loop)
        else:
            self._ticking = None

    async def _answer_late(self, exchange: "_Exchange") -> None:
        request_id_var.set(exchange.request_id)  # for the logs; this task has its own context
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
        await response(exchange.scope, exchange.raw_receive, exchange.stamped_send)


_EXCHANGE = "tidings.exchange"


def deadline_of(scope: Scope) -> Deadline | None:
    """When the deadline answers this request 503, if it has one (app/kit/deadlines.py).

    Exact once the body is read (the clock stops while it arrives). Work that must not
    outlive its request's answer checks it: the event writer drops a batch it could not
    write in time rather than write what was answered 503, and holds the deadline while
    it commits (app/ingest/ingestor.py).
    """
    exchange: _Exchange | None = scope.get(_EXCHANGE)
    return None if exchange is None else exchange.deadline


class _Exchange:
    """One request in flight: its clock, its body count, and the answer's status."""

    __slots__ = (
        "answering",
        "app_started",
        "deadline",
        "expired",
        "limit",
        "paused_at",
        "raw_receive",
        "raw_send",
        "received",
        "request_id",
        "scope",
        "status",
        "too_large",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: str,
        deadline: float,
        limit: int,
    ) -> None:
        self.scope = scope
        self.raw_receive = receive
        self.raw_send = send
        self.request_id = request_id
        self.deadline = Deadline(deadline)
        self.limit = limit
        self.status = 500  # what is counted when nothing was answered
        self.app_started = False  # the app began its answer: the deadline no longer applies
        self.expired = False  # the deadline answered: the app's answer goes nowhere
        self.too_large = False  # the body crossed the limit: the 413 is answered instead
        self.received = 0
        self.paused_at: float | None = None
        self.answering: asyncio.Task[None] | None = None

    def is_overdue(self, now: float) -> bool:
        return (
            not self.app_started
            and not self.expired
            and self.paused_at is None
            and self.deadline.has_passed(now)
        )

    async def receive(self) -> Message:
        if self.app_started or self.expired:
            message = await self.raw_receive()
        else:
            self.paused_at = paused_at = time.monotonic()  # the clock stops while it sends
            try:
                message = await self.raw_receive()
            finally:
                self.deadline.at += time.monotonic() - paused_at
                self.paused_at = None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.too_large = True
                raise BodyTooLarge(self.limit)
        return message

    async def send(self, message: Message) -> None:
        """The application's send."""
        if self.expired or (self.too_large and not self.app_started):
            return  # answered already, or the app's answer to a body it never got whole
        if message["type"] == "http.response.start":
            self.app_started = True
            self._stamp(message)
        await self.raw_send(message)

    async def stamped_send(self, message: Message) -> None:
        """The send of our own answers (429, 413, late 503)."""
        if message["type"] == "http.response.start":
            self._stamp(message)
        await self.raw_send(message)

    def _stamp(self, start: Message) -> None:
        """Every answer's start: the status noted, our headers added."""
        self.status = start["status"]
        headers = list(start.get("headers", ()))
        headers.append((b"x-request-id", self.request_id.encode()))
        headers.append(_NOSNIFF)
        start["headers"] = headers


def _log_access(scope: Scope, route: str, status: int, elapsed: float) -> None:
    method, path = scope["method"], scope["path"]
    access_logger.info(
        "%s %s %s",
        method,
        path,
        status,
        extra={
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
        },
    )


# Each request's metrics by (method, route, status); the labelled children are looked up
# once, not per request (prometheus_client takes a lock and builds a tuple for each).
_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def count_request(method: str, route: str, status: int, elapsed: float) -> None:
    """One answer, in the request metrics (also those answered before the app: app/serving.py)."""
    children = _children.get((method, route, status))
    if children is None:
        children = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route))
        _children[(method, route, status)] = children
    children[0].inc()
    children[1].observe(elapsed)


def request_id_for(incoming: str | None) -> str:
    """A request's id: the client's ``X-Request-Id`` if it is a valid one, else a new one."""
    return incoming if incoming and _VALID_REQUEST_ID.match(incoming) else _new_request_id()


def _new_request_id() -> str:
    # An id to find a request by, not a secret: no system call per request for it.
    return f"{random.getrandbits(64):016x}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
