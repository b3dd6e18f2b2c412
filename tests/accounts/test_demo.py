"""``tidings demo`` makes a console member who can sign in to the demo workspace."""

from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.demo import DEMO_EMAIL, seed_demo_member
from app.accounts.passwords import verify_password
from app.accounts.schemas import Role
from app.accounts.service import account_service, membership_service
from app.demo.page import DEMO_SLUG, seed_demo
from app.workspaces.service import workspace_service


class TestDemoMember:
    async def test_an_owner_with_a_fresh_password_each_run(self, session: AsyncSession) -> None:
        await seed_demo(session)
        email, first = await seed_demo_member(session, DEMO_SLUG)
        await session.commit()
        _, second = await seed_demo_member(session, DEMO_SLUG)
        await session.commit()
        assert email == DEMO_EMAIL and first != second
        member = await account_service.get_by_email(session, DEMO_EMAIL)
        assert await verify_password(second, member.password_hash)
        assert not await verify_password(first, member.password_hash)
        assert not member.must_change_password
        workspace = await workspace_service.get_by_slug(session, DEMO_SLUG)
        assert await membership_service.role_of(session, workspace.id, member.id) is Role.owner
