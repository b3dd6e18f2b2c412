"""``tidings serve --server granian``: the same app, lifespan and limits on granian.

granian (a Rust HTTP server) runs the app factory in each worker process, with the ASGI
lifespan: start-up and shutdown run once per worker, as on uvicorn. What uvicorn does for
us through options or app/serving.py, granian does differently:

- **head size**: granian's HTTP/1 read buffer (``max_buffer_size``) bounds the head;
  past it granian answers ``431`` itself, with an empty body (not our problem+json);
- **slow heads**: granian's ``header_read_timeout`` bounds the time a head takes; past it
  granian closes the connection (without an answer);
- **slow bodies**: granian has no bound on the time a body takes, so :class:`BodyDeadline`
  below, wrapped around the app, answers ``408`` once ``http_body_timeout_s`` has passed
  between the app's call and the body's last byte;
- **proxy headers**: uvicorn's own ASGI middleware, with the same trusted proxies, so the
  client address and scheme come out exactly as on uvicorn;
- **logs**: granian's access log stays off (ours, app/middleware.py, carries the request
  id); granian's own lines go through our handlers.
"""

import asyncio
import logging
import math
from typing import Any, cast

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.config import Settings, get_settings
from app.main import create_configured_app
from app.serving import body_timeout_detail, problem_body

logger = logging.getLogger("tidings.serving")
lifespan_logger = logging.getLogger("tidings.lifespan")

# On SIGTERM each worker stops accepting, waits for the requests in flight, then runs the
# lifespan's shutdown (which flushes queued events). granian has no bound of its own on
# that wait: a request's longest life (head, body, app) plus this margin is one, and a
# worker past it is killed (its queued events with it).
SHUTDOWN_MARGIN_S = 20

_DISCONNECT: Message = {"type": "http.disconnect"}


def _expects_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (
            name == b"content-length" and value.strip() not in (b"0", b"")
        ):
            return True
    return False


def _problem_408(timeout_s: float) -> tuple[Message, Message]:
    body = problem_body(408, "Request Timeout", body_timeout_detail(timeout_s))
    start: Message = {
        "type": "http.response.start",
        "status": 408,
        "headers": [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class BodyDeadline:
    """Bounds the time a request's body takes to arrive, for servers that do not.

    The clock starts when the app is called (the head is complete) and stops at the
    body's last byte. Past the bound the client gets ``408`` (unless an answer started),
    and the app sees the client as gone (``http.disconnect``); what it still sends is
    dropped. Requests without a body pay for one header scan.
    """

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _expects_body(scope):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        body_done = False
        refused = False
        started = False

        async def guarded_receive() -> Message:
            nonlocal body_done, refused
            if refused:
                return _DISCONNECT
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                refused = True
                await self._refuse(scope, send, started)
                return _DISCONNECT
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the client was answered 408 (or is being let go)
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, guarded_receive, guarded_send)

    async def _refuse(self, scope: Scope, send: Send, started: bool) -> None:
        client = scope.get("client")
        logger.warning(
            "connection refused with %s: %s",
            408,
            body_timeout_detail(self.timeout_s),
            extra={"status": 408, "client": client[0] if client else None},
        )
        if not started:
            start, body = _problem_408(self.timeout_s)
            await send(start)
            await send(body)


class LifespanLog:
    """Logs the lifespan's start-up and shutdown as uvicorn does (operators grep these)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def logged_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                lifespan_logger.info("Application startup complete.")
            elif message["type"] == "lifespan.shutdown.complete":
                lifespan_logger.info("Application shutdown complete.")
            await send(message)

        await self.app(scope, receive, logged_send)


def create_granian_app() -> ASGIApp:
    """Entry point for granian workers (a factory): the configured app, wrapped."""
    settings = get_settings()
    app: ASGIApp = create_configured_app()
    app = BodyDeadline(app, settings.http_body_timeout_s)
    if settings.trusted_proxies:
        trusted = [str(network) for network in settings.trusted_proxies]
        # uvicorn types its middleware with its own ASGI types; the protocol is the same.
        app = cast(ASGIApp, ProxyHeadersMiddleware(cast(Any, app), trusted_hosts=trusted))
    return LifespanLog(app)


# granian's loggers, without handlers of their own: their lines go to the root logger,
# which create_configured_app() points at ours in each worker.
_GRANIAN_LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {},
    "handlers": {},
    "loggers": {
        "_granian": {"handlers": [], "propagate": True},
        "granian.access": {"handlers": [], "propagate": False},
    },
}

# hyper, under granian, will not read heads with a smaller buffer than this.
_MIN_BUFFER_BYTES = 8192


def run_granian(settings: Settings, *, host: str, port: int, workers: int) -> None:
    """Serve with granian until SIGTERM/SIGINT, then shut down gracefully."""
    from granian.constants import HTTPModes, Interfaces, Loops, RuntimeModes
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    from app.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    http1 = HTTP1Settings(
        header_read_timeout=max(1, round(settings.http_header_timeout_s * 1000)),
        keep_alive=True,
        max_buffer_size=max(_MIN_BUFFER_BYTES, settings.http_max_header_bytes),
    )
    server = Server(
        "app.serving_granian:create_granian_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        http=HTTPModes.http1,
        # One Rust thread per worker, beside the Python one: with one core per worker, a
        # smoke run (noisy, not a benchmark) gave the 304s and events about twice what
        # granian's default ("mt" for ASGI) gave.
        runtime_mode=RuntimeModes.st,
        backlog=2048,  # uvicorn's
        http1_settings=http1,
        websockets=False,
        loop=Loops.auto,
        log_enabled=True,
        log_level=LogLevels(settings.log_level.lower()),
        log_dictconfig=_GRANIAN_LOGGING,
        log_access=False,  # ours (app/middleware.py) carries the request id and timing
        respawn_failed_workers=True,
        workers_kill_timeout=math.ceil(
            settings.http_header_timeout_s
            + settings.http_body_timeout_s
            + settings.request_timeout_s
            + SHUTDOWN_MARGIN_S
        ),
    )
    server.serve()
