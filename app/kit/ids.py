"""Prefixed, time-sortable identifiers such as ``ann_01JD3Z8R6Q7WB4T9X2M5N8K1PC``.

The body is a ULID (48-bit millisecond timestamp + 80 random bits, Crockford base32), so
ids sort by creation time as plain strings and index well in B-trees.
"""

import secrets
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, index = divmod(value, 32)
        chars.append(_CROCKFORD[index])
    return "".join(reversed(chars))


def new_ulid(timestamp_ms: int | None = None) -> str:
    millis = time.time_ns() // 1_000_000 if timestamp_ms is None else timestamp_ms
    return _encode(millis, 10) + _encode(secrets.randbits(80), 16)


def new_id(prefix: str) -> str:
    return f"{prefix}_{new_ulid()}"
