"""Members, their passwords and sessions, their roles per workspace, and invitations."""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.passwords import (
    generate_password,
    hash_password,
    password_problem,
    verify_password,
)
from app.accounts.repository import (
    ConsoleSessionRepository,
    InvitationRepository,
    MemberRepository,
    MembershipRepository,
)
from app.accounts.schemas import InvitationCreate, Role, normalize_email
from app.accounts.throttle import LoginThrottle
from app.config import Settings
from app.errors import AppError, Conflict, NotFound, invalid_field
from app.kit.ids import new_id
from app.kit.time import as_utc, utc_now
from app.models import ConsoleSession, Invitation, Member, Membership, Workspace
from app.workspaces.keys import hash_key

INVITATION_VALIDITY = timedelta(days=7)
# Writing last_seen_at on every page view would turn every read into a write.
SESSION_TOUCH_RESOLUTION = timedelta(seconds=60)


class SignInFailed(AppError):
    status, slug, title = 401, "sign-in-failed", "Sign-in failed"

    def __init__(self) -> None:
        # One answer for an unknown email and a wrong password: nothing to enumerate.
        super().__init__("The email or the password is wrong.")


class InvitationUnusable(AppError):
    status, slug, title = 410, "invitation-unusable", "Invitation no longer valid"


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> "SessionPolicy":
        return cls(
            idle=timedelta(minutes=settings.console_session_idle_minutes),
            absolute=timedelta(hours=settings.console_session_max_hours),
        )


@dataclass(frozen=True)
class CreatedMember:
    member: Member
    one_time_password: str | None  # set when the server chose the password


@dataclass(frozen=True)
class SignedIn:
    """A new session: ``token`` goes into the cookie and nowhere else."""

    token: str
    console_session: ConsoleSession
    member: Member


@dataclass(frozen=True)
class CurrentSession:
    console_session: ConsoleSession
    member: Member


@dataclass(frozen=True)
class CreatedInvitation:
    invitation: Invitation
    token: str  # goes into the link shown once to the owner


@dataclass(frozen=True)
class OpenedInvitation:
    invitation: Invitation
    workspace: Workspace
    existing_member: Member | None


def _checked_password(password: str, field: str = "password") -> str:
    problem = password_problem(password)
    if problem is not None:
        raise invalid_field(field, problem)
    return password


def _checked_email(email: str) -> str:
    try:
        return normalize_email(email)
    except ValueError as exc:
        raise invalid_field("email", str(exc)) from None


class AccountService:
    async def create_member(
        self, session: AsyncSession, email: str, password: str | None = None, name: str = ""
    ) -> CreatedMember:
        """A new member; without ``password`` one is generated, to be changed at sign-in."""
        email = _checked_email(email)
        repository = MemberRepository(session)
        if await repository.get_by_email(email) is not None:
            raise Conflict(f"A member with the email {email!r} already exists.")
        one_time = generate_password() if password is None else None
        chosen = _checked_password(password) if password is not None else one_time
        assert chosen is not None
        now = utc_now()
        member = Member(
            id=new_id("mem"),
            email=email,
            name=name[:100],
            password_hash=await hash_password(chosen),
            must_change_password=one_time is not None,
            password_changed_at=now,
            created_at=now,
            updated_at=now,
        )
        session.add(member)
        try:
            await session.flush()
        except IntegrityError:
            raise Conflict(f"A member with the email {email!r} already exists.") from None
        return CreatedMember(member, one_time)

    async def get_by_email(self, session: AsyncSession, email: str) -> Member:
        member = await MemberRepository(session).get_by_email(_checked_email(email))
        if member is None:
            raise NotFound(f"No member with the email {email!r}.")
        return member

    async def list(self, session: AsyncSession) -> Sequence[Member]:
        return await MemberRepository(session).list_all()

    async def set_password(
        self, session: AsyncSession, member: Member, password: str, *, must_change: bool
    ) -> None:
        """Replace the password and end every session of the member (they sign in again)."""
        member.password_hash = await hash_password(_checked_password(password))
        member.must_change_password = must_change
        member.password_changed_at = member.updated_at = utc_now()
        session.add(member)
        await session.flush()
        await ConsoleSessionRepository(session).delete_for_member(member.id)

    async def reset_password(
        self, session: AsyncSession, email: str, password: str | None = None
    ) -> str | None:
        """A new password for ``email`` (generated when not given, and returned then)."""
        member = await self.get_by_email(session, email)
        one_time = generate_password() if password is None else None
        await self.set_password(
            session, member, password or one_time or "", must_change=one_time is not None
        )
        return one_time

    async def change_password(
        self, session: AsyncSession, member: Member, current: str, new: str
    ) -> None:
        if not await verify_password(current, member.password_hash):
            raise invalid_field("current_password", "is not your current password")
        if current == new:
            raise invalid_field("new_password", "must differ from the current password")
        await self.set_password(session, member, new, must_change=False)


