"""Percentage rollouts bucketed with GrowthBook's v2 hash, so every replica agrees.

``hash_v2(seed, user_key)`` places a user in one of 10 000 buckets in ``[0, 1)``; the
seed is the announcement id, so each announcement samples users independently, while a
given user stays in (or out of) a rollout on every request and replica, and as the
percentage grows, users already in stay in.

GrowthBook's reference SDK is JavaScript: its FNV-1a folds in ``charCodeAt`` values,
i.e. whole UTF-16 code units (up to 0xFFFF), not UTF-8 bytes. We hash the same units so
buckets agree with GrowthBook's SDKs and with a browser (for ASCII keys every SDK agrees;
its Python SDK folds in code points, which differs only for characters beyond U+FFFF).
"""

from typing import Final

__all__ = ["fnv1a32", "hash_v2", "in_rollout"]

_FNV_OFFSET_BASIS: Final = 0x811C9DC5
_FNV_PRIME: Final = 0x01000193
_UINT32_MASK: Final = 0xFFFFFFFF
_BUCKETS: Final = 10_000


def _utf16_code_units(text: str) -> list[int]:
    encoded = text.encode("utf-16-be", "surrogatepass")
    return [(encoded[i] << 8) | encoded[i + 1] for i in range(0, len(encoded), 2)]


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a over the UTF-16 code units of ``text``, as GrowthBook's SDKs do."""
    units = text.encode("ascii") if text.isascii() else _utf16_code_units(text)
    value = _FNV_OFFSET_BASIS
    for unit in units:
        value = ((value ^ unit) * _FNV_PRIME) & _UINT32_MASK
    return value


def hash_v2(seed: str, value: str) -> float:
    """GrowthBook's hash version 2: a bucket in ``[0, 1)`` with 4 decimal places."""
    return (fnv1a32(str(fnv1a32(seed + value))) % _BUCKETS) / _BUCKETS


def in_rollout(seed: str, user_key: str, percent: float) -> bool:
    """Whether ``user_key`` falls inside the first ``percent`` (0-100) of the buckets.

    100 includes everyone and 0 no one. An empty key is never sampled (GrowthBook
    excludes users without a hash attribute), unless the rollout is 100%.
    """
    if not 0 <= percent <= 100:  # also rejects NaN
        raise ValueError(f"rollout percent must be between 0 and 100, got {percent!r}")
    if percent == 100:
        return True
    if not user_key:
        return False
    return hash_v2(seed, user_key) < percent / 100
