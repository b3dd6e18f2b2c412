"""Console sessions: sign-in, expiry (idle and absolute), sign-out, and what ends them."""

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.accounts.schemas import Role
from app.accounts.service import (
    SessionPolicy,
    SignInFailed,
    account_service,
    membership_service,
    session_service,
)
from app.accounts.throttle import LoginThrottle
from app.errors import Conflict, InvalidInput, TooManyRequests
from app.kit.time import utc_now
from app.models import ConsoleSession
from app.workspaces.keys import hash_key
from tests.accounts.conftest import Clock, MakeMember
from tests.fixtures.tenants import Tenant


async def _age(session: AsyncSession, token: str, **moved_back: timedelta) -> None:
    """Move a session's timestamps into the past, as if time had passed."""
    values = {field: utc_now() - delta for field, delta in moved_back.items()}
    await session.execute(
        update(ConsoleSession)
        .where(col(ConsoleSession.token_hash) == hash_key(token))
        .values(**values)
    )
    await session.commit()


class TestSignIn:
    async def test_right_password_opens_a_session_stored_only_as_a_hash(
        self,
        session: AsyncSession,
        make_member: MakeMember,
        throttle: LoginThrottle,
        policy: SessionPolicy,
    ) -> None:
        member = await make_member()
        signed_in = await session_service.sign_in(
            session, throttle, policy, member.email.upper(), member.password, client="10.0.0.1"
        )
        await session.commit()
        assert signed_in.member.id == member.member.id
        assert signed_in.console_session.token_hash == hash_key(signed_in.token)
        assert await session.get(ConsoleSession, signed_in.token) is None
        current = await session_service.resolve(session, signed_in.token, policy)
        assert current is not None and current.member.email == member.email
        assert len(current.console_session.csrf_token) >= 40

    async def test_unknown_email_and_wrong_password_get_the_same_answer(
        self,
        session: AsyncSession,
        make_member: MakeMember,
        throttle: LoginThrottle,
        policy: SessionPolicy,
    ) -> None:
        member = await make_member()
        with pytest.raises(SignInFailed) as wrong_password:
            await session_service.sign_in(
                session, throttle, policy, member.email, "not the password", client="a"
            )
        with pytest.raises(SignInFailed) as unknown_email:
            await session_service.sign_in(
                session, throttle, policy, "nobody@example.com", member.password, client="b"
            )
        assert wrong_password.value.status == unknown_email.value.status == 401
        assert wrong_password.value.detail == unknown_email.value.detail

    async def test_an_unknown_token_resolves_to_nothing(
        self, session: AsyncSession, policy: SessionPolicy
    ) -> None:
        assert await session_service.resolve(session, "made-up", policy) is None
        assert await session_service.resolve(session, "", policy) is None
        assert await session_service.resolve(session, "x" * 5000, policy) is None


class TestThrottle:
    async def test_failures_on_one_account_lock_it_from_every_address(
        self,
        session: AsyncSession,
        make_member: MakeMember,
        throttle: LoginThrottle,
        policy: SessionPolicy,
        clock: Clock,
    ) -> None:
        member = await make_member()
        burst = throttle.per_account.burst if throttle.per_account else 0
        for attempt in range(burst):
            with pytest.raises(SignInFailed):
                await session_service.sign_in(
                    session, throttle, policy, member.email, "wrong", client=f"10.0.0.{attempt}"
                )
        # Now even the right password, from a new address, waits.
        with pytest.raises(TooManyRequests) as refused:
            await session_service.sign_in(
                session, throttle, policy, member.email, member.password, client="10.9.9.9"
            )
        assert int(refused.value.headers["Retry-After"]) >= 1
        clock.now += 3600  # the bucket refills
        signed_in = await session_service.sign_in(
            session, throttle, policy, member.email, member.password, client="10.9.9.9"
        )
        assert signed_in.member.id == member.member.id

    async def test_failures_from_one_address_lock_it_for_every_account(
        self,
        session: AsyncSession,
        make_member: MakeMember,
        throttle: LoginThrottle,
        policy: SessionPolicy,
    ) -> None:
        member = await make_member()
        burst = throttle.per_address.burst if throttle.per_address else 0
        for attempt in range(burst):
            with pytest.raises(SignInFailed):
                await session_service.sign_in(
                    session, throttle, policy, f"guess{attempt}@example.com", "x", client="6.6.6.6"
                )
        with pytest.raises(TooManyRequests):
            await session_service.sign_in(
                session, throttle, policy, member.email, member.password, client="6.6.6.6"
            )
        # Another address is not affected.
        await session_service.sign_in(
            session, throttle, policy, member.email, member.password, client="7.7.7.7"
        )


