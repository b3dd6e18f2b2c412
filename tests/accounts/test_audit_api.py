"""``GET /v1/audit-log``: the workspace's entries, newest first, by secret key only."""

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.audit import CLI_ACTOR, audit_service
from tests.fixtures.tenants import Tenant


class TestAuditLogApi:
    async def test_entries_of_the_keys_workspace_only_paged(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        for number in range(3):
            await audit_service.record(
                session, tenant.workspace_id, CLI_ACTOR, "member.added", "member", f"mem_{number}"
            )
        await audit_service.record(session, other_tenant.workspace_id, CLI_ACTOR, "x.y", "thing")
        await session.commit()

        first = await client.get("/v1/audit-log", params={"limit": 2}, headers=tenant.auth)
        assert first.status_code == 200
        body = first.json()
        assert [entry["target_id"] for entry in body["data"]] == ["mem_2", "mem_1"]
        assert (
            body["data"][0]["actor_kind"] == "cli" and body["data"][0]["action"] == "member.added"
        )
        second = await client.get(
            "/v1/audit-log", params={"limit": 2, "cursor": body["next_cursor"]}, headers=tenant.auth
        )
        assert [entry["target_id"] for entry in second.json()["data"]] == ["mem_0"]
        assert second.json()["next_cursor"] is None

    async def test_refused_without_a_secret_key_or_with_a_bad_cursor(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        assert (await client.get("/v1/audit-log")).status_code == 401
        widget_key = {"Authorization": f"Bearer {tenant.publishable_key}"}
        assert (await client.get("/v1/audit-log", headers=widget_key)).status_code == 403
        bad = await client.get("/v1/audit-log", params={"cursor": "nope"}, headers=tenant.auth)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
