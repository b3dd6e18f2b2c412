"""Invitations: a link valid 7 days, accepted once, by a new member or an existing one."""

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.accounts.passwords import verify_password
from app.accounts.schemas import InvitationCreate, Role
from app.accounts.service import (
    INVITATION_VALIDITY,
    InvitationUnusable,
    account_service,
    invitation_service,
    membership_service,
)
from app.errors import Conflict, InvalidInput, NotFound
from app.kit.time import utc_now
from app.models import Invitation
from app.workspaces.keys import hash_key
from tests.accounts.conftest import MakeMember
from tests.fixtures.tenants import Tenant


async def _invite(
    session: AsyncSession, tenant: Tenant, email: str, role: Role = Role.editor
) -> str:
    created = await invitation_service.create(
        session, tenant.workspace_id, InvitationCreate(email=email, role=role), None
    )
    await session.commit()
    return created.token


class TestCreate:
    async def test_valid_seven_days_token_stored_hashed(
        self, session: AsyncSession, tenant: Tenant
    ) -> None:
        created = await invitation_service.create(
            session,
            tenant.workspace_id,
            InvitationCreate(email=" New.Person@Example.com ", role=Role.viewer),
            None,
        )
        invitation = created.invitation
        assert timedelta(days=7) == INVITATION_VALIDITY
        assert invitation.expires_at - invitation.created_at == INVITATION_VALIDITY
        assert invitation.email == "new.person@example.com"
        assert invitation.token_hash == hash_key(created.token) != created.token
        pending = await invitation_service.pending(session, tenant.workspace_id)
        assert [item.id for item in pending] == [invitation.id]

    async def test_a_current_member_cannot_be_invited_again(
        self, session: AsyncSession, tenant: Tenant, make_member: MakeMember
    ) -> None:
        member = await make_member()
        with pytest.raises(Conflict):
            await _invite(session, tenant, member.email)

    def test_a_bad_email_is_refused(self) -> None:
        with pytest.raises(ValueError, match="email address"):
            InvitationCreate(email="not an email")


class TestAccept:
    async def test_a_new_person_chooses_a_password_and_joins_with_the_role(
        self, session: AsyncSession, tenant: Tenant
    ) -> None:
        token = await _invite(session, tenant, "newcomer@example.com", Role.viewer)
        opened = await invitation_service.open(session, token)
        assert opened.existing_member is None and opened.workspace.id == tenant.workspace_id
        with pytest.raises(InvalidInput):
            await invitation_service.accept(session, token, "short")
        await session.rollback()
        member, membership = await invitation_service.accept(
            session, token, "a good long password", "New Comer"
        )
        await session.commit()
        assert member.email == "newcomer@example.com" and member.name == "New Comer"
        assert not member.must_change_password
        assert await verify_password("a good long password", member.password_hash)
        assert membership.role == Role.viewer
        assert await invitation_service.pending(session, tenant.workspace_id) == []

    async def test_an_existing_member_proves_their_password(
        self, session: AsyncSession, tenant: Tenant, other_tenant: Tenant, make_member: MakeMember
    ) -> None:
        member = await make_member()  # a member of `tenant`, invited to `other_tenant`
        token = await _invite(session, other_tenant, member.email, Role.owner)
        with pytest.raises(InvalidInput) as wrong:
            await invitation_service.accept(session, token, "not their password")
        assert wrong.value.errors[0]["field"] == "password"
        await session.rollback()
        accepted, _ = await invitation_service.accept(session, token, member.password)
        await session.commit()
        assert accepted.id == member.member.id
        role = await membership_service.role_of(
            session, other_tenant.workspace_id, member.member.id
        )
        assert role is Role.owner
        # The password is unchanged.
        refreshed = await account_service.get_by_email(session, member.email)
        assert await verify_password(member.password, refreshed.password_hash)

    async def test_accepted_once_only(self, session: AsyncSession, tenant: Tenant) -> None:
        token = await _invite(session, tenant, "once@example.com")
        await invitation_service.accept(session, token, "a good long password")
        await session.commit()
        with pytest.raises(InvitationUnusable, match="already been accepted"):
            await invitation_service.accept(session, token, "a good long password")

    async def test_expired_invitations_cannot_be_used(
        self, session: AsyncSession, tenant: Tenant
    ) -> None:
        token = await _invite(session, tenant, "late@example.com")
        await session.execute(
            update(Invitation)
            .where(col(Invitation.token_hash) == hash_key(token))
            .values(expires_at=utc_now() - timedelta(seconds=1))
        )
        await session.commit()
        with pytest.raises(InvitationUnusable, match="expired"):
            await invitation_service.open(session, token)
        assert await invitation_service.pending(session, tenant.workspace_id) == []

    async def test_revoked_invitations_cannot_be_used(
        self, session: AsyncSession, tenant: Tenant
    ) -> None:
        created = await invitation_service.create(
            session, tenant.workspace_id, InvitationCreate(email="gone@example.com"), None
        )
        await invitation_service.revoke(session, tenant.workspace_id, created.invitation.id)
        await session.commit()
        with pytest.raises(InvitationUnusable, match="withdrawn"):
            await invitation_service.accept(session, created.token, "a good long password")

    async def test_made_up_tokens_are_not_found(self, session: AsyncSession) -> None:
        for token in ("made-up", "", "x" * 1000):
            with pytest.raises(NotFound):
                await invitation_service.open(session, token)

    async def test_revoking_another_workspaces_invitation_is_not_found(
        self, session: AsyncSession, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        created = await invitation_service.create(
            session, tenant.workspace_id, InvitationCreate(email="x@example.com"), None
        )
        with pytest.raises(NotFound):
            await invitation_service.revoke(
                session, other_tenant.workspace_id, created.invitation.id
            )
