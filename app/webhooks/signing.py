"""Signing secrets and signatures per Standard Webhooks (the ``standardwebhooks`` package).

A rotation keeps the previous secret signing beside the new one for an overlap window
(``webhook-signature`` carries one ``v1,<base64>`` per secret, space-separated), so a
receiver can switch secrets whenever it likes within that window.
"""

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_entry(secret: str, now: datetime) -> dict[str, Any]:
    return {"secret": secret, "created_at": now.isoformat(), "expires_at": None}


def signing_secrets(stored: Sequence[dict[str, Any]], now: datetime) -> list[str]:
    """The secrets that sign now: the current one and any still inside its overlap."""
    return [
        entry["secret"]
        for entry in stored
        if entry.get("expires_at") is None or datetime.fromisoformat(entry["expires_at"]) > now
    ]


def rotate(
    stored: Sequence[dict[str, Any]], now: datetime, overlap: timedelta
) -> tuple[str, list[dict[str, Any]]]:
    """A new current secret; the ones signing now keep signing until ``now + overlap``."""
    secret = new_secret()
    ends = (now + overlap).isoformat()
    kept = [
        {**entry, "expires_at": entry.get("expires_at") or ends}
        for entry in stored
        if entry["secret"] in signing_secrets(stored, now) and overlap.total_seconds() > 0
    ]
    return secret, [secret_entry(secret, now), *kept]


def previous_secrets_end(stored: Sequence[dict[str, Any]]) -> datetime | None:
    ends = [datetime.fromisoformat(e["expires_at"]) for e in stored if e.get("expires_at")]
    return max(ends) if ends else None


def signed_headers(
    signing: Sequence[str], message_id: str, timestamp: datetime, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt (its own timestamp)."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(
            Webhook(secret).sign(message_id, timestamp, body) for secret in signing
        ),
    }
