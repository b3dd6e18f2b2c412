"""Which buckets a request is charged to: the key the auth will use, never a raw secret."""

from typing import Any
from urllib.parse import quote

import pytest
from starlette.requests import Request

from app.config import Settings
from app.ratelimit.policy import RateLimitPolicy, _publishable_key
from app.workspaces.auth import publishable_key_of

A = "pk_" + "A" * 43
B = "pk_" + "B" * 43
SECRET = "sk_" + "S" * 43


def scope(query: str = "", **headers: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": "/v1/widget/announcements",
        "query_string": query.encode(),
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }


class TestTheChargedKeyIsTheAuthenticatedKey:
    @pytest.mark.parametrize(
        "request_scope",
        [
            scope(f"key={A}"),
            scope(x_tidings_key=A),
            scope(f"key={B}", x_tidings_key=A),  # the header wins
            scope(f"key={B}", x_tidings_key=""),  # an empty header does not
            scope(f"key={A}&key={B}"),  # the last one wins, as in Starlette
            scope(f"key={quote(A)}&anonymous_id=x"),
        ],
    )
    def test_same_key_as_the_widget_auth(self, request_scope: dict[str, Any]) -> None:
        assert _publishable_key(request_scope) == publishable_key_of(Request(request_scope))

    @pytest.mark.parametrize("query", ["", "key=", "key=pk_short", f"key={SECRET}"])
    def test_no_well_formed_publishable_key_means_no_key_bucket(self, query: str) -> None:
        assert _publishable_key(scope(query)) is None


class TestBuckets:
    policy = RateLimitPolicy.from_settings(Settings(_env_file=None))

    def test_widget_request(self) -> None:
        charges = self.policy.charges_for(scope(f"key={A}"), "203.0.113.9")
        assert [(c.bucket, c.cost) for c in charges] == [
            (f"af:w:{A}:203.0.113.9", 0),
            (f"wk:{A}", 1),
            (f"wc:{A}:203.0.113.9", 1),
        ]

    def test_a_secret_key_is_only_ever_a_hash(self) -> None:
        admin = {**scope(), "path": "/v1/workspace"}
        admin["headers"] = [(b"authorization", f"Bearer {SECRET}".encode())]
        charges = self.policy.charges_for(admin, "203.0.113.9")
        buckets = [c.bucket for c in charges]
        assert len(buckets) == 2 and buckets[1].startswith("ak:")
        assert all(SECRET[3:13] not in bucket for bucket in buckets)

    def test_switched_off_limits_charge_nothing(self) -> None:
        off = Settings(
            _env_file=None,
            rate_limit_widget_key_per_s=0,
            rate_limit_widget_ip_per_s=0,
            rate_limit_admin_key_per_s=0,
            rate_limit_auth_failures_per_min=0,
        )
        policy = RateLimitPolicy.from_settings(off)
        assert not policy.is_enabled
        assert not policy.charges_for(scope(f"key={A}"), "203.0.113.9")
