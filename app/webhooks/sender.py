"""One HTTP POST to a receiver, bounded in time, through the SSRF-guarded connection pool.

Whatever the receiver does (hang, trickle bytes, answer late, reset the connection, answer
500), ``post`` returns within the timeout with a ``SendResult``: it never raises for the
receiver's behaviour, so the delivery worker cannot get stuck on one.
"""

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore

from app import __version__
from app.webhooks.ssrf import (
    BlockedAddress,
    GuardedNetworkBackend,
    Resolver,
    UnresolvableHost,
    system_resolver,
)

logger = logging.getLogger("tidings.webhooks")

_USER_AGENT = f"Tidings-Webhooks/{__version__}"
# Receivers should answer with a status, not a document: the rest is not read.
_RESPONSE_BYTES_KEPT = 512


@dataclass(frozen=True, slots=True)
class SendResult:
    status: int | None
    error: str | None
    duration_ms: int

    @property
    def is_success(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def host_header(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default_port = 443 if parts.scheme == "https" else 80
    return host if parts.port in (None, default_port) else f"{host}:{parts.port}"


def _failure(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, TimeoutError | httpcore.TimeoutException):
        return f"no complete answer within {timeout_s:g} s (timeout)"
    if isinstance(exc, BlockedAddress | UnresolvableHost):
        return str(exc)
    if isinstance(exc, httpcore.ConnectError):
        return f"could not connect: {exc or type(exc).__name__}"
    if isinstance(exc, httpcore.RemoteProtocolError):
        return f"the receiver closed the connection or broke HTTP: {exc or 'no answer'}"
    if isinstance(exc, httpcore.NetworkError):
        return f"network error: {exc or type(exc).__name__}"
    return f"{type(exc).__name__}: {exc}"


async def _refusal(response: httpcore.Response) -> str:
    """A failed status, with the start of what the receiver said about it."""
    error = f"HTTP {response.status}"
    if 300 <= response.status < 400:
        return error + " (redirects are not followed)"
    kept = b""
    async for chunk in response.aiter_stream():
        kept += chunk
        if len(kept) >= _RESPONSE_BYTES_KEPT:
            break
    excerpt = " ".join(kept[:200].decode(errors="replace").split())
    return f"{error}: {excerpt}" if excerpt else error


class WebhookSender:
    def __init__(
        self, *, timeout_s: float, allow_private: bool, resolver: Resolver = system_resolver
    ) -> None:
        self.timeout_s = timeout_s
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(),
            network_backend=GuardedNetworkBackend(allow_private=allow_private, resolver=resolver),
            max_connections=50,
            keepalive_expiry=30,
        )

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> SendResult:
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        request_headers = {
            "Host": host_header(url),
            "User-Agent": _USER_AGENT,
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            **headers,
        }
        timeouts = {"connect": self.timeout_s, "read": self.timeout_s, "write": self.timeout_s}
        try:
            # The whole exchange is bounded, not only each read: a receiver sending one
            # byte a second would otherwise never time out.
            async with asyncio.timeout(self.timeout_s):
                async with self._pool.stream(
                    "POST",
                    url,
                    headers=list(request_headers.items()),
                    content=body,
                    extensions={"timeout": {**timeouts, "pool": self.timeout_s}},
                ) as response:
                    status = response.status
                    if not 200 <= status < 300:
                        error = await _refusal(response)
        except Exception as exc:
            # Anything at all is this attempt's failure, recorded and retried.
            error = _failure(exc, self.timeout_s)
            if not isinstance(exc, TimeoutError | httpcore.NetworkError | BlockedAddress):
                logger.info("webhook POST failed: %s", error)
        return SendResult(status, error, int((time.monotonic() - started) * 1000))

    async def aclose(self) -> None:
        await self._pool.aclose()
