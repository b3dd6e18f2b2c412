"""API keys and identity secrets: generation, parsing and hashing, in one place.

A key is ``pk_`` or ``sk_`` followed by 43 base62 characters (256 random bits). Its first
15 characters (prefix + 12) find the row; the SHA-256 of the whole key proves it. Keys are
random enough that a fast hash is right here: there is nothing to brute-force.
"""

import hashlib
import hmac
import secrets
from enum import StrEnum

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BODY_LENGTH = 43
_LOOKUP_LENGTH = 3 + 12


class KeyKind(StrEnum):
    publishable = "publishable"
    secret = "secret"

    @property
    def prefix(self) -> str:
        return "pk_" if self is KeyKind.publishable else "sk_"


def _random_base62(length: int) -> str:
    return "".join(secrets.choice(_BASE62) for _ in range(length))


def generate_key(kind: KeyKind) -> str:
    return kind.prefix + _random_base62(_BODY_LENGTH)


def kind_of(key: str) -> KeyKind | None:
    """The kind a key claims to be by its prefix; ``None`` when it looks like neither."""
    return _KIND_BY_PREFIX.get(key[:3])


_KIND_BY_PREFIX = {kind.prefix: kind for kind in KeyKind}


def is_well_formed(key: str) -> bool:
    body = key[3:]
    return (
        kind_of(key) is not None
        and len(body) == _BODY_LENGTH
        and all(char in _BASE62 for char in body)
    )


def key_lookup(key: str) -> str:
    return key[:_LOOKUP_LENGTH]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(key), stored_hash)


def key_preview(kind: KeyKind, key: str) -> str:
    """What listings show: publishable keys are public, secret keys only by their start."""
    return key if kind is KeyKind.publishable else f"{key[:7]}…{key[-4:]}"


def generate_identity_secret() -> str:
    return secrets.token_hex(32)