class TestExpiry:
    async def test_idle_session_ends(
        self, session: AsyncSession, make_member: MakeMember, policy: SessionPolicy
    ) -> None:
        member = await make_member()
        signed_in = await session_service.start(session, member.member, policy)
        await session.commit()
        await _age(session, signed_in.token, last_seen_at=policy.idle - timedelta(minutes=1))
        assert await session_service.resolve(session, signed_in.token, policy) is not None
        await _age(session, signed_in.token, last_seen_at=policy.idle + timedelta(seconds=1))
        assert await session_service.resolve(session, signed_in.token, policy) is None
        await session.commit()
        # Deleted on sight, not merely refused.
        assert await session.get(ConsoleSession, hash_key(signed_in.token)) is None

    async def test_activity_keeps_a_session_alive_until_its_absolute_end(
        self, session: AsyncSession, make_member: MakeMember, policy: SessionPolicy
    ) -> None:
        member = await make_member()
        signed_in = await session_service.start(session, member.member, policy)
        await session.commit()
        await _age(session, signed_in.token, last_seen_at=timedelta(minutes=5))
        current = await session_service.resolve(session, signed_in.token, policy)
        assert current is not None
        assert utc_now() - current.console_session.last_seen_at < timedelta(seconds=5)
        await session.execute(
            update(ConsoleSession)
            .where(col(ConsoleSession.token_hash) == hash_key(signed_in.token))
            .values(expires_at=utc_now() - timedelta(seconds=1))
        )
        await session.commit()
        assert await session_service.resolve(session, signed_in.token, policy) is None


class TestWhatEndsSessions:
    async def test_sign_out_ends_this_session_only(
        self, session: AsyncSession, make_member: MakeMember, policy: SessionPolicy
    ) -> None:
        member = await make_member()
        laptop = await session_service.start(session, member.member, policy)
        phone = await session_service.start(session, member.member, policy)
        await session_service.sign_out(session, laptop.token)
        await session.commit()
        assert await session_service.resolve(session, laptop.token, policy) is None
        assert await session_service.resolve(session, phone.token, policy) is not None

    async def test_sign_out_everywhere(
        self, session: AsyncSession, make_member: MakeMember, policy: SessionPolicy
    ) -> None:
        member = await make_member()
        other = await make_member()
        tokens = [(await session_service.start(session, member.member, policy)).token for _ in "ab"]
        kept = await session_service.start(session, other.member, policy)
        assert await session_service.sign_out_everywhere(session, member.member.id) == 2
        await session.commit()
        for token in tokens:
            assert await session_service.resolve(session, token, policy) is None
        assert await session_service.resolve(session, kept.token, policy) is not None

    async def test_password_change_ends_every_session_and_needs_the_current_password(
        self, session: AsyncSession, make_member: MakeMember, policy: SessionPolicy
    ) -> None:
        member = await make_member()
        signed_in = await session_service.start(session, member.member, policy)
        await session.commit()
        with pytest.raises(InvalidInput) as wrong:
            await account_service.change_password(
                session, member.member, "not it at all", "a brand new password"
            )
        assert wrong.value.errors[0]["field"] == "current_password"
        with pytest.raises(InvalidInput) as weak:
            await account_service.change_password(session, member.member, member.password, "short")
        assert weak.value.errors[0]["field"] == "password"
        assert await session_service.resolve(session, signed_in.token, policy) is not None

        await account_service.change_password(
            session, member.member, member.password, "a brand new password"
        )
        await session.commit()
        assert await session_service.resolve(session, signed_in.token, policy) is None

    async def test_reset_password_prints_a_one_time_password_that_must_be_changed(
        self, session: AsyncSession, make_member: MakeMember, policy: SessionPolicy
    ) -> None:
        member = await make_member()
        signed_in = await session_service.start(session, member.member, policy)
        one_time = await account_service.reset_password(session, member.email)
        await session.commit()
        assert one_time is not None
        assert await session_service.resolve(session, signed_in.token, policy) is None
        refreshed = await account_service.get_by_email(session, member.email)
        assert refreshed.must_change_password

    async def test_removal_from_a_workspace_ends_the_members_sessions(
        self,
        session: AsyncSession,
        make_member: MakeMember,
        policy: SessionPolicy,
        tenant: Tenant,
    ) -> None:
        await make_member(Role.owner)
        editor = await make_member(Role.editor)
        signed_in = await session_service.start(session, editor.member, policy)
        await membership_service.remove(session, tenant.workspace_id, editor.member.id)
        await session.commit()
        assert await session_service.resolve(session, signed_in.token, policy) is None
        assert (
            await membership_service.role_of(session, tenant.workspace_id, editor.member.id) is None
        )


class TestOwnership:
    async def test_the_last_owner_can_be_neither_removed_nor_demoted(
        self, session: AsyncSession, make_member: MakeMember, tenant: Tenant
    ) -> None:
        owner = await make_member(Role.owner)
        with pytest.raises(Conflict):
            await membership_service.remove(session, tenant.workspace_id, owner.member.id)
        with pytest.raises(Conflict):
            await membership_service.change_role(
                session, tenant.workspace_id, owner.member.id, Role.editor
            )
        second = await make_member(Role.owner)
        await membership_service.change_role(
            session, tenant.workspace_id, owner.member.id, Role.viewer
        )
        assert (
            await membership_service.role_of(session, tenant.workspace_id, owner.member.id)
            is Role.viewer
        )
        assert (
            await membership_service.role_of(session, tenant.workspace_id, second.member.id)
            is Role.owner
        )

    def test_roles_include_the_ones_below(self) -> None:
        assert Role.owner.allows(Role.editor) and Role.owner.allows(Role.viewer)
        assert Role.editor.allows(Role.viewer) and not Role.editor.allows(Role.owner)
        assert not Role.viewer.allows(Role.editor)
