from fastapi import APIRouter, status

from app.accounts.audit import Actor
from app.db import SessionDep
from app.errors import problem_responses
from app.workspaces.auth import AdminAuth, SecretKeyAuth
from app.workspaces.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    WorkspaceCreate,
    WorkspaceCreated,
    WorkspacePublic,
    WorkspaceUpdate,
)
from app.workspaces.service import workspace_service

router = APIRouter(prefix="/v1", tags=["workspaces"])


@router.post("/workspaces", status_code=status.HTTP_201_CREATED, responses=problem_responses(409))
async def create_workspace(
    data: WorkspaceCreate, session: SessionDep, _admin: AdminAuth
) -> WorkspaceCreated:
    """Create a workspace with a publishable and a secret key (instance admin token only).

    The secret key is in this response and nowhere else: store it now.
    """
    created = await workspace_service.create(session, data)
    public = WorkspacePublic.model_validate(created.workspace)
    return WorkspaceCreated(
        **public.model_dump(),
        publishable_key=created.publishable_key,
        secret_key=created.secret_key,
    )


@router.get("/workspace")
async def get_workspace(session: SessionDep, auth: SecretKeyAuth) -> WorkspacePublic:
    """The settings of the workspace the secret key belongs to."""
    workspace = await workspace_service.get(session, auth.workspace_id)
    return WorkspacePublic.model_validate(workspace)


@router.patch("/workspace", responses=problem_responses(409))
async def update_workspace(
    data: WorkspaceUpdate, session: SessionDep, auth: SecretKeyAuth
) -> WorkspacePublic:
    """Change the workspace's settings; only the fields sent change."""
    workspace = await workspace_service.get(session, auth.workspace_id)
    workspace = await workspace_service.update(
        session, workspace, data, actor=Actor.of_api_key(auth)
    )
    return WorkspacePublic.model_validate(workspace)


@router.get("/keys")
async def list_keys(session: SessionDep, auth: SecretKeyAuth) -> list[ApiKeyPublic]:
    """The workspace's API keys, revoked ones included (secret keys shown by their start)."""
    keys = await workspace_service.list_keys(session, auth.workspace_id)
    return [ApiKeyPublic.model_validate(key) for key in keys]


@router.post("/keys", status_code=status.HTTP_201_CREATED)
async def create_key(data: ApiKeyCreate, session: SessionDep, auth: SecretKeyAuth) -> ApiKeyCreated:
    """Create an API key. A secret key is shown in this response only."""
    created = await workspace_service.create_key(
        session, auth.workspace_id, data.kind, data.name, actor=Actor.of_api_key(auth)
    )
    return ApiKeyCreated(
        **ApiKeyPublic.model_validate(created.api_key).model_dump(), key=created.key
    )


@router.delete("/keys/{key_id}", responses=problem_responses(409))
async def revoke_key(key_id: str, session: SessionDep, auth: SecretKeyAuth) -> ApiKeyPublic:
    """Revoke an API key; it stops working on the next request."""
    api_key = await workspace_service.revoke_key(
        session, auth.workspace_id, key_id, actor=Actor.of_api_key(auth)
    )
    return ApiKeyPublic.model_validate(api_key)
