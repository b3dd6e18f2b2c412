"""Production refuses weak operator secrets; empty ones switch a feature off, and say so."""

import logging
import secrets
from pathlib import Path
from typing import TypedDict, Unpack

import httpx
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from app.cli import app as cli
from app.config import Settings, get_settings
from app.kit.secret_strength import secret_weakness
from tests.fixtures.apps import client_with
from tests.workspaces.test_auth import assert_problem

WEAK = [
    "a" * 24,
    "a" * 64,
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789012345678901234567",
    "password1234password1234",
    "short-but-random-Zx9",
]


class ProductionValues(TypedDict, total=False):
    admin_token: str
    redis_url: str


def production(**values: Unpack[ProductionValues]) -> Settings:
    return Settings(_env_file=None, environment="production", **values)


class TestSecretStrengthRule:
    @pytest.mark.parametrize("token", WEAK)
    def test_typed_in_tokens_are_weak(self, token: str) -> None:
        assert secret_weakness(token) is not None

    def test_generated_tokens_pass(self) -> None:
        for _ in range(2000):
            assert secret_weakness(secrets.token_urlsafe(18)) is None
            assert secret_weakness(secrets.token_hex(12)) is None
            assert secret_weakness(secrets.token_urlsafe(32)) is None


class TestProductionSettings:
    @pytest.mark.parametrize("token", WEAK)
    def test_weak_admin_token_is_refused_naming_setting_and_rule(self, token: str) -> None:
        with pytest.raises(ValidationError) as raised:
            production(admin_token=token)
        message = str(raised.value)
        assert "TIDINGS_ADMIN_TOKEN is too weak for production" in message
        assert "at least 24 characters" in message and "different" in message
        # Tracebacks (uvicorn --factory, say) must not carry the token, not even its end.
        assert token[-6:] not in message.replace("TIDINGS_ADMIN_TOKEN", "")

    def test_weak_admin_token_is_accepted_in_development(self) -> None:
        token = Settings(_env_file=None, admin_token="a" * 24).admin_token
        assert token is not None and token.get_secret_value() == "a" * 24

    def test_strong_admin_token_is_accepted(self) -> None:
        token = secrets.token_urlsafe(32)
        stored = production(admin_token=token).admin_token
        assert stored is not None and stored.get_secret_value() == token

    @pytest.mark.parametrize("blank", ["", "   "])
    def test_empty_admin_token_means_disabled(self, blank: str) -> None:
        settings = production(admin_token=blank)
        assert settings.admin_token is None
        assert any(
            "TIDINGS_ADMIN_TOKEN is empty" in line and "disabled" in line
            for line in settings.disabled_features()
        )

    def test_empty_redis_url_means_unset(self) -> None:
        assert production(redis_url="").redis_url is None


class TestStartup:
    async def test_logs_one_line_per_disabled_feature(
        self, settings: Settings, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="tidings.config")
        async with client_with(settings, admin_token="", rate_limit_widget_ip_per_s=0) as client:
            response = await client.post("/v1/workspaces", json={"name": "Acme"})
            # Disabled, not "a token nobody can match": the answer says how to turn it on.
            assert_problem(response, 401)
            assert "disabled" in response.json()["detail"]
        lines = [r.getMessage() for r in caplog.records if r.name == "tidings.config"]
        assert any("TIDINGS_ADMIN_TOKEN is empty" in line for line in lines)
        assert any("TIDINGS_RATE_LIMIT_WIDGET_IP_PER_S is 0" in line for line in lines)
        assert any("TIDINGS_REDIS_URL is " in line for line in lines)
        assert len(lines) == len(set(lines)) == 3

    def test_cli_refuses_to_start_with_a_clear_error_and_no_secret_echoed(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("TIDINGS_ENVIRONMENT", "production")
        monkeypatch.setenv("TIDINGS_ADMIN_TOKEN", "abcabcabcabc-weak-token-xyz" * 2)
        monkeypatch.setenv("TIDINGS_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(cli, ["migrate"])
        finally:
            get_settings.cache_clear()
        assert result.exit_code == 2
        assert "configuration error: TIDINGS_ADMIN_TOKEN is too weak" in result.output
        assert "weak-token" not in result.output
        assert "Traceback" not in result.output
        assert not (tmp_path / "t.db").exists()


async def test_admin_route_works_with_a_strong_token_in_production(settings: Settings) -> None:
    token = secrets.token_urlsafe(32)
    async with client_with(settings, environment="production", admin_token=token) as client:
        response = await client.post(
            "/v1/workspaces",
            json={"name": "Acme"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.text
        assert isinstance(response, httpx.Response)
