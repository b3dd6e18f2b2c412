"""Access and erasure requests for one end user, by the host's user id."""

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.convertors import Convertor, register_url_convertor

from app.db import SessionDep
from app.end_users.schemas import EndUserErasure, EndUserExport
from app.end_users.service import end_user_service
from app.kit.limits import MAX_USER_ID_LENGTH
from app.workspaces.auth import SecretKeyAuth


class _AnyText(Convertor[str]):
    """One path parameter holding any text: ``/`` and line breaks included.

    A user id is whatever the host's product uses (``org/42`` among them); percent-encoded
    into the path, Starlette decodes ``%2F`` to ``/`` before routing, where the default
    parameter stops at ``/`` and ``:path`` stops at a line break.
    """

    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("any_text", _AnyText())

router = APIRouter(tags=["end users"])
UserIdPath = Annotated[
    str,
    Path(
        max_length=MAX_USER_ID_LENGTH,
        description="Your user id, percent-encoded as one path segment (`org/42` → `org%2F42`).",
    ),
]


@router.get("/v1/end-users/{user_id:any_text}", response_model=EndUserExport)
async def export_end_user(
    user_id: UserIdPath, session: SessionDep, auth: SecretKeyAuth
) -> EndUserExport:
    """Everything stored about one end user (by your user id), for an access request.

    Their record and the anonymous visitors merged into it (attributes, locale, first and
    last seen), their state per announcement, and their raw events: counts by type and the
    events themselves, newest first (`complete` is false past 10 000).
    """
    return await end_user_service.export(session, auth.workspace_id, user_id)


@router.delete("/v1/end-users/{user_id:any_text}", response_model=EndUserErasure)
async def erase_end_user(
    user_id: UserIdPath, session: SessionDep, auth: SecretKeyAuth
) -> EndUserErasure:
    """Erase one end user (by your user id): attributes, state and raw events.

    Aggregate counts, unique counts included, stay unchanged; they are anonymous.
    Anonymous visitors who later identified as this user are erased with them.
    """
    return await end_user_service.erase(session, auth.workspace_id, user_id)
