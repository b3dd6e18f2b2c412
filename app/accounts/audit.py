"""The audit log: who created, changed, published, archived or deleted what, and when."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.repository import AuditRepository
from app.errors import invalid_field
from app.kit.ids import new_id
from app.kit.pagination import decode_cursor, encode_cursor
from app.kit.time import as_utc, utc_now
from app.models import AuditEntry, Member

if TYPE_CHECKING:  # workspaces' services record entries themselves
    from app.workspaces.key_cache import KeyPrincipal


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a console member, an API key, or the server's command line."""

    kind: str
    id: str = ""
    label: str = ""

    @classmethod
    def of_member(cls, member: Member) -> "Actor":
        return cls("member", member.id, member.email)

    @classmethod
    def of_api_key(cls, key: "KeyPrincipal") -> "Actor":
        """A secret key of the admin API, named by its name and its first characters."""
        return cls("api_key", key.key_id, key.label or key.key_id)


CLI_ACTOR = Actor("cli", "", "command line")


@dataclass(frozen=True)
class AuditPage:
    entries: Sequence[AuditEntry]
    next_cursor: str | None


class AuditService:
    async def record(
        self,
        session: AsyncSession,
        workspace_id: str,
        actor: Actor,
        action: str,
        target_kind: str,
        target_id: str = "",
        target_label: str = "",
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Add an entry in the caller's transaction: kept if and only if the change is."""
        entry = AuditEntry(
            workspace_id=workspace_id,
            id=new_id("aud"),
            occurred_at=utc_now(),
            actor_kind=actor.kind,
            actor_id=actor.id,
            actor_label=actor.label[:254],
            action=action,
            target_kind=target_kind,
            target_id=target_id,
            target_label=target_label[:200],
            details=details or {},
        )
        session.add(entry)
        await session.flush()
        return entry

    async def page(
        self, session: AsyncSession, workspace_id: str, limit: int, cursor: str | None
    ) -> AuditPage:
        before = _position_from_cursor(cursor) if cursor else None
        entries = await AuditRepository(session).page(workspace_id, limit + 1, before)
        if len(entries) <= limit:
            return AuditPage(entries, None)
        last = entries[limit - 1]
        position = {"at": as_utc(last.occurred_at).isoformat(), "id": last.id}
        return AuditPage(entries[:limit], encode_cursor(position))


def _position_from_cursor(cursor: str) -> tuple[datetime, str]:
    position = decode_cursor(cursor)
    try:
        return datetime.fromisoformat(str(position["at"])), str(position["id"])
    except (KeyError, ValueError):
        raise invalid_field("cursor", "is not a cursor returned by this API") from None


audit_service = AuditService()
