"""Opaque cursors for keyset pagination."""

import base64
import binascii
from typing import Any

import orjson

from app.errors import invalid_field

MAX_LIMIT = 100
DEFAULT_LIMIT = 20


def encode_cursor(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The position a cursor stands for; a 422 on ``cursor`` when it was not made by us."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, orjson.JSONDecodeError, ValueError):
        position = None
    if not isinstance(position, dict):
        raise invalid_field("cursor", "is not a cursor returned by this API; start without one")
    return position
