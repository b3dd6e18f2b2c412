"""Secrets never reach the logs, even at DEBUG, from our loggers or any library's.

Requests carry a secret key, a publishable key, the admin token, the identity secret's
hashes (in headers, query strings and bodies), succeed and fail; everything logged at
DEBUG, in both log formats, is then searched for those values.
"""

import io
import logging
from collections.abc import Iterator

import httpx
import pytest

from app.config import Settings
from app.end_users.identity import user_hash
from app.logs import configure_logging
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.apps import client_with
from tests.fixtures.tenants import Tenant

VISITOR = "3d0f9a0e-3a7b-4c2e-9a55-1f0e8a7b6c5d"


@pytest.fixture(params=["json", "text"])
def debug_log(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """The service's own logging set up at DEBUG, written to a buffer; restored after."""
    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level)
    touched = [
        "uvicorn",
        "uvicorn.error",
        "uvicorn.access",
        "aiosqlite",
        "sqlalchemy.engine",
        "sqlalchemy.pool",
        "asyncpg",
        "httpx",
    ]
    saved = {
        name: (
            logging.getLogger(name).handlers[:],
            logging.getLogger(name).propagate,
            logging.getLogger(name).level,
        )
        for name in touched
    }
    configure_logging("DEBUG", request.param)
    # The test's own HTTP client logs the URLs it calls; it is not the service.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    buffer = io.StringIO()
    for handler in root.handlers:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers[:], level = saved_root
        root.setLevel(level)
        for name, (handlers, propagate, logger_level) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.propagate = propagate
            logger.setLevel(logger_level)


async def _exercise(client: httpx.AsyncClient, tenant: Tenant, identity_secret: str) -> list[str]:
    """Requests carrying every kind of secret, in every place; returns the hashes used."""
    good_hash = user_hash(identity_secret, "u-7")
    bad_hash = "f" * 64
    widget = {"key": tenant.publishable_key}
    responses = [
        await client.get("/v1/workspace", headers=tenant.auth),
        await client.get("/v1/workspace", params={"key": tenant.secret_key}),
        await client.post(
            "/v1/announcements",
            json={"title": "t", "body": tenant.secret_key, "extra": tenant.secret_key},
            headers=tenant.auth,
        ),
        await client.post("/v1/keys", json={"kind": "secret"}, headers=tenant.auth),
        await client.get("/v1/workspace", headers={"Authorization": "Bearer sk_" + "Z" * 43}),
        await client.post(
            "/v1/workspaces",
            json={"name": "Logged?"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ),
        await client.post(
            "/v1/workspaces", json={"name": "x"}, headers={"Authorization": "Bearer wrong-token"}
        ),
        await client.post(
            "/v1/widget/identify",
            params=widget,
            json={"user_id": "u-7", "user_hash": good_hash, "attributes": {}},
        ),
        await client.post(
            "/v1/widget/identify",
            params=widget,
            json={"user_id": "u-7", "user_hash": bad_hash, "attributes": {}},
        ),
        await client.get(
            "/v1/widget/announcements",
            params={**widget, "user_id": "u-7", "user_hash": good_hash},
            headers={"X-Tidings-Key": tenant.publishable_key},
        ),
        await client.post(
            "/v1/widget/events",
            params=widget,
            json={"user_id": "u-7", "user_hash": good_hash, "events": []},
        ),
        await client.get("/v1/widget/announcements", params={"key": tenant.secret_key}),
    ]
    statuses = [response.status_code for response in responses]
    assert statuses[0] == 200 and statuses[1] == 401 and statuses[5] == 201, statuses
    assert statuses[7] == 200 and statuses[8] == 401, statuses
    return [good_hash, bad_hash]


class TestNoSecretInLogs:
    async def test_debug_logs_hold_no_key_token_or_hash(
        self, debug_log: io.StringIO, settings: Settings, tenant: Tenant
    ) -> None:
        async with client_with(settings) as client:
            workspace = await client.patch(
                "/v1/workspace", json={"identity_verification": "required"}, headers=tenant.auth
            )
            identity_secret = str(workspace.json()["identity_secrets"][0]["secret"])
            hashes = await _exercise(client, tenant, identity_secret)
            created = await client.post("/v1/keys", json={"kind": "secret"}, headers=tenant.auth)
            new_secret_key = str(created.json()["key"])

        logged = debug_log.getvalue()
        assert "tidings.access" in logged or "GET /v1/workspace" in logged  # it did log
        secrets = {
            "secret key": tenant.secret_key,
            "secret key body": tenant.secret_key[3:],
            "new secret key": new_secret_key,
            "publishable key": tenant.publishable_key,
            "admin token": ADMIN_TOKEN,
            "identity secret": identity_secret,
            "user hash": hashes[0],
            "wrong user hash": hashes[1],
        }
        leaked = [name for name, value in secrets.items() if value in logged]
        lines = [
            line[:300] for line in logged.splitlines() if any(v in line for v in secrets.values())
        ]
        assert not leaked, f"in the logs: {leaked}: {lines[:5]}"
