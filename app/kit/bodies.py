"""Request bodies read by hand: bounded on the bytes actually received, JSON or text/plain."""

from typing import Any

import orjson
from starlette.requests import Request

from app.errors import MalformedJson, PayloadTooLarge, UnsupportedMediaType, invalid_field

MAX_BODY_BYTES = 256 * 1024


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refused with 413 as soon as more than ``limit`` bytes arrive.

    Counting what arrives (not trusting Content-Length) also covers chunked uploads.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The body is over {limit // 1024} KB.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The body is over {limit // 1024} KB.")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json_object(request: Request) -> dict[str, Any]:
    """A JSON object sent as ``application/json`` or ``text/plain`` (sendBeacon's type)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/json", "text/plain", ""):
        raise UnsupportedMediaType(
            f"Send JSON as application/json or text/plain, not {content_type}."
        )
    body = await read_body(request)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedJson() from None
    if not isinstance(payload, dict):
        raise invalid_field("body", "must be a JSON object")
    return payload
