"""Identity verification: ``user_hash = hex(HMAC-SHA256(identity_secret, user_id))``.

The host's server computes the hash with a secret the browser never sees, so a visitor
cannot claim another user's id. During a rotation every active secret verifies.
"""

import hashlib
import hmac
from collections.abc import Iterable


def user_hash(secret: str, user_id: str) -> str:
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def is_valid_user_hash(secrets: Iterable[str], user_id: str, presented: str) -> bool:
    presented_bytes = presented.strip().lower().encode()
    # Check every secret (no early exit), so timing says nothing about which one matched.
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(user_hash(secret, user_id).encode(), presented_bytes)
    return matched