class SessionService:
    async def sign_in(
        self,
        session: AsyncSession,
        throttle: LoginThrottle,
        policy: SessionPolicy,
        email: str,
        password: str,
        *,
        client: str,
        user_agent: str = "",
    ) -> SignedIn:
        email = email.strip().lower()[:254]
        await throttle.check(email, client)
        member = await MemberRepository(session).get_by_email(email) if email else None
        valid = await verify_password(password, member.password_hash if member else None)
        if member is None or not valid:
            await throttle.note_failure(email, client)
            raise SignInFailed()
        return await self.start(session, member, policy, client=client, user_agent=user_agent)

    async def start(
        self,
        session: AsyncSession,
        member: Member,
        policy: SessionPolicy,
        *,
        client: str = "",
        user_agent: str = "",
    ) -> SignedIn:
        token = secrets.token_urlsafe(32)
        now = utc_now()
        console_session = ConsoleSession(
            token_hash=hash_key(token),
            member_id=member.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + policy.absolute,
            user_agent=user_agent[:200],
            client=client[:64],
        )
        session.add(console_session)
        await session.flush()
        return SignedIn(token, console_session, member)

    async def resolve(
        self, session: AsyncSession, token: str, policy: SessionPolicy
    ) -> CurrentSession | None:
        """The live session behind a cookie's token; an expired one is deleted on sight."""
        if not token or len(token) > 100:
            return None
        repository = ConsoleSessionRepository(session)
        console_session = await repository.get(hash_key(token))
        if console_session is None:
            return None
        now = utc_now()
        if is_expired(console_session, policy, now):
            await repository.delete(console_session.token_hash)
            return None
        member = await MemberRepository(session).get(console_session.member_id)
        if member is None:
            return None
        if now - as_utc(console_session.last_seen_at) >= SESSION_TOUCH_RESOLUTION:
            await repository.touch(console_session.token_hash, now)
            console_session.last_seen_at = now
        return CurrentSession(console_session, member)

    async def sign_out(self, session: AsyncSession, token: str) -> None:
        await ConsoleSessionRepository(session).delete(hash_key(token))

    async def sign_out_everywhere(self, session: AsyncSession, member_id: str) -> int:
        return await ConsoleSessionRepository(session).delete_for_member(member_id)


def is_expired(console_session: ConsoleSession, policy: SessionPolicy, now: datetime) -> bool:
    return (
        now >= as_utc(console_session.expires_at)
        or now - as_utc(console_session.last_seen_at) >= policy.idle
    )


class MembershipService:
    async def grant(
        self, session: AsyncSession, workspace_id: str, member_id: str, role: Role
    ) -> Membership:
        """Give a member a role in a workspace (adding them, or changing their role)."""
        repository = MembershipRepository(session)
        membership = await repository.get(workspace_id, member_id)
        now = utc_now()
        if membership is None:
            membership = Membership(
                workspace_id=workspace_id,
                member_id=member_id,
                role=role.value,
                created_at=now,
                updated_at=now,
            )
        else:
            if membership.role == Role.owner and role != Role.owner:
                await self._keep_an_owner(session, workspace_id)
            membership.role = role.value
            membership.updated_at = now
        session.add(membership)
        await session.flush()
        return membership

    async def role_of(
        self, session: AsyncSession, workspace_id: str, member_id: str
    ) -> Role | None:
        membership = await MembershipRepository(session).get(workspace_id, member_id)
        return Role(membership.role) if membership is not None else None

    async def workspaces_of(
        self, session: AsyncSession, member_id: str
    ) -> Sequence[tuple[Membership, Workspace]]:
        return await MembershipRepository(session).workspaces_of(member_id)

    async def members_of(
        self, session: AsyncSession, workspace_id: str
    ) -> Sequence[tuple[Membership, Member]]:
        return await MembershipRepository(session).members_of(workspace_id)

    async def change_role(
        self, session: AsyncSession, workspace_id: str, member_id: str, role: Role
    ) -> Membership:
        if await MembershipRepository(session).get(workspace_id, member_id) is None:
            raise NotFound(f"No member {member_id!r} in this workspace.")
        return await self.grant(session, workspace_id, member_id, role)

    async def remove(self, session: AsyncSession, workspace_id: str, member_id: str) -> Member:
        """Take a member out of a workspace; their sessions end, wherever they are."""
        repository = MembershipRepository(session)
        membership = await repository.get(workspace_id, member_id)
        member = await MemberRepository(session).get(member_id)
        if membership is None or member is None:
            raise NotFound(f"No member {member_id!r} in this workspace.")
        if membership.role == Role.owner:
            await self._keep_an_owner(session, workspace_id)
        await repository.delete(workspace_id, member_id)
        await ConsoleSessionRepository(session).delete_for_member(member_id)
        return member

    async def _keep_an_owner(self, session: AsyncSession, workspace_id: str) -> None:
        if await MembershipRepository(session).count_owners(workspace_id) <= 1:
            raise Conflict(
                "This is the workspace's last owner; make someone else owner first, or "
                "nobody could manage its members and keys any more."
            )


