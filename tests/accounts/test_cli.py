"""``tidings user create|list|reset-password`` against a real database."""

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from app.accounts.passwords import verify_password
from app.accounts.service import account_service, membership_service
from app.cli import app
from app.config import get_settings
from app.db import create_sessionmaker
from tests.fixtures.databases import BACKENDS, fresh_database

runner = CliRunner()


@pytest.fixture(params=BACKENDS)
def cli_database(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        monkeypatch.setenv("TIDINGS_DATABASE_URL", url)
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("COLUMNS", "200")
        get_settings.cache_clear()
        yield url
        get_settings.cache_clear()


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.output


def _member_state(url: str, email: str, password: str) -> tuple[bool, bool, list[str]]:
    """Whether ``password`` opens the account, whether it must be changed, and its roles."""

    async def read() -> tuple[bool, bool, list[str]]:
        engine = create_async_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                member = await account_service.get_by_email(session, email)
                roles = await membership_service.workspaces_of(session, member.id)
                return (
                    await verify_password(password, member.password_hash),
                    member.must_change_password,
                    [f"{workspace.slug}:{membership.role}" for membership, workspace in roles],
                )
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _printed_password(output: str) -> str:
    found = re.search(r"password\s+(\S+)", output)
    assert found, output
    return found.group(1)


class TestUserCommands:
    def test_create_prints_a_one_time_password_that_signs_in(self, cli_database: str) -> None:
        assert invoke("workspace", "create", "Acme")[0] == 0
        code, output = invoke(
            "user", "create", "Pat@Example.com", "--workspace", "acme", "--role", "owner"
        )
        assert code == 0, output
        assert "pat@example.com" in output and "owner of acme" in output
        password = _printed_password(output)
        assert _member_state(cli_database, "pat@example.com", password) == (
            True,
            True,
            ["acme:owner"],
        )

        code, output = invoke("user", "list")
        assert code == 0 and "pat@example.com" in output and "acme: owner" in output
        assert password not in output

    def test_password_from_stdin_and_reset(self, cli_database: str) -> None:
        assert invoke("workspace", "create", "Acme")[0] == 0
        code, output = invoke(
            "user",
            "create",
            "sam@example.com",
            "-w",
            "acme",
            "--password-stdin",
            stdin="a chosen long password\n",
        )
        assert code == 0, output
        assert "password " not in output.replace("password is", "")
        assert _member_state(cli_database, "sam@example.com", "a chosen long password") == (
            True,
            False,
            ["acme:editor"],
        )

        code, output = invoke("user", "reset-password", "sam@example.com")
        assert code == 0, output
        fresh = _printed_password(output)
        assert _member_state(cli_database, "sam@example.com", fresh)[:2] == (True, True)

    def test_bad_input_is_a_clear_error(self, cli_database: str) -> None:
        assert invoke("workspace", "create", "Acme")[0] == 0
        code, output = invoke(
            "user", "create", "sam@example.com", "-w", "acme", "--password-stdin", stdin="short\n"
        )
        assert code == 2 and "at least 10 characters" in output
        code, output = invoke("user", "create", "not-an-email", "-w", "acme")
        assert code == 2 and "email" in output
        code, output = invoke("user", "create", "sam@example.com", "-w", "nope")
        assert code == 1 and "nope" in output
        code, output = invoke("user", "reset-password", "nobody@example.com")
        assert code == 1 and "nobody@example.com" in output
