"""Every query about members, memberships, console sessions, invitations and the audit log."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, func, or_, select, update
from sqlmodel import col

from app.kit.repository import Repository
from app.models import AuditEntry, ConsoleSession, Invitation, Member, Membership, Workspace


class MemberRepository(Repository):
    async def get(self, member_id: str) -> Member | None:
        return await self.session.get(Member, member_id)

    async def get_by_email(self, email: str) -> Member | None:
        statement = select(Member).where(col(Member.email) == email)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def list_all(self) -> Sequence[Member]:
        statement = select(Member).order_by(col(Member.email))
        return (await self.session.execute(statement)).scalars().all()


class MembershipRepository(Repository):
    async def get(self, workspace_id: str, member_id: str) -> Membership | None:
        return await self.session.get(Membership, (workspace_id, member_id))

    async def members_of(self, workspace_id: str) -> Sequence[tuple[Membership, Member]]:
        statement = (
            select(Membership, Member)
            .join(Member, col(Member.id) == col(Membership.member_id))
            .where(col(Membership.workspace_id) == workspace_id)
            .order_by(col(Member.email))
        )
        return [(row[0], row[1]) for row in (await self.session.execute(statement)).all()]

    async def workspaces_of(self, member_id: str) -> Sequence[tuple[Membership, Workspace]]:
        statement = (
            select(Membership, Workspace)
            .join(Workspace, col(Workspace.id) == col(Membership.workspace_id))
            .where(col(Membership.member_id) == member_id)
            .order_by(col(Workspace.name), col(Workspace.slug))
        )
        return [(row[0], row[1]) for row in (await self.session.execute(statement)).all()]

    async def count_owners(self, workspace_id: str) -> int:
        statement = select(func.count()).where(
            col(Membership.workspace_id) == workspace_id, col(Membership.role) == "owner"
        )
        return int((await self.session.execute(statement)).scalar_one())

    async def delete(self, workspace_id: str, member_id: str) -> None:
        await self.session.execute(
            delete(Membership).where(
                col(Membership.workspace_id) == workspace_id,
                col(Membership.member_id) == member_id,
            )
        )


class ConsoleSessionRepository(Repository):
    async def get(self, token_hash: str) -> ConsoleSession | None:
        # Always read from the database: another request may have ended it meanwhile.
        return await self.session.get(ConsoleSession, token_hash, populate_existing=True)

    async def touch(self, token_hash: str, now: datetime) -> None:
        await self.session.execute(
            update(ConsoleSession)
            .where(col(ConsoleSession.token_hash) == token_hash)
            .values(last_seen_at=now)
        )

    async def delete(self, token_hash: str) -> None:
        await self.session.execute(
            delete(ConsoleSession).where(col(ConsoleSession.token_hash) == token_hash)
        )

    async def delete_for_member(self, member_id: str) -> int:
        result = await self.session.execute(
            delete(ConsoleSession).where(col(ConsoleSession.member_id) == member_id)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def count_for_member(self, member_id: str) -> int:
        statement = select(func.count()).where(col(ConsoleSession.member_id) == member_id)
        return int((await self.session.execute(statement)).scalar_one())


class InvitationRepository(Repository):
    async def get(self, workspace_id: str, invitation_id: str) -> Invitation | None:
        return await self.session.get(Invitation, (workspace_id, invitation_id))

    async def get_by_token_hash(self, token_hash: str) -> Invitation | None:
        statement = select(Invitation).where(col(Invitation.token_hash) == token_hash)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def pending(self, workspace_id: str, now: datetime) -> Sequence[Invitation]:
        statement = (
            select(Invitation)
            .where(
                col(Invitation.workspace_id) == workspace_id,
                col(Invitation.accepted_at).is_(None),
                col(Invitation.revoked_at).is_(None),
                col(Invitation.expires_at) > now,
            )
            .order_by(col(Invitation.created_at).desc())
        )
        return (await self.session.execute(statement)).scalars().all()


class AuditRepository(Repository):
    async def page(
        self, workspace_id: str, limit: int, before: tuple[datetime, str] | None
    ) -> Sequence[AuditEntry]:
        """Newest first; ``before`` is the (time, id) of the last entry of the previous page."""
        statement = select(AuditEntry).where(col(AuditEntry.workspace_id) == workspace_id)
        if before is not None:
            occurred_at, entry_id = before
            statement = statement.where(
                or_(
                    col(AuditEntry.occurred_at) < occurred_at,
                    and_(col(AuditEntry.occurred_at) == occurred_at, col(AuditEntry.id) < entry_id),
                )
            )
        statement = statement.order_by(
            col(AuditEntry.occurred_at).desc(), col(AuditEntry.id).desc()
        ).limit(limit)
        return (await self.session.execute(statement)).scalars().all()
