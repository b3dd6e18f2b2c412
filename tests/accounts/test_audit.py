"""The audit log: entries in the writer's transaction, newest first, paged, per workspace."""

from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.audit import CLI_ACTOR, Actor, audit_service
from tests.accounts.conftest import MakeMember
from tests.fixtures.tenants import Tenant


class TestAuditLog:
    async def test_newest_first_paged_and_scoped_to_the_workspace(
        self, session: AsyncSession, tenant: Tenant, other_tenant: Tenant, make_member: MakeMember
    ) -> None:
        member = await make_member()
        actor = Actor.of_member(member.member)
        for number in range(5):
            await audit_service.record(
                session,
                tenant.workspace_id,
                actor,
                "announcement.updated",
                "announcement",
                f"ann_{number}",
                f"Title {number}",
                {"fields": ["title"]},
            )
        await audit_service.record(session, other_tenant.workspace_id, CLI_ACTOR, "x.y", "thing")
        await session.commit()

        first = await audit_service.page(session, tenant.workspace_id, 3, None)
        assert [entry.target_id for entry in first.entries] == ["ann_4", "ann_3", "ann_2"]
        assert first.entries[0].actor_label == member.email
        assert first.entries[0].details == {"fields": ["title"]}
        assert first.next_cursor is not None
        second = await audit_service.page(session, tenant.workspace_id, 3, first.next_cursor)
        assert [entry.target_id for entry in second.entries] == ["ann_1", "ann_0"]
        assert second.next_cursor is None

    async def test_rolled_back_changes_leave_no_entry(
        self, session: AsyncSession, tenant: Tenant
    ) -> None:
        await audit_service.record(session, tenant.workspace_id, CLI_ACTOR, "x.y", "thing")
        await session.rollback()
        assert (await audit_service.page(session, tenant.workspace_id, 10, None)).entries == []
