"""Request bodies read by hand: bounded on the bytes actually received, JSON or text/plain."""

from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive

from app.errors import MalformedJson, PayloadTooLarge, UnsupportedMediaType, invalid_field

MAX_BODY_BYTES = 256 * 1024


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refused with 413 as soon as more than ``limit`` bytes arrive.

    Counting what arrives (not trusting Content-Length) also covers chunked uploads.
    """
    _refuse_declared(request.headers.get("content-length"), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def receive_body(
    receive: Receive, content_length: str | None, limit: int = MAX_BODY_BYTES
) -> bytes:
    """``read_body`` for a raw ASGI endpoint: the same limit, the same errors."""
    _refuse_declared(content_length, limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _refuse_declared(content_length: str | None, limit: int) -> None:
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        raise _too_large(limit)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The body is over {limit // 1024} KB.")


async def read_json_object(request: Request) -> dict[str, Any]:
    """A JSON object sent as ``application/json`` or ``text/plain`` (sendBeacon's type)."""
    refuse_other_than_json(request.headers.get("content-type"))
    return parse_json_object(await read_body(request))


def refuse_other_than_json(content_type: str | None) -> None:
    """JSON comes as ``application/json`` or ``text/plain`` (sendBeacon's), or untyped."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in ("application/json", "text/plain", ""):
        raise UnsupportedMediaType(
            f"Send JSON as application/json or text/plain, not {media_type}."
        )


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedJson() from None
    if not isinstance(payload, dict):
        raise invalid_field("body", "must be a JSON object")
    return payload
