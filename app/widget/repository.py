"""The widget's queries on the request path (identify, feed); writes use ``statements``."""

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import EndUser, UserState
from app.widget import statements


class WidgetRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        return self.session.bind.dialect.name if self.session.bind else "sqlite"

    # --- end users ---------------------------------------------------------------------

    async def find_end_user(
        self, workspace_id: str, *, user_id: str | None, anonymous_id: str | None
    ) -> EndUser | None:
        statement = (
            select(EndUser)
            .where(col(EndUser.workspace_id) == workspace_id)
            .execution_options(populate_existing=True)
        )
        if user_id is not None:
            statement = statement.where(col(EndUser.user_id) == user_id)
        else:
            statement = statement.where(col(EndUser.anonymous_id) == anonymous_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def ensure_end_user(
        self,
        workspace_id: str,
        new_id: str,
        now: datetime,
        *,
        user_id: str | None,
        anonymous_id: str | None,
    ) -> EndUser:
        """The end user with this key, created if new; safe when requests race."""
        row = new_end_user_row(workspace_id, new_id, now, user_id, anonymous_id)
        await self.session.execute(statements.ensure_end_users(self.dialect, [row]))
        end_user = await self.find_end_user(
            workspace_id, user_id=user_id, anonymous_id=anonymous_id
        )
        assert end_user is not None
        return end_user

    async def save_profile(
        self, end_user: EndUser, attributes: dict[str, Any], locale: str | None, now: datetime
    ) -> None:
        await self.session.execute(
            update(EndUser)
            .where(
                col(EndUser.workspace_id) == end_user.workspace_id,
                col(EndUser.id) == end_user.id,
            )
            .values(
                attributes=attributes,
                locale=locale,
                last_seen_at=now,
                state_version=col(EndUser.state_version) + 1,
            )
        )

    async def mark_merged(self, anonymous: EndUser, into: EndUser, now: datetime) -> None:
        await self.session.execute(
            update(EndUser)
            .where(
                col(EndUser.workspace_id) == anonymous.workspace_id,
                col(EndUser.id) == anonymous.id,
            )
            .values(
                merged_into=into.id,
                last_seen_at=now,
                state_version=col(EndUser.state_version) + 1,
            )
        )

    # --- engagement state -------------------------------------------------------------

    async def states_of(self, workspace_id: str, end_user_id: str) -> Sequence[UserState]:
        statement = (
            select(UserState)
            .where(
                col(UserState.workspace_id) == workspace_id,
                col(UserState.end_user_id) == end_user_id,
            )
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def ensure_states(
        self, workspace_id: str, end_user_id: str, announcement_ids: Collection[str]
    ) -> None:
        if announcement_ids:
            rows = [
                {"workspace_id": workspace_id, "end_user_id": end_user_id, "announcement_id": a}
                for a in sorted(announcement_ids)
            ]
            await self.session.execute(statements.ensure_states(self.dialect, rows))

    async def lock_states(
        self,
        workspace_id: str,
        end_user_id: str,
        announcement_ids: Collection[str] | None = None,
    ) -> Sequence[Any]:
        statement = statements.lock_states(workspace_id, [end_user_id], announcement_ids)
        return list((await self.session.execute(statement)).all())

    async def save_states(
        self, workspace_id: str, end_user_id: str, states: Mapping[str, dict[str, Any]]
    ) -> None:
        if states:
            parameters = [
                statements.state_parameters(workspace_id, end_user_id, announcement_id, state)
                for announcement_id, state in states.items()
            ]
            await self.session.execute(statements.save_states(), parameters)

    async def delete_states(self, workspace_id: str, end_user_id: str) -> None:
        await self.session.execute(statements.delete_states(workspace_id, end_user_id))

    async def add_stats(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(statements.add_stats(self.dialect, rows))


def new_end_user_row(
    workspace_id: str, new_id: str, now: datetime, user_id: str | None, anonymous_id: str | None
) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "id": new_id,
        "user_id": user_id,
        # An identified user is found by user_id; the anonymous id is merged, not stored.
        "anonymous_id": None if user_id is not None else anonymous_id,
        "attributes": {},
        "state_version": 0,
        "first_seen_at": now,
        "last_seen_at": now,
    }
