"""Settings: every knob is a ``TIDINGS_*`` environment variable (or a line in ``.env``)."""

from enum import StrEnum
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, Any, Self

import orjson
from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.kit.secret_strength import GENERATE_HINT, secret_weakness


class Environment(StrEnum):
    development = "development"
    production = "production"


class LogFormat(StrEnum):
    json = "json"
    text = "text"


class _OperatorGenerated:
    """Marks a secret the operator makes up: production refuses a weak one (see below)."""


def _blank_is_unset(value: Any) -> Any:
    # `TIDINGS_X=` in a compose file or .env means "none": the feature is off, and said so
    # at start-up (Settings.disabled_features), never a secret that nobody can match.
    if isinstance(value, str | SecretStr):
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not text.strip():
            return None
    return value


# Every secret-like setting is one of these two types. Blank means unset for both;
# GeneratedSecret is also held to the strength rule in production (app/kit/secret_strength.py).
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_blank_is_unset)]
GeneratedSecret = Annotated[
    SecretStr | None, BeforeValidator(_blank_is_unset), _OperatorGenerated()
]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TIDINGS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # A refused setting's error must not quote the environment (secrets in it).
        hide_input_in_errors=True,
    )

    environment: Environment = Environment.development
    database_url: str = "sqlite+aiosqlite:///./tidings.db"
    admin_token: GeneratedSecret = None
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.json

    widget_poll_after_s: int = Field(
        default=60, ge=5, le=3600, description="How often widgets poll the feed."
    )
    widget_cache_recheck_s: float = Field(
        default=1.0, ge=0, le=10, description="Staleness bound of the per-process feed cache."
    )

    ingest_window_ms: float = Field(
        default=2.0, ge=0, le=100, description="How long event writes wait to share a commit."
    )
    ingest_max_pending_events: int = Field(
        default=50_000, ge=100, description="Queued events before answering 503."
    )
    ingest_groups_in_flight: int = Field(
        default=2, ge=1, le=8, description="PostgreSQL: event groups written at once."
    )
    demo_key: str | None = Field(
        default=None, description="Set by `tidings demo`: serves /demo with this key."
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
    # Several of those waits can follow one another in one request (a stale pooled
    # connection, then a reconnect): this bounds the whole, so clients get a 503 in time.
    request_timeout_s: float = Field(default=4.5, gt=0, le=600)
    # What a connection may take before the application sees its request (app/serving.py):
    # bounds on clients that send too much, or too slowly, to tie up a connection.
    http_max_header_bytes: int = Field(default=32 * 1024, ge=4096, le=1024 * 1024)
    http_header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    http_body_timeout_s: float = Field(default=30.0, gt=0, le=3600)

    # Rate limits (token buckets; docs/security.md). A rate of 0 switches that limit off.
    # Widget traffic of a whole customer arrives through one publishable key: that limit is
    # generous (about 60 000 concurrent end users polling once a minute) and only stops a
    # runaway integration; the per-address limit (per key, so one workspace's visitors
    # never use up another's) is the one that stops a single noisy client.
    rate_limit_widget_key_per_s: float = Field(default=1000, ge=0)
    rate_limit_widget_key_burst: int = Field(default=5000, ge=1)
    rate_limit_widget_ip_per_s: float = Field(default=20, ge=0)
    rate_limit_widget_ip_burst: int = Field(default=200, ge=1)
    rate_limit_admin_key_per_s: float = Field(default=20, ge=0)
    rate_limit_admin_key_burst: int = Field(default=100, ge=1)
    rate_limit_auth_failures_per_min: float = Field(default=10, ge=0)
    rate_limit_auth_failures_burst: int = Field(default=20, ge=1)
    # Failed console sign-ins (docs/console.md), per account and per client address.
    rate_limit_login_account_per_hour: float = Field(default=20, ge=0)
    rate_limit_login_account_burst: int = Field(default=5, ge=1)
    rate_limit_login_ip_per_hour: float = Field(default=60, ge=0)
    rate_limit_login_ip_burst: int = Field(default=20, ge=1)
    # Unset: limits are kept per process. Set: shared by every replica through Redis.
    redis_url: OptionalSecret = None
    redis_key_prefix: str = Field(default="tidings:rl:", min_length=1, max_length=100)
    # Peers whose X-Forwarded-For is believed (CIDRs, comma-separated in the environment).
    trusted_proxies: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(
        default_factory=lambda: [ip_network("127.0.0.1/32"), ip_network("::1/128")]
    )

    # Webhooks (docs/webhooks.md). The public address makes the links webhooks carry
    # (the announcement's permalink on the public changelog) absolute.
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="Where people reach this instance, e.g. https://tidings.example.com.",
    )
    webhook_allow_private: bool = Field(
        default=False, description="Let webhooks reach loopback and private addresses."
    )
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=60)
    webhook_retry_base_s: float = Field(default=5.0, gt=0, le=3600)
    webhook_retry_max_delay_s: float = Field(default=6 * 3600, gt=0, le=7 * 86400)
    webhook_retry_window_s: float = Field(default=3 * 86400, gt=0, le=30 * 86400)
    webhook_poll_interval_s: float = Field(default=0.5, gt=0, le=60)
    webhook_scan_interval_s: float = Field(default=5.0, gt=0, le=3600)
    webhook_lease_ttl_s: float = Field(default=30.0, gt=0, le=3600)
    webhook_secret_overlap_s: float = Field(default=86400, ge=0, le=30 * 86400)

    # Console sessions end after this long without a request, or this long after sign-in.
    console_session_idle_minutes: int = Field(default=8 * 60, ge=1, le=30 * 24 * 60)
    console_session_max_hours: int = Field(default=7 * 24, ge=1, le=90 * 24)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = orjson.loads(value) if value.lstrip().startswith("[") else value.split(",")
        if isinstance(value, list):
            # strict=False: "10.0.0.7/8" means the network 10.0.0.0/8, not an error.
            return [
                ip_network(str(item).strip(), strict=False) for item in value if str(item).strip()
            ]
        return value

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Self:
        if self.environment is not Environment.production:
            return self
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if value is None or not any(isinstance(m, _OperatorGenerated) for m in field.metadata):
                continue
            weakness = secret_weakness(value.get_secret_value())
            if weakness is not None:
                raise ValueError(
                    f"TIDINGS_{name.upper()} is too weak for production: {weakness} "
                    f"({GENERATE_HINT}; or set it empty to switch its feature off)"
                )
        return self

    @model_validator(mode="after")
    def _lease_outlives_a_delivery(self) -> Self:
        # The lease holder renews between batches, and a batch lasts up to one timeout.
        if self.webhook_lease_ttl_s < 2 * self.webhook_timeout_s:
            raise ValueError(
                "TIDINGS_WEBHOOK_LEASE_TTL_S must be at least twice TIDINGS_WEBHOOK_TIMEOUT_S"
            )
        return self

    def disabled_features(self) -> list[str]:
        """One sentence per feature this configuration switches off, for the start-up log."""
        off = []
        if self.admin_token is None:
            off.append(
                "the instance admin API (POST /v1/workspaces) is disabled: "
                f"TIDINGS_ADMIN_TOKEN is {self._empty_or_unset('admin_token')}"
            )
        if self.redis_url is None:
            off.append(
                "shared rate limits are disabled (each process keeps its own): "
                f"TIDINGS_REDIS_URL is {self._empty_or_unset('redis_url')}"
            )
        rates = [n for n in type(self).model_fields if n.startswith("rate_limit_")]
        for name in rates:
            if name.endswith(("_per_s", "_per_min")) and getattr(self, name) == 0:
                off.append(f"a rate limit is disabled: TIDINGS_{name.upper()} is 0")
        return off

    def _empty_or_unset(self, name: str) -> str:
        return "empty" if name in self.model_fields_set else "unset"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
