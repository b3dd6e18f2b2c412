"""The audit log over the admin API (the console shows the same entries)."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.accounts.audit import audit_service
from app.accounts.schemas import AuditEntryPublic, AuditLogPage
from app.db import SessionDep
from app.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from app.workspaces.auth import SecretKeyAuth

router = APIRouter(prefix="/v1", tags=["audit log"])


@router.get("/audit-log")
async def list_audit_log(
    session: SessionDep,
    auth: SecretKeyAuth,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> AuditLogPage:
    """Who created, changed, published, archived or deleted what, and when; newest first."""
    page = await audit_service.page(session, auth.workspace_id, limit, cursor)
    return AuditLogPage(
        data=[AuditEntryPublic.model_validate(entry) for entry in page.entries],
        next_cursor=page.next_cursor,
    )
