"""The demo's console member: ``tidings demo`` prints how to sign in as them."""

from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.passwords import generate_password
from app.accounts.schemas import Role
from app.accounts.service import account_service, membership_service
from app.errors import NotFound
from app.workspaces.service import workspace_service

DEMO_EMAIL = "demo@example.com"


async def seed_demo_member(session: AsyncSession, workspace_slug: str) -> tuple[str, str]:
    """An owner of the demo workspace with a fresh password (a demo: no change required)."""
    workspace = await workspace_service.get_by_slug(session, workspace_slug)
    password = generate_password()
    try:
        member = await account_service.get_by_email(session, DEMO_EMAIL)
        await account_service.set_password(session, member, password, must_change=False)
    except NotFound:
        member = (await account_service.create_member(session, DEMO_EMAIL, password)).member
    await membership_service.grant(session, workspace.id, member.id, Role.owner)
    return DEMO_EMAIL, password
