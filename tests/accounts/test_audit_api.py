"""``GET /v1/audit-log``: the workspace's entries, newest first, by secret key only."""

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.audit import CLI_ACTOR, audit_service
from app.announcements.schemas import AnnouncementCreate
from app.announcements.service import announcement_service
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


class TestAdminApiChangesAreAudited:
    """Changes made with a secret key are in the log, named by the key (name and start)."""

    async def test_announcement_lifecycle_through_the_api(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        created = await client.post(
            "/v1/announcements", json={"title": "Dark mode"}, headers=tenant.auth
        )
        announcement_id = created.json()["id"]
        path = f"/v1/announcements/{announcement_id}"
        # The title is sent as it is: only the body changed.
        changes = {"title": "Dark mode", "body": "Now *darker*"}
        await client.patch(path, json=changes, headers=tenant.auth)
        await client.patch(path, json={"status": "published"}, headers=tenant.auth)
        await client.patch(path, json={"status": "archived"}, headers=tenant.auth)
        draft = await client.post("/v1/announcements", json={"title": "Gone"}, headers=tenant.auth)
        await client.delete(f"/v1/announcements/{draft.json()['id']}", headers=tenant.auth)
        refused = await client.patch(
            path, json={"title": "x"}, headers={**tenant.auth, "If-Match": '"1"'}
        )
        assert refused.status_code == 412  # nothing changed: nothing recorded

        log = (await client.get("/v1/audit-log", headers=tenant.auth)).json()["data"]
        assert [(entry["action"], entry["target_label"]) for entry in reversed(log)] == [
            ("announcement.created", "Dark mode"),
            ("announcement.updated", "Dark mode"),
            ("announcement.published", "Dark mode"),
            ("announcement.archived", "Dark mode"),
            ("announcement.created", "Gone"),
            ("announcement.deleted", "Gone"),
        ]
        updated = log[-2]
        assert updated["details"] == {"version": 2, "fields": ["body"]}
        assert updated["target_id"] == announcement_id
        secret_start = tenant.secret_key[:7]
        for entry in log:
            assert entry["actor_kind"] == "api_key"
            assert entry["actor_id"].startswith("key_")
            assert secret_start in entry["actor_label"]
            assert tenant.secret_key not in entry["actor_label"]

    async def test_segment_changes_through_the_api(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        created = await client.post(
            "/v1/segments", json={"name": "Pro", "condition": {"plan": "pro"}}, headers=tenant.auth
        )
        path = f"/v1/segments/{created.json()['id']}"
        await client.patch(path, json={"condition": {"plan": "team"}}, headers=tenant.auth)
        await client.delete(path, headers=tenant.auth)

        log = (await client.get("/v1/audit-log", headers=tenant.auth)).json()["data"]
        assert [(entry["action"], entry["target_label"]) for entry in reversed(log)] == [
            ("segment.created", "Pro"),
            ("segment.updated", "Pro"),
            ("segment.deleted", "Pro"),
        ]
        assert log[1]["details"] == {"version": 2, "fields": ["condition"]}
        assert {entry["actor_kind"] for entry in log} == {"api_key"}

    async def test_files_published_from_git_are_the_command_lines(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        """``tidings announce`` upserts by slug; an unchanged file records nothing."""
        data = AnnouncementCreate(title="From git", slug="from-git")
        for title in ("From git", "From git", "From git, edited"):
            data = data.model_copy(update={"title": title})
            await announcement_service.upsert_by_slug(
                session, tenant.workspace_id, data, actor=CLI_ACTOR
            )
        await session.commit()

        log = (await client.get("/v1/audit-log", headers=tenant.auth)).json()["data"]
        assert [(entry["action"], entry["actor_label"]) for entry in reversed(log)] == [
            ("announcement.created", "command line"),
            ("announcement.updated", "command line"),
        ]
        assert log[0]["details"]["fields"] == ["title"]

    async def test_settings_and_keys_through_the_api(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        await client.patch(
            "/v1/workspace",
            json={"allowed_origins": ["https://app.example.com"], "rotate_identity_secret": True},
            headers=tenant.auth,
        )
        created = await client.post(
            "/v1/keys", json={"kind": "secret", "name": "ci"}, headers=tenant.auth
        )
        key_id = created.json()["id"]
        await client.delete(f"/v1/keys/{key_id}", headers=tenant.auth)
        await client.delete(f"/v1/keys/{key_id}", headers=tenant.auth)  # already: no entry

        log = (await client.get("/v1/audit-log", headers=tenant.auth)).json()["data"]
        assert [(entry["action"], entry["details"]) for entry in reversed(log)] == [
            ("settings.updated", {"fields": ["allowed_origins", "rotate_identity_secret"]}),
            ("key.created", {"kind": "secret", "name": "ci"}),
            ("key.revoked", {"name": "ci"}),
        ]
        assert log[0]["target_id"] == key_id
        assert {entry["actor_kind"] for entry in log} == {"api_key"}
