"""Workspaces, their settings and their API keys."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.audit import Actor, audit_service
from app.changelog.theme import accent_problem
from app.errors import Conflict, NotFound, Unauthorized, invalid_field
from app.kit.ids import new_id
from app.kit.slugs import slugify
from app.kit.time import utc_now
from app.models import ApiKey, Workspace
from app.workspaces.keys import (
    KeyKind,
    generate_identity_secret,
    generate_key,
    hash_key,
    is_well_formed,
    key_lookup,
    key_matches,
    key_preview,
)
from app.workspaces.repository import ApiKeyRepository, WorkspaceRepository
from app.workspaces.schemas import WorkspaceCreate, WorkspaceUpdate

# Writing last_used_at on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(seconds=60)
MAX_IDENTITY_SECRETS = 2


@dataclass(frozen=True)
class CreatedWorkspace:
    workspace: Workspace
    publishable_key: str
    secret_key: str


@dataclass(frozen=True)
class CreatedKey:
    api_key: ApiKey
    key: str


class WorkspaceService:
    async def create(self, session: AsyncSession, data: WorkspaceCreate) -> CreatedWorkspace:
        slug = data.slug or slugify(data.name)
        if not slug:
            raise invalid_field("slug", "could not derive a slug from the name; pass one")
        repository = WorkspaceRepository(session)
        if await repository.slug_taken(slug):
            raise Conflict(f"A workspace with the slug {slug!r} already exists; pick another.")
        now = utc_now()
        workspace = Workspace(
            id=new_id("ws"),
            name=data.name,
            slug=slug,
            allowed_origins=list(dict.fromkeys(data.allowed_origins)),
            identity_secrets=[_new_identity_secret()],
            created_at=now,
            updated_at=now,
        )
        session.add(workspace)
        await _flush_or_conflict(session, slug)
        publishable = await _new_key(session, workspace.id, KeyKind.publishable, "default")
        secret = await _new_key(session, workspace.id, KeyKind.secret, "default")
        return CreatedWorkspace(workspace, publishable.key, secret.key)

    async def get(self, session: AsyncSession, workspace_id: str) -> Workspace:
        workspace = await WorkspaceRepository(session).get(workspace_id)
        if workspace is None:
            raise NotFound(f"No workspace {workspace_id!r}.")
        return workspace

    async def get_by_slug(self, session: AsyncSession, slug: str) -> Workspace:
        workspace = await WorkspaceRepository(session).get_by_slug(slug)
        if workspace is None:
            raise NotFound(f"No workspace with the slug {slug!r}.")
        return workspace

    async def list(self, session: AsyncSession) -> Sequence[Workspace]:
        return await WorkspaceRepository(session).list_all()

    async def update(
        self, session: AsyncSession, workspace: Workspace, data: WorkspaceUpdate, *, actor: Actor
    ) -> Workspace:
        changes = data.changes()
        sent = sorted(changes)
        slug = changes.pop("slug", None)
        if isinstance(slug, str) and slug != workspace.slug:
            if await WorkspaceRepository(session).slug_taken(slug, excluding=workspace.id):
                raise Conflict(f"A workspace with the slug {slug!r} already exists; pick another.")
            workspace.slug = slug
        if changes.pop("rotate_identity_secret", False):
            _rotate_identity_secret(workspace)
        removed = changes.pop("remove_identity_secret", None)
        if isinstance(removed, str):
            _remove_identity_secret(workspace, removed)
        accent = changes.get("changelog_accent")
        if isinstance(accent, str) and (problem := accent_problem(accent)) is not None:
            raise invalid_field("changelog_accent", f"{accent} {problem}", "contrast_too_low")
        host = changes.get("changelog_host")
        if isinstance(host, str) and await WorkspaceRepository(session).changelog_host_taken(
            host, excluding=workspace.id
        ):
            raise Conflict(f"Another workspace already serves its changelog at {host!r}.")
        if data.allowed_origins is not None:
            changes["allowed_origins"] = list(dict.fromkeys(data.allowed_origins))
        for field, value in changes.items():
            setattr(workspace, field, value)
        workspace.updated_at = utc_now()
        workspace.content_version += 1
        session.add(workspace)
        await _flush_or_conflict(session, workspace.slug)
        await audit_service.record(
            session,
            workspace.id,
            actor,
            "settings.updated",
            "workspace",
            workspace.id,
            workspace.name,
            {"fields": sent},
        )
        return workspace

    async def create_key(
        self, session: AsyncSession, workspace_id: str, kind: KeyKind, name: str, *, actor: Actor
    ) -> CreatedKey:
        created = await _new_key(session, workspace_id, kind, name)
        details = {"kind": kind.value, "name": name}
        await _audit_key(session, actor, "key.created", created.api_key, details)
        return created

    async def list_keys(self, session: AsyncSession, workspace_id: str) -> Sequence[ApiKey]:
        return await ApiKeyRepository(session).list_for_workspace(workspace_id)

    async def revoke_key(
        self, session: AsyncSession, workspace_id: str, key_id: str, *, actor: Actor
    ) -> ApiKey:
        repository = ApiKeyRepository(session)
        api_key = await repository.get(workspace_id, key_id)
        if api_key is None:
            raise NotFound(f"No API key {key_id!r} in this workspace.")
        if api_key.revoked_at is not None:
            return api_key
        if (
            api_key.kind == KeyKind.secret
            and await repository.count_active_secret_keys(workspace_id) <= 1
        ):
            raise Conflict(
                "This is the workspace's last active secret key; create another one before "
                "revoking it, or nobody could use the admin API any more."
            )
        api_key.revoked_at = utc_now()
        session.add(api_key)
        await session.flush()
        await _audit_key(session, actor, "key.revoked", api_key, {"name": api_key.name})
        return api_key

    async def authenticate(self, session: AsyncSession, key: str) -> ApiKey:
        """The live key behind a presented key, or 401. Callers check the kind."""
        if not is_well_formed(key):
            raise Unauthorized("The API key is malformed; check that it was copied whole.")
        repository = ApiKeyRepository(session)
        api_key = await repository.get_by_lookup(key_lookup(key))
        if api_key is None or not key_matches(key, api_key.key_hash):
            raise Unauthorized("The API key is not valid.")
        if api_key.revoked_at is not None:
            raise Unauthorized("The API key has been revoked.")
        now = utc_now()
        if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
            await repository.touch_last_used(api_key, now)
        return api_key


async def _new_key(
    session: AsyncSession, workspace_id: str, kind: KeyKind, name: str
) -> CreatedKey:
    key = generate_key(kind)
    api_key = ApiKey(
        workspace_id=workspace_id,
        id=new_id("key"),
        kind=kind.value,
        name=name,
        lookup=key_lookup(key),
        key_hash=hash_key(key),
        preview=key_preview(kind, key),
    )
    session.add(api_key)
    await session.flush()
    return CreatedKey(api_key, key)


async def _audit_key(
    session: AsyncSession, actor: Actor, action: str, api_key: ApiKey, details: dict[str, str]
) -> None:
    await audit_service.record(
        session, api_key.workspace_id, actor, action, "api_key", api_key.id, api_key.name, details
    )


def _new_identity_secret() -> dict[str, str]:
    return {
        "id": new_id("isec"),
        "secret": generate_identity_secret(),
        "created_at": utc_now().isoformat(),
    }


def _rotate_identity_secret(workspace: Workspace) -> None:
    if len(workspace.identity_secrets) >= MAX_IDENTITY_SECRETS:
        raise Conflict(
            f"{MAX_IDENTITY_SECRETS} identity secrets are already active; remove the old one "
            "(remove_identity_secret) once your backend signs with the current one."
        )
    workspace.identity_secrets = [_new_identity_secret(), *workspace.identity_secrets]


def _remove_identity_secret(workspace: Workspace, secret_id: str) -> None:
    ids = [secret["id"] for secret in workspace.identity_secrets]
    if secret_id not in ids:
        raise invalid_field("remove_identity_secret", f"no identity secret {secret_id!r}")
    if ids[0] == secret_id:
        raise Conflict(
            "That is the current identity secret; rotate first, then remove the old one."
        )
    workspace.identity_secrets = [s for s in workspace.identity_secrets if s["id"] != secret_id]


async def _flush_or_conflict(session: AsyncSession, slug: str) -> None:
    try:
        await session.flush()
    except IntegrityError:
        # Two requests raced for the same slug; the loser gets the same answer as a check.
        raise Conflict(
            f"A workspace with the slug {slug!r} already exists; pick another."
        ) from None


workspace_service = WorkspaceService()
