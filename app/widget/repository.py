"""Every query of the widget API: end users, their engagement state, raw events.

Concurrency: events are made idempotent by ``INSERT ... ON CONFLICT DO NOTHING``; a user's
state rows are changed only while locked (``SELECT ... FOR UPDATE``; on SQLite the writing
transaction holds the database); counters are added to in SQL (``n = n + excluded.n``).
"""

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import Announcement, AnnouncementStats, EndUser, Event, UserState
from app.widget.engagement import COUNTERS


def _insert(session: AsyncSession, table: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (same API on both backends)."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


class WidgetRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

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
        insert = _insert(self.session, EndUser).values(
            workspace_id=workspace_id,
            id=new_id,
            user_id=user_id,
            anonymous_id=None if user_id is not None else anonymous_id,
            attributes={},
            state_version=0,
            first_seen_at=now,
            last_seen_at=now,
        )
        await self.session.execute(insert.on_conflict_do_nothing())
        end_user = await self.find_end_user(
            workspace_id, user_id=user_id, anonymous_id=anonymous_id
        )
        assert end_user is not None
        return end_user

    async def save_profile(
        self,
        end_user: EndUser,
        attributes: dict[str, Any],
        locale: str | None,
        now: datetime,
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

    async def bump_state_version(self, end_user: EndUser, now: datetime) -> None:
        await self.session.execute(
            update(EndUser)
            .where(
                col(EndUser.workspace_id) == end_user.workspace_id,
                col(EndUser.id) == end_user.id,
            )
            .values(last_seen_at=now, state_version=col(EndUser.state_version) + 1)
        )

    async def mark_merged(self, anonymous: EndUser, into: EndUser, now: datetime) -> None:
        await self.session.execute(
            update(EndUser)
            .where(
                col(EndUser.workspace_id) == anonymous.workspace_id,
                col(EndUser.id) == anonymous.id,
            )
            .values(
                merged_into=into.id, last_seen_at=now, state_version=col(EndUser.state_version) + 1
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
        """Create the missing state rows, so that they can be locked and updated."""
        if not announcement_ids:
            return
        rows = [
            {
                "workspace_id": workspace_id,
                "end_user_id": end_user_id,
                "announcement_id": announcement_id,
                "seen_count": 0,
            }
            for announcement_id in sorted(announcement_ids)
        ]
        await self.session.execute(
            _insert(self.session, UserState).values(rows).on_conflict_do_nothing()
        )

    async def lock_states(
        self,
        workspace_id: str,
        end_user_id: str,
        announcement_ids: Collection[str] | None = None,
    ) -> Sequence[UserState]:
        """The user's state rows, locked until commit (SQLite: the writer holds the database)."""
        statement = (
            select(UserState)
            .where(
                col(UserState.workspace_id) == workspace_id,
                col(UserState.end_user_id) == end_user_id,
            )
            .order_by(col(UserState.announcement_id))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if announcement_ids is not None:
            statement = statement.where(col(UserState.announcement_id).in_(announcement_ids))
        return (await self.session.execute(statement)).scalars().all()

    async def save_states(
        self, workspace_id: str, end_user_id: str, states: Mapping[str, Mapping[str, Any]]
    ) -> None:
        if not states:
            return
        rows = [
            {
                "workspace_id": workspace_id,
                "end_user_id": end_user_id,
                "announcement_id": announcement_id,
                **state,
            }
            for announcement_id, state in states.items()
        ]
        await self.session.execute(update(UserState), rows)

    async def delete_states(self, workspace_id: str, end_user_id: str) -> None:
        await self.session.execute(
            delete(UserState).where(
                col(UserState.workspace_id) == workspace_id,
                col(UserState.end_user_id) == end_user_id,
            )
        )

    async def add_stats(self, rows: list[dict[str, Any]]) -> None:
        """Add to the per-bucket counters (created on first use)."""
        if not rows:
            return
        insert = _insert(self.session, AnnouncementStats).values(rows)
        current = AnnouncementStats.__table__.c  # type: ignore[attr-defined]
        await self.session.execute(
            insert.on_conflict_do_update(
                index_elements=["workspace_id", "announcement_id", "bucket"],
                set_={name: current[name] + insert.excluded[name] for name in COUNTERS},
            )
        )

    # --- events -------------------------------------------------------------------------

    async def existing_announcement_ids(
        self, workspace_id: str, announcement_ids: Collection[str]
    ) -> set[str]:
        if not announcement_ids:
            return set()
        statement = select(col(Announcement.id)).where(
            col(Announcement.workspace_id) == workspace_id,
            col(Announcement.id).in_(announcement_ids),
        )
        return set((await self.session.execute(statement)).scalars().all())

    async def insert_events(self, rows: list[dict[str, Any]]) -> set[str]:
        """Insert what is new; the ids actually inserted (the rest already existed)."""
        if not rows:
            return set()
        insert = _insert(self.session, Event).values(rows).on_conflict_do_nothing()
        result = await self.session.execute(insert.returning(col(Event.id)))
        return set(result.scalars().all())

    async def event_hashes(self, workspace_id: str, event_ids: Collection[str]) -> dict[str, str]:
        statement = select(col(Event.id), col(Event.payload_hash)).where(
            col(Event.workspace_id) == workspace_id, col(Event.id).in_(event_ids)
        )
        return {row.id: row.payload_hash for row in (await self.session.execute(statement)).all()}
