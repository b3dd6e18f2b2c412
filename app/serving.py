"""The HTTP/1.1 connection as ``tidings serve`` runs it: uvicorn's httptools protocol,
bounded against clients that send too much or too slowly.

uvicorn bounds neither the size of a request's head nor the time it takes to arrive, and
the request deadline (app/middleware.py) does not count the time a body takes to arrive:
a client trickling a head or a body one byte at a time kept its connection (and its
buffers) forever. Here every connection is always in one phase, and each phase but the
application's own has a bound:

- **head**: from the connection's start, or the end of the previous answer, until the
  request's head is complete: at most ``http_header_timeout_s``, and at most
  ``http_max_header_bytes`` of request line and headers (431 past that);
- **body**: from the end of the head until the body is complete: at most
  ``http_body_timeout_s``;
- **application**: the app answers; the request deadline bounds that.

A connection past its bound gets ``408`` (when nothing was answered yet) and is closed.
The clocks are checked by one timer per process, ticking while connections are open, so
a request pays only for noting the time of its phase changes.

**Shedding.** Under overload most event batches are refused (503), and clients that resend
at once come straight back: through uvicorn's request cycle, an ASGI task, Starlette and
the middleware, each refusal cost more of the only core than the writing it made room
for. A route may register a check (``shed_when_busy``: the event writer's "is my queue
full?"); while it says busy, its requests are answered 503 here, from the request's head,
without reaching the application: the body is read and dropped, the connection kept.
The 503 is written after the ``Retry-After`` it gives (1 s), with the connection not read
meanwhile: a client that resends at once is refused once a second per connection rather
than as fast as one core can refuse (which left the writer next to nothing), and what it
sends next is read as it arrives, its deadline whole. They are counted in the request
metrics like any other answer (the wait included), not logged one by one.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.config import Settings, get_settings
from app.errors import ServiceUnavailable
from app.middleware import count_request, request_id_for

logger = logging.getLogger("tidings.serving")


class _Phase(Enum):
    head = "head"
    body = "body"
    application = "application"
    closing = "closing"  # answered and half-closed: what still arrives is read and dropped


# How long a refused client may go on sending (unread) before the connection is dropped.
# Closing at once, with its data unread, makes the kernel reset the connection, and the
# client loses the answer that says what it did wrong.
LINGER_S = 2.0


@dataclass(frozen=True, slots=True)
class _Shedder:
    method: str
    route: str
    is_busy: Callable[[str | None], bool]  # given the declared Content-Length, if any
    head: bytes  # the 503's, but for the request id and the connection's end
    body: bytes

    def answer(self, request_id: str, keep_alive: bool) -> bytes:
        ending = b"\r\n" if keep_alive else b"connection: close\r\n\r\n"
        return b"%sx-request-id: %s\r\n%s%s" % (
            self.head,
            request_id.encode("latin-1"),
            ending,
            self.body,
        )


# A shed request's Retry-After; its connection is not read again before then.
SHED_RETRY_AFTER_S = 1

# (method, path) -> its shedder, in this process.
_shedders: dict[tuple[bytes, bytes], _Shedder] = {}


def shed_when_busy(
    method: str, path: str, is_busy: Callable[[str | None], bool], detail: str
) -> Callable[[], None]:
    """Answer ``method path`` 503 before the application while ``is_busy`` says so.

    Returns what undoes it (at the application's shutdown)."""
    body = problem_body(503, ServiceUnavailable.title, detail)
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "content-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\n"
        f"retry-after: {SHED_RETRY_AFTER_S}\r\n"
        "cache-control: no-store\r\n"
        "x-content-type-options: nosniff\r\n"
    )
    key = (method.encode(), path.encode())
    shedder = _Shedder(method, path, is_busy, head.encode("latin-1"), body)
    _shedders[key] = shedder

    def stop() -> None:
        if _shedders.get(key) is shedder:
            del _shedders[key]

    return stop


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the head size and phase time limits above."""

    TICK_S: ClassVar[float] = 0.5
    _limits: ClassVar[Settings | None] = None
    _ticking: ClassVar[asyncio.AbstractEventLoop | None] = None
    _open: ClassVar[set["GuardedHttpToolsProtocol"]] = set()

    _phase: _Phase
    _since: float
    _head_bytes: int  # of the head being read, while _reading_head
    _reading_head: bool  # between two requests' heads (timers aside: pipelining)
    _expects_body: bool
    _shedding: _Shedder | None  # the request being read is refused before the application
    _shed_at: float
    _shed_request_id: str | None
    _shed_answer: tuple[_Shedder, bytes] | None  # to be written when its time comes
    _shed_timer: asyncio.TimerHandle | None

    @classmethod
    def limits(cls) -> Settings:
        # Read here, in each worker process, rather than passed in: uvicorn's workers
        # import this class by name and get nothing else from the parent.
        if cls._limits is None:
            cls._limits = get_settings()
        return cls._limits

    # --- phases ------------------------------------------------------------------------

    def _enter(self, phase: _Phase) -> None:
        self._phase = phase
        self._since = time.monotonic()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_bytes = 0
        self._reading_head = True
        self._expects_body = False
        self._shedding = None
        self._shed_answer = self._shed_timer = None
        self._enter(_Phase.head)
        self._open.add(self)
        self._start_ticking()

    def connection_lost(self, exc: Exception | None) -> None:
        self._open.discard(self)
        if self._shed_timer is not None:
            self._shed_timer.cancel()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        if self._shed_answer is not None:
            self._send_shed_answer()  # a pipelined request follows: its answer goes first
        super().on_message_begin()
        self._expects_body = False

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"transfer-encoding" or (
            lowered == b"content-length" and value.strip() not in (b"0", b"")
        ):
            self._expects_body = True
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._enter(_Phase.body if self._expects_body else _Phase.application)
        if _shedders and self._sheds():
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._shedding is None:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._reading_head = True  # whatever comes next is the next request's head
        self._head_bytes = 0
        if self._shedding is not None:
            self._answer_shed(self._shedding)
            return
        self._enter(_Phase.application)
        super().on_message_complete()

    # --- shedding ----------------------------------------------------------------------

    def _sheds(self) -> bool:
        """Whether the request whose head was just read is refused here (see the top)."""
        url = self.url
        query = url.find(b"?")
        shedder = _shedders.get((self.parser.get_method(), url if query < 0 else url[:query]))
        if shedder is None or self.expect_100_continue:
            return False
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            return False  # pipelined behind an answer still to come: the usual way
        length = request_id = None
        for name, value in self.headers:
            if name == b"content-length":
                length = value.decode("latin-1")
            elif name == b"x-request-id":
                request_id = value.decode("latin-1")
        if not shedder.is_busy(length):
            return False
        self._shedding = shedder
        self._shed_at = time.perf_counter()
        self._shed_request_id = request_id
        return True

    def _answer_shed(self, shedder: _Shedder) -> None:
        """The shed request is read whole: its answer is due (``data_received`` sends it)."""
        self._shedding = None
        keep_alive = self.parser.should_keep_alive() and self.parser.get_http_version() == "1.1"
        answer = shedder.answer(request_id_for(self._shed_request_id), keep_alive)
        if keep_alive:
            self._enter(_Phase.head)
            self._shed_answer = (shedder, answer)
        else:
            self.transport.write(answer)
            count_request(shedder.method, shedder.route, 503, time.perf_counter() - self._shed_at)
            self._enter(_Phase.closing)
            if self.transport.can_write_eof():
                self.transport.write_eof()
            else:
                self.transport.close()

    def _answer_shed_later(self) -> None:
        """Answer after the Retry-After the answer gives, reading nothing meanwhile.

        A client that resends at once is then refused once a second per connection, not
        as fast as the loop can refuse it; the next request it sends is read as it comes,
        with its whole deadline ahead of it."""
        if self._shed_timer is None:
            self.flow.pause_reading()
            self._shed_timer = self.loop.call_later(SHED_RETRY_AFTER_S, self._send_shed_answer)

    def _send_shed_answer(self) -> None:
        pending, self._shed_answer = self._shed_answer, None
        if self._shed_timer is not None:
            self._shed_timer.cancel()
            self._shed_timer = None
            self.flow.resume_reading()
        if pending is None or self.transport.is_closing():
            return
        shedder, answer = pending
        self.transport.write(answer)
        count_request(shedder.method, shedder.route, 503, time.perf_counter() - self._shed_at)
        self._enter(_Phase.head)

    def on_response_complete(self) -> None:
        # A pipelined request already read goes straight to the application.
        self._enter(_Phase.application if self.pipeline else _Phase.head)
        super().on_response_complete()

    def _is_finished(self) -> bool:
        return self._phase is _Phase.closing or self.transport.is_closing()

    def data_received(self, data: bytes) -> None:
        self._receive(data)
        if self._shed_answer is not None:
            self._answer_shed_later()  # nothing came after the shed request

    def _receive(self, data: bytes) -> None:
        if self._is_finished():
            return
        if not self._reading_head:
            super().data_received(data)
            return
        # A head is counted as it arrives, not once complete: the parser keeps a header's
        # value whole until its end, so an 8 MB header would be in memory before we knew.
        # What may still be head is fed at most one byte past the limit at a time.
        limit = self.limits().http_max_header_bytes
        while data:
            room = limit + 1 - self._head_bytes
            piece, data = (data, b"") if len(data) <= room else (data[:room], data[room:])
            self._head_bytes += len(piece)
            super().data_received(piece)
            if self._is_finished():
                return
            if not self._reading_head:
                if data:
                    self._receive(data)  # the body, maybe the next head (counted)
                return
            if self._head_bytes > limit:
                self._refuse_head()
                return

    def _refuse_head(self) -> None:
        limit = self.limits().http_max_header_bytes
        self._answer_and_close(
            431,
            "Request Header Fields Too Large",
            f"The request line and headers exceed {limit} bytes; send less (a long cookie or "
            "a key pasted in the wrong place?).",
        )

    # --- the clock ---------------------------------------------------------------------

    def _start_ticking(self) -> None:
        cls = type(self)
        ticking = cls._ticking
        if ticking is None or ticking is not self.loop or not ticking.is_running():
            cls._ticking = self.loop
            self.loop.call_later(cls.TICK_S, cls._tick, self.loop)

    @classmethod
    def _tick(cls, loop: asyncio.AbstractEventLoop) -> None:
        now = time.monotonic()
        limits = cls.limits()
        for connection in list(cls._open):
            if connection.loop is loop:
                connection._check(now, limits)
        if cls._open and not loop.is_closed():
            loop.call_later(cls.TICK_S, cls._tick, loop)
        else:
            cls._ticking = None

    def _check(self, now: float, limits: Settings) -> None:
        age = now - self._since
        if self._phase is _Phase.closing:
            if age > LINGER_S:
                self.transport.abort()
        elif self._phase is _Phase.head and age > limits.http_header_timeout_s:
            if self._head_bytes == 0 and not self._has_unanswered_request():
                # An idle kept-alive connection: uvicorn's keep-alive timeout closes it,
                # and a connection that never sent a byte is simply closed.
                self.transport.close()
                return
            self._answer_and_close(
                408,
                "Request Timeout",
                f"The request's head did not arrive within {limits.http_header_timeout_s:g} s.",
            )
        elif self._phase is _Phase.body and age > limits.http_body_timeout_s:
            self._answer_and_close(
                408, "Request Timeout", body_timeout_detail(limits.http_body_timeout_s)
            )

    def _has_unanswered_request(self) -> bool:
        cycle = self.cycle
        return cycle is not None and not cycle.response_complete

    def _answer_and_close(self, status: int, title: str, detail: str) -> None:
        transport = self.transport
        if transport.is_closing() or self._phase is _Phase.closing:
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            transport.write(_problem(status, title, detail))
            if cycle is not None:
                # Whatever the application still sends for this request goes nowhere.
                cycle.response_complete = True
        logger.warning(
            "connection refused with %s: %s",
            status,
            detail,
            extra={"status": status, "client": self.client[0] if self.client else None},
        )
        self._enter(_Phase.closing)
        self.pipeline.clear()
        if transport.can_write_eof():
            transport.write_eof()  # the answer, then end of stream; dropped in LINGER_S
        else:
            transport.close()


_SLUGS = {
    408: "request-timeout",
    431: "request-header-fields-too-large",
    503: "service-unavailable",
}


def problem_body(status: int, title: str, detail: str) -> bytes:
    """The problem+json the connection answers with itself (408, 431, 503)."""
    slug = _SLUGS[status]
    return orjson.dumps(
        {"type": f"urn:tidings:problem:{slug}", "title": title, "status": status, "detail": detail}
    )


def body_timeout_detail(timeout_s: float) -> str:
    return f"The request's body did not arrive within {timeout_s:g} s."


def _problem(status: int, title: str, detail: str) -> bytes:
    body = problem_body(status, title, detail)
    head = (
        f"HTTP/1.1 {status} {title}\r\n"
        "content-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


def uvicorn_protocol_options() -> dict[str, Any]:
    """What ``tidings serve`` passes to uvicorn for its HTTP connections."""
    return {"http": GuardedHttpToolsProtocol}
