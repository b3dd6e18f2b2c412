"""Which buckets a request is charged to, and the 429 when one is empty.

- Widget routes (``/v1/widget/...``): the publishable key's bucket, and the bucket of
  (publishable key, client address): one workspace's visitors never use up another's.
- Admin routes (the rest of ``/v1/``): the presented secret key's bucket.
- Every ``/v1/`` route: failed authentications (401s) per client address. Past the burst,
  the address is refused before its request reaches the database. Widget routes count
  their failures per (publishable key, address) instead: bad secret keys tried from an
  office's shared address must not lock every workspace's widget out for that office, and
  one workspace's failing visitors must not lock out another's.

Keys are read from the request as presented, before authentication, so a throttled
request costs no database work. A presented secret key only ever appears hashed.
"""

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from prometheus_client import Counter
from starlette.types import ASGIApp, Scope

from app.config import Settings
from app.errors import TooManyRequests, problem_response
from app.ratelimit.buckets import Charge, Limit, LocalRateLimiter, RateLimiter, Refusal
from app.ratelimit.clients import ClientAddresses
from app.ratelimit.shared import RedisRateLimiter

RATE_LIMITED = Counter(
    "tidings_rate_limited_total", "Requests refused with 429, by the limit hit", ["limit"]
)

_API_PREFIX = "/v1/"
_WIDGET_PREFIX = "/v1/widget/"
_PUBLISHABLE_KEY_LENGTH = 46  # pk_ + 43 (see app/workspaces/keys.py)

_MAX_CACHED_CHARGES = 10_000