class InvitationService:
    async def create(
        self,
        session: AsyncSession,
        workspace_id: str,
        data: InvitationCreate,
        invited_by: str | None,
    ) -> CreatedInvitation:
        member = await MemberRepository(session).get_by_email(data.email)
        if member is not None and await MembershipRepository(session).get(workspace_id, member.id):
            raise Conflict(f"{data.email} is already a member of this workspace.")
        token = secrets.token_urlsafe(32)
        now = utc_now()
        invitation = Invitation(
            workspace_id=workspace_id,
            id=new_id("inv"),
            email=data.email,
            role=data.role.value,
            token_hash=hash_key(token),
            invited_by=invited_by,
            created_at=now,
            expires_at=now + INVITATION_VALIDITY,
        )
        session.add(invitation)
        await session.flush()
        return CreatedInvitation(invitation, token)

    async def pending(self, session: AsyncSession, workspace_id: str) -> Sequence[Invitation]:
        return await InvitationRepository(session).pending(workspace_id, utc_now())

    async def revoke(
        self, session: AsyncSession, workspace_id: str, invitation_id: str
    ) -> Invitation:
        invitation = await InvitationRepository(session).get(workspace_id, invitation_id)
        if invitation is None:
            raise NotFound(f"No invitation {invitation_id!r} in this workspace.")
        if invitation.accepted_at is None and invitation.revoked_at is None:
            invitation.revoked_at = utc_now()
            session.add(invitation)
            await session.flush()
        return invitation

    async def open(self, session: AsyncSession, token: str) -> OpenedInvitation:
        """The invitation a link's token stands for, if it can still be accepted."""
        invitation = (
            await InvitationRepository(session).get_by_token_hash(hash_key(token))
            if 0 < len(token) <= 100
            else None
        )
        if invitation is None:
            raise NotFound("This invitation link is not valid; ask for a new one.")
        if invitation.accepted_at is not None:
            raise InvitationUnusable("This invitation has already been accepted; sign in.")
        if invitation.revoked_at is not None:
            raise InvitationUnusable("This invitation was withdrawn; ask for a new one.")
        if utc_now() >= as_utc(invitation.expires_at):
            raise InvitationUnusable(
                "This invitation has expired (they last 7 days); ask for a new one."
            )
        workspace = await session.get(Workspace, invitation.workspace_id)
        if workspace is None:
            raise NotFound("This invitation link is not valid; ask for a new one.")
        existing = await MemberRepository(session).get_by_email(invitation.email)
        return OpenedInvitation(invitation, workspace, existing)

    async def accept(
        self, session: AsyncSession, token: str, password: str, name: str = ""
    ) -> tuple[Member, Membership]:
        """Join the workspace: a new member chooses a password, an existing one proves theirs."""
        opened = await self.open(session, token)
        invitation = opened.invitation
        member = opened.existing_member
        if member is None:
            member = (
                await account_service.create_member(session, invitation.email, password, name)
            ).member
        elif not await verify_password(password, member.password_hash):
            raise invalid_field("password", "is not the password of this account")
        membership = await membership_service.grant(
            session, invitation.workspace_id, member.id, Role(invitation.role)
        )
        invitation.accepted_at = utc_now()
        session.add(invitation)
        await session.flush()
        return member, membership


account_service = AccountService()
session_service = SessionService()
membership_service = MembershipService()
invitation_service = InvitationService()
