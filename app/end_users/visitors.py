"""Who is asking: the visitor a widget request names, and whether the workspace admits them.

A visitor is the host's user id (identified; its ``user_hash`` proves it when the
workspace verifies identities) or the widget's anonymous id. ``Visitor.key`` is the
value rollouts hash; ``Visitor.lookup`` is how their end-user row is found.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from app.end_users.identity import is_valid_user_hash
from app.errors import Unauthorized, invalid_field
from app.kit.limits import MAX_ANONYMOUS_ID_LENGTH, MAX_USER_HASH_LENGTH, MAX_USER_ID_LENGTH

# Each identifier a request may name, with its greatest length.
VISITOR_FIELDS = {
    "user_id": MAX_USER_ID_LENGTH,
    "anonymous_id": MAX_ANONYMOUS_ID_LENGTH,
    "user_hash": MAX_USER_HASH_LENGTH,
}


@dataclass(frozen=True, slots=True)
class Visitor:
    user_id: str | None
    anonymous_id: str | None
    user_hash: str | None

    @property
    def key(self) -> str:
        """The value rollouts hash: the host's user id, else the anonymous id."""
        return self.user_id or self.anonymous_id or ""

    @property
    def lookup(self) -> tuple[str | None, str | None]:
        """``(user_id, None)`` for an identified visitor, else ``(None, anonymous_id)``.

        The unique key their end-user row is found by: an identified user by their
        user id alone (an anonymous id they came with is merged into it, not stored).
        """
        if self.user_id is not None:
            return (self.user_id, None)
        return (None, self.anonymous_id)


def visitor_from(payload: Mapping[str, Any]) -> Visitor:
    """The visitor a JSON body (or a query) names, each identifier checked for its length."""
    fields: dict[str, str | None] = {}
    for name, limit in VISITOR_FIELDS.items():
        value = payload.get(name)
        if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= limit):
            raise invalid_field(name, f"must be a string of 1 to {limit} characters")
        fields[name] = value
    return Visitor(fields["user_id"], fields["anonymous_id"], fields["user_hash"])


class AdmissionRules(Protocol):
    """What a workspace says about who may use its widget."""

    @property
    def allow_anonymous(self) -> bool: ...

    @property
    def identity_verification(self) -> str: ...

    @property
    def identity_secrets(self) -> tuple[str, ...]: ...


def check_visitor(rules: AdmissionRules, visitor: Visitor) -> None:
    """Refuse, before anything is read or written, a visitor the workspace would not admit."""
    if visitor.user_id is None:
        if visitor.anonymous_id is None:
            raise invalid_field("user_id", "send user_id (identified) or anonymous_id")
        if not rules.allow_anonymous:
            raise Unauthorized("This workspace does not admit anonymous visitors: identify.")
        return
    mode = rules.identity_verification
    if mode == "off":
        return
    if visitor.user_hash is None:
        if mode == "required":
            raise Unauthorized("This workspace requires user_hash with user_id.")
        return
    if not is_valid_user_hash(rules.identity_secrets, visitor.user_id, visitor.user_hash):
        raise Unauthorized("user_hash does not match user_id (HMAC-SHA256 with the secret).")