_WHAT_RAN_OUT = {
    "auth_failures": "too many failed authentications from this address",
    "widget_key": "too many requests with this publishable key",
    "widget_client": "too many requests from this address with this publishable key",
    "admin_key": "too many requests with this secret key",
}


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    """The limits in force; ``None`` is a limit switched off (its rate set to 0)."""

    widget_key: Limit | None
    widget_client: Limit | None
    admin_key: Limit | None
    auth_failures: Limit | None
    _widget_charges: dict[tuple[str | None, str], tuple[Charge, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> "RateLimitPolicy":
        def limit(per_s: float, burst: int) -> Limit | None:
            return Limit(per_s, burst) if per_s > 0 else None

        return cls(
            widget_key=limit(
                settings.rate_limit_widget_key_per_s, settings.rate_limit_widget_key_burst
            ),
            widget_client=limit(
                settings.rate_limit_widget_ip_per_s, settings.rate_limit_widget_ip_burst
            ),
            admin_key=limit(
                settings.rate_limit_admin_key_per_s, settings.rate_limit_admin_key_burst
            ),
            auth_failures=limit(
                settings.rate_limit_auth_failures_per_min / 60,
                settings.rate_limit_auth_failures_burst,
            ),
        )

    @property
    def is_enabled(self) -> bool:
        limits = (self.widget_key, self.widget_client, self.admin_key, self.auth_failures)
        return any(limit is not None for limit in limits)

    def charges_for(self, scope: Scope, client: str) -> Sequence[Charge]:
        if scope["path"].startswith(_WIDGET_PREFIX):
            # Every end user's poll comes here: the same few (key, client) pairs over and
            # over, so their charges are built once. Publishable keys are public.
            pair = (_publishable_key(scope), client)
            cached = self._widget_charges.get(pair)
            if cached is None:
                if len(self._widget_charges) >= _MAX_CACHED_CHARGES:
                    self._widget_charges.clear()
                cached = self._widget_charges[pair] = self._widget_charges_of(*pair)
            return cached
        charges: list[Charge] = []
        if self.auth_failures is not None:
            charges.append(Charge("af:" + client, self.auth_failures, 0, "auth_failures"))
        if self.admin_key is not None:
            secret = _bearer_secret_key(scope)
            if secret is not None:
                digest = hashlib.sha256(secret).hexdigest()[:32]
                charges.append(Charge("ak:" + digest, self.admin_key, 1, "admin_key"))
        return charges

    def _widget_charges_of(self, key: str | None, client: str) -> tuple[Charge, ...]:
        charges: list[Charge] = []
        if self.auth_failures is not None:
            bucket = _failures_bucket(key, client)
            charges.append(Charge(bucket, self.auth_failures, 0, "auth_failures"))
        if key is not None and self.widget_key is not None:
            charges.append(Charge("wk:" + key, self.widget_key, 1, "widget_key"))
        if self.widget_client is not None:
            bucket = f"wc:{key or '-'}:{client}"
            charges.append(Charge(bucket, self.widget_client, 1, "widget_client"))
        return tuple(charges)

    def auth_failure(self, scope: Scope, client: str) -> Charge:
        """The token a failed authentication costs: from the bucket its request checked."""
        assert self.auth_failures is not None
        if scope["path"].startswith(_WIDGET_PREFIX):
            bucket = _failures_bucket(_publishable_key(scope), client)
        else:
            bucket = "af:" + client
        return Charge(bucket, self.auth_failures, 1, "auth_failures")


def _failures_bucket(publishable_key: str | None, client: str) -> str:
    """A widget request's failed authentications, counted per (key, address)."""
    return f"af:w:{publishable_key or '-'}:{client}"


class RateLimits:
    """The policy, read from settings at once; the limiter, built in the app's lifespan."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.policy = RateLimitPolicy.from_settings(settings)
        self.clients = ClientAddresses(settings.trusted_proxies)
        self.limiter: RateLimiter | None = None

    async def start(self) -> None:
        if not self.policy.is_enabled:
            return
        local = LocalRateLimiter()
        if self.settings.redis_url is None:
            self.limiter = local
            return
        self.limiter = RedisRateLimiter(
            self.settings.redis_url.get_secret_value(),
            key_prefix=self.settings.redis_key_prefix,
            fallback=local,
        )

    async def stop(self) -> None:
        limiter, self.limiter = self.limiter, None
        if limiter is not None:
            await limiter.aclose()

    def applies_to(self, scope: Scope) -> bool:
        return self.limiter is not None and scope["path"].startswith(_API_PREFIX)

    async def admit(self, scope: Scope) -> tuple[ASGIApp | None, str]:
        """The 429 to answer instead of the request, if any; and who the client is."""
        assert self.limiter is not None
        client = self.clients.client_of(scope)
        charges = self.policy.charges_for(scope, client)
        if charges:
            limiter = self.limiter
            # In-process buckets answer at once: no coroutine per request for them.
            refusal = (
                limiter.acquire_now(charges)
                if isinstance(limiter, LocalRateLimiter)
                else await limiter.acquire(charges)
            )
            if refusal is not None:
                return _too_many_requests(refusal), client
        return None, client

    async def note_answer(self, scope: Scope, client: str, status: int) -> None:
        """A failed authentication (401) costs its client a token of that limit."""
        if status == 401 and self.limiter is not None and self.policy.auth_failures is not None:
            await self.limiter.penalize(self.policy.auth_failure(scope, client))


def _too_many_requests(refusal: Refusal) -> ASGIApp:
    kind = refusal.charge.kind
    RATE_LIMITED.labels(kind).inc()
    retry_after_s = max(1, math.ceil(refusal.retry_after_s))
    error = TooManyRequests(
        f"Rate limited: {_WHAT_RAN_OUT.get(kind, 'too many requests')}; "
        f"retry in {retry_after_s} s.",
        retry_after_s=retry_after_s,
    )
    return problem_response(
        error.status, title=error.title, detail=error.detail, slug=error.slug, headers=error.headers
    )


def _publishable_key(scope: Scope) -> str | None:
    """The key exactly as the widget auth reads it: a non-empty header first, else the last
    ``key=`` of the query (so no request is charged to one key and served as another)."""
    key = ""
    for name, value in scope["headers"]:
        if name == b"x-tidings-key":
            key = value.decode("latin-1")
            break
    if not key:
        query: bytes = scope["query_string"]
        if b"key=" in query:
            for pair in query.split(b"&"):
                if pair.startswith(b"key="):
                    raw = pair[4:].decode("latin-1")
                    key = unquote_plus(raw) if "%" in raw or "+" in raw else raw
    if len(key) != _PUBLISHABLE_KEY_LENGTH or not key.startswith("pk_"):
        return None
    return key


def _bearer_secret_key(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            header: bytes = value
            scheme, _, credentials = header.partition(b" ")
            credentials = credentials.strip()
            if scheme.lower() == b"bearer" and credentials.startswith(b"sk_"):
                return credentials
            return None
    return None
