"""SQL of the widget's writes, as statement builders shared by every executor.

The request path runs them on an ``AsyncSession``; the event ingestor runs them on a
synchronous ``Connection`` (SQLite, on the event loop) or through ``run_sync``
(PostgreSQL). One definition each, whatever runs it.

Concurrency: events are idempotent through ``INSERT ... ON CONFLICT DO NOTHING``; a user's
state rows change only while locked (``SELECT ... FOR UPDATE``; on SQLite the writing
transaction holds the database); counters are added to in SQL (``n = n + excluded.n``).
"""

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Delete, Select, Update, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from app.models import Announcement, AnnouncementStats, EndUser, Event, UserState
from app.widget.engagement import COUNTERS, STATE_FIELDS

END_USERS = EndUser.__table__  # type: ignore[attr-defined]
EVENTS = Event.__table__  # type: ignore[attr-defined]
STATES = UserState.__table__  # type: ignore[attr-defined]
STATS = AnnouncementStats.__table__  # type: ignore[attr-defined]
ANNOUNCEMENTS = Announcement.__table__  # type: ignore[attr-defined]


def insert_for(dialect: str, table: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (same API on both backends)."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def ensure_end_users(dialect: str, rows: list[dict[str, Any]]) -> Insert:
    return insert_for(dialect, END_USERS).values(rows).on_conflict_do_nothing()  # type: ignore[no-any-return]


def end_user_ids(
    workspace_id: str, user_ids: Collection[str], anonymous_ids: Collection[str]
) -> Select[Any]:
    return select(END_USERS.c.id, END_USERS.c.user_id, END_USERS.c.anonymous_id).where(
        END_USERS.c.workspace_id == workspace_id,
        END_USERS.c.user_id.in_(user_ids) | END_USERS.c.anonymous_id.in_(anonymous_ids),
    )


def bump_state_versions(workspace_id: str, ids: Collection[str], now: datetime) -> Update:
    return (
        update(END_USERS)
        .where(END_USERS.c.workspace_id == workspace_id, END_USERS.c.id.in_(ids))
        .values(last_seen_at=now, state_version=END_USERS.c.state_version + 1)
    )


def known_announcements(workspace_id: str, ids: Collection[str]) -> Select[Any]:
    return select(ANNOUNCEMENTS.c.id).where(
        ANNOUNCEMENTS.c.workspace_id == workspace_id, ANNOUNCEMENTS.c.id.in_(ids)
    )


def insert_events(dialect: str, rows: list[dict[str, Any]]) -> Insert:
    """Insert what is new and return the ids actually inserted (the rest already existed)."""
    statement = insert_for(dialect, EVENTS).values(rows).on_conflict_do_nothing()
    return statement.returning(EVENTS.c.id)  # type: ignore[no-any-return]


def event_hashes(workspace_id: str, ids: Collection[str]) -> Select[Any]:
    return select(EVENTS.c.id, EVENTS.c.payload_hash).where(
        EVENTS.c.workspace_id == workspace_id, EVENTS.c.id.in_(ids)
    )


def ensure_states(dialect: str, rows: list[dict[str, Any]]) -> Insert:
    """Create missing state rows (``workspace_id, end_user_id, announcement_id``)."""
    rows = [{**row, "seen_count": 0} for row in rows]
    return insert_for(dialect, STATES).values(rows).on_conflict_do_nothing()  # type: ignore[no-any-return]


def lock_states(
    workspace_id: str,
    end_user_ids: Collection[str],
    announcement_ids: Collection[str] | None = None,
) -> Select[Any]:
    """State rows, locked until commit; ordered, so concurrent lockers never deadlock."""
    statement = (
        select(STATES)
        .where(STATES.c.workspace_id == workspace_id, STATES.c.end_user_id.in_(end_user_ids))
        .order_by(STATES.c.end_user_id, STATES.c.announcement_id)
        .with_for_update()
    )
    if announcement_ids is not None:
        statement = statement.where(STATES.c.announcement_id.in_(announcement_ids))
    return statement


def save_states() -> Update:
    """Executed with one parameter set per row: ``key_*`` and the state fields."""
    return (
        update(STATES)
        .where(
            STATES.c.workspace_id == bindparam("key_workspace_id"),
            STATES.c.end_user_id == bindparam("key_end_user_id"),
            STATES.c.announcement_id == bindparam("key_announcement_id"),
        )
        .values({name: bindparam(name) for name in STATE_FIELDS})
    )


def state_parameters(
    workspace_id: str, end_user_id: str, announcement_id: str, state: dict[str, Any]
) -> dict[str, Any]:
    return {
        "key_workspace_id": workspace_id,
        "key_end_user_id": end_user_id,
        "key_announcement_id": announcement_id,
        **{name: state[name] for name in STATE_FIELDS},
    }


def delete_states(workspace_id: str, end_user_id: str) -> Delete:
    return delete(STATES).where(
        STATES.c.workspace_id == workspace_id, STATES.c.end_user_id == end_user_id
    )


def add_stats(dialect: str, rows: list[dict[str, Any]]) -> Insert:
    """Add to the per-bucket counters, creating the bucket on first use."""
    statement = insert_for(dialect, STATS).values(rows)
    return statement.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=["workspace_id", "announcement_id", "bucket"],
        set_={name: STATS.c[name] + statement.excluded[name] for name in COUNTERS},
    )
