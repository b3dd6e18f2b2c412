"""Accounts in and out: roles, members, memberships, invitations, audit entries."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

from app.kit.schemas import InputModel, OutputModel


class Role(StrEnum):
    """What a member may do in a workspace; each role includes the ones below it."""

    viewer = "viewer"
    editor = "editor"
    owner = "owner"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: "Role") -> bool:
        return self.rank >= needed.rank


_RANKS = {Role.viewer: 0, Role.editor: 1, Role.owner: 2}


def normalize_email(value: str) -> str:
    email = value.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or any(char.isspace() for char in email):
        raise ValueError("is not an email address (name@example.com)")
    return email


Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(normalize_email)]


class InvitationCreate(InputModel):
    email: Email
    role: Role = Role.editor


class MemberPublic(OutputModel):
    id: str
    email: str
    name: str
    created_at: datetime


class MembershipPublic(OutputModel):
    member_id: str
    email: str
    name: str
    role: Role
    created_at: datetime


class AuditEntryPublic(OutputModel):
    id: str
    occurred_at: datetime
    actor_kind: str = Field(description="`member`, `api_key` or `cli`.")
    actor_id: str
    actor_label: str = Field(description="The member's email or the key's name.")
    action: str = Field(examples=["announcement.published"])
    target_kind: str
    target_id: str
    target_label: str
    details: dict[str, Any]


class AuditLogPage(OutputModel):
    data: list[AuditEntryPublic]
    next_cursor: str | None
