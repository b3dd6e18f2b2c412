"""Queries over one person's rows: their end-user records, states and raw events."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import EndUser, Event, UserState


class EndUserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ids_of_person(self, workspace_id: str, user_id: str) -> list[str]:
        """The end user with this host id, then the anonymous visitors merged into it."""
        identified = (
            await self.session.execute(
                select(col(EndUser.id)).where(
                    col(EndUser.workspace_id) == workspace_id, col(EndUser.user_id) == user_id
                )
            )
        ).scalar_one_or_none()
        if identified is None:
            return []
        merged = await self.session.execute(
            select(col(EndUser.id))
            .where(
                col(EndUser.workspace_id) == workspace_id,
                col(EndUser.merged_into) == identified,
            )
            .order_by(col(EndUser.id))
        )
        return [identified, *merged.scalars().all()]

    async def end_users(self, workspace_id: str, ids: Sequence[str]) -> Sequence[EndUser]:
        statement = select(EndUser).where(
            col(EndUser.workspace_id) == workspace_id, col(EndUser.id).in_(ids)
        )
        rows = (await self.session.execute(statement)).scalars().all()
        order = {end_user_id: index for index, end_user_id in enumerate(ids)}
        return sorted(rows, key=lambda row: order[row.id])

    async def states(self, workspace_id: str, ids: Sequence[str]) -> Sequence[UserState]:
        statement = (
            select(UserState)
            .where(col(UserState.workspace_id) == workspace_id, col(UserState.end_user_id).in_(ids))
            .order_by(col(UserState.end_user_id), col(UserState.announcement_id))
        )
        return (await self.session.execute(statement)).scalars().all()

    async def newest_events(
        self, workspace_id: str, ids: Sequence[str], limit: int
    ) -> Sequence[Event]:
        statement = (
            select(Event)
            .where(col(Event.workspace_id) == workspace_id, col(Event.end_user_id).in_(ids))
            .order_by(col(Event.occurred_at).desc(), col(Event.id).desc())
            .limit(limit)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def event_counts(
        self, workspace_id: str, ids: Sequence[str]
    ) -> list[tuple[str, int, datetime, datetime]]:
        """Per event type: how many, the first and the last occurrence."""
        statement = (
            select(
                col(Event.type),
                func.count(),
                func.min(col(Event.occurred_at)),
                func.max(col(Event.occurred_at)),
            )
            .where(col(Event.workspace_id) == workspace_id, col(Event.end_user_id).in_(ids))
            .group_by(col(Event.type))
            .order_by(col(Event.type))
        )
        result = await self.session.execute(statement)
        return [(kind, int(count), first, last) for kind, count, first, last in result.all()]

    async def erase(self, workspace_id: str, ids: Sequence[str]) -> dict[str, int]:
        counts = {}
        for name, model, column in (
            ("events", Event, col(Event.end_user_id)),
            ("states", UserState, col(UserState.end_user_id)),
            ("end_users", EndUser, col(EndUser.id)),
        ):
            result = await self.session.execute(
                delete(model).where(col(model.workspace_id) == workspace_id, column.in_(ids))
            )
            counts[name] = int(getattr(result, "rowcount", 0))
        return counts
