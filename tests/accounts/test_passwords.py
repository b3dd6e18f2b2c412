"""Password hashing: argon2id, verified in constant shape, policies on new passwords."""

import pytest

from app.accounts.passwords import (
    MIN_PASSWORD_LENGTH,
    generate_password,
    hash_password,
    password_problem,
    verify_password,
)


class TestHashing:
    async def test_hash_is_argon2id_salted_and_verifies(self) -> None:
        first = await hash_password("correct horse battery")
        second = await hash_password("correct horse battery")
        assert first.startswith("$argon2id$v=19$m=19456,t=2,p=1$")  # OWASP baseline
        assert first != second  # a salt of its own
        assert "correct horse" not in first
        assert await verify_password("correct horse battery", first)
        assert not await verify_password("correct horse batterY", first)

    async def test_no_stored_hash_is_false(self) -> None:
        assert not await verify_password("anything at all", None)

    async def test_malformed_stored_hash_is_false_not_an_error(self) -> None:
        assert not await verify_password("anything at all", "not-a-hash")


class TestPolicy:
    @pytest.mark.parametrize(
        ("password", "problem"),
        [
            ("short", "at least"),
            ("x" * 257, "at most"),
            ("ten chars\x00!", "NUL"),
        ],
    )
    def test_refused(self, password: str, problem: str) -> None:
        found = password_problem(password)
        assert found is not None and problem in found

    def test_accepted(self) -> None:
        assert password_problem("a" * MIN_PASSWORD_LENGTH) is None

    def test_generated_passwords_are_long_random_and_acceptable(self) -> None:
        passwords = {generate_password() for _ in range(50)}
        assert len(passwords) == 50
        assert all(password_problem(p) is None and len(p) == 23 for p in passwords)
