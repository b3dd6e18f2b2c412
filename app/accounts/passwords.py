"""Passwords: argon2id hashes (pwdlib), checked off the event loop, in one place.

Hashing costs tens of milliseconds of CPU by design; it runs in a worker thread so other
requests go on meanwhile. An unknown email is checked against a dummy hash, so a wrong
password and an unknown account take the same time and get the same answer.
"""

import asyncio
import secrets
from collections.abc import Callable
from functools import cache

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
_GENERATED_WORDS = 4  # 4 groups of 5 of 31 characters: 99 bits, easy to type


@cache
def _hasher() -> PasswordHash:
    # OWASP's recommended argon2id baseline: 19 MiB, 2 passes, 1 lane. pwdlib's defaults
    # (64 MiB, 3 passes, 4 lanes) took 0.6 s of a busy 2-core server per sign-in.
    return PasswordHash((Argon2Hasher(time_cost=2, memory_cost=19456, parallelism=1),))


@cache
def _dummy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or ``None`` when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters long"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters long"
    if "\x00" in password:
        return "may not contain the NUL character"
    return None


def generate_password() -> str:
    """A one-time password to print: random, grouped for reading aloud or typing."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    groups = ("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(_GENERATED_WORDS))
    return "-".join(groups)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher().hash, password)


async def verify_password(password: str, stored_hash: str | None) -> bool:
    """Whether ``password`` matches; with no stored hash, as slow as a real check, and false."""
    if stored_hash is None:
        await asyncio.to_thread(_verify, password, _dummy_hash)
        return False
    return await asyncio.to_thread(_verify, password, stored_hash)


def _verify(password: str, stored_hash: str | Callable[[], str]) -> bool:
    try:
        return _hasher().verify(
            password, stored_hash if isinstance(stored_hash, str) else stored_hash()
        )
    except UnknownHashError:  # a malformed stored hash: no password opens it
        return False
