"""Every query on end users and their states: found, created, merged, exported, erased."""

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlmodel import col

from app.end_users import statements
from app.kit.repository import Repository
from app.models import EndUser, Event, UserState


class EndUserRepository(Repository):
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

    async def known_end_users(
        self, workspace_id: str, limit: int
    ) -> Sequence[tuple[str | None, str | None, str | None, dict[str, Any] | None]]:
        """(user id, anonymous id, locale, attributes) of the workspace's end users, the
        most recently seen first; anonymous visitors merged into a user are left out."""
        statement = (
            select(
                col(EndUser.user_id),
                col(EndUser.anonymous_id),
                col(EndUser.locale),
                col(EndUser.attributes),
            )
            .where(col(EndUser.workspace_id) == workspace_id, col(EndUser.merged_into).is_(None))
            .order_by(col(EndUser.last_seen_at).desc())
            .limit(limit)
        )
        rows = (await self.session.execute(statement)).all()
        return [(row[0], row[1], row[2], row[3]) for row in rows]

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
