"""Settings: every knob is a ``TIDINGS_*`` environment variable (or a line in ``.env``)."""

from enum import StrEnum
from functools import lru_cache
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    development = "development"
    production = "production"


class LogFormat(StrEnum):
    json = "json"
    text = "text"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TIDINGS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Environment = Environment.development
    database_url: str = "sqlite+aiosqlite:///./tidings.db"
    admin_token: SecretStr | None = None
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.json

    widget_poll_after_s: int = Field(
        default=60, ge=5, le=3600, description="How often widgets poll the feed."
    )
    widget_cache_recheck_s: float = Field(
        default=1.0, ge=0, le=10, description="Staleness bound of the per-process feed cache."
    )

    widget_path: str | None = Field(
        default=None, description="The built widget script (default: the one shipped)."
    )
    event_retention_days: int = Field(
        default=180, ge=1, le=3650, description="Raw events older than this are purged."
    )

    # Pool and statement timeouts keep a sick database from turning into hung requests.
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_pool_timeout_s: float = Field(default=5.0, gt=0, le=60)
    db_statement_timeout_ms: int = Field(default=5000, ge=100, le=600_000)
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0, le=60_000)

    @model_validator(mode="after")
    def _refuse_weak_admin_token(self) -> Self:
        token = self.admin_token.get_secret_value() if self.admin_token else None
        if token is not None and len(token) < 24 and self.environment is Environment.production:
            raise ValueError(
                "TIDINGS_ADMIN_TOKEN must be at least 24 characters in production "
                "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
