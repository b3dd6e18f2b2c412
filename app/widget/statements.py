"""SQL of the widget's writes, as statement builders shared by every executor.

The request path runs them on an ``AsyncSession``; the event ingestor compiles each once
per dialect and runs it on the driver with positional parameters: ``executemany`` for
rows, one parameter holding a whole list of ids where a statement needs "any of these"
(``ids_param``: a PostgreSQL array, or JSON text that SQLite reads with ``json_each``).
Either way the SQL text is fixed, whatever the number of rows or ids. One definition
each, whatever runs it.

Concurrency: events are idempotent through ``INSERT ... ON CONFLICT DO NOTHING``; a user's
state rows change only while locked (``SELECT ... FOR UPDATE``; on SQLite the writing
transaction holds the database); counters are added to in SQL (``n = n + excluded.n``).
"""

from collections.abc import Collection
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BindParameter,
    ColumnElement,
    Delete,
    Select,
    String,
    Update,
    any_,
    bindparam,
    cast,
    delete,
    func,
    literal_column,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import TypeDecorator, TypeEngine

from app.models import Announcement, AnnouncementStats, EndUser, Event, UserState
from app.widget.engagement import COUNTERS, STATE_FIELDS

END_USERS = EndUser.__table__  # type: ignore[attr-defined]
EVENTS = Event.__table__  # type: ignore[attr-defined]
STATES = UserState.__table__  # type: ignore[attr-defined]
STATS = AnnouncementStats.__table__  # type: ignore[attr-defined]
ANNOUNCEMENTS = Announcement.__table__  # type: ignore[attr-defined]

# Every column of a raw event, in the order the ingestor's rows carry them.
EVENT_COLUMNS = tuple(column.key for column in EVENTS.columns)


def insert_for(dialect: str, table: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (same API on both backends)."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


class IdList(TypeDecorator[Collection[str]]):
    """Many strings as one bound value: an array on PostgreSQL, JSON text on SQLite."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(String()))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: Collection[str] | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return list(value)
        return orjson.dumps(list(value)).decode()


def ids_param(name: str) -> BindParameter[Any]:
    return bindparam(name, type_=IdList())


def among(dialect: str, column: Any, name: str) -> ColumnElement[bool]:
    """``column IN (the ids bound as name)``, with SQL that does not depend on how many."""
    if dialect == "postgresql":
        return column == any_(ids_param(name))  # type: ignore[no-any-return]
    values = func.json_each(ids_param(name)).table_valued("value")
    return column.in_(select(values.c.value))  # type: ignore[no-any-return]


class JsonText(TypeDecorator[Any]):
    """A value bound as JSON text (which both databases can take apart in SQL)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else orjson.dumps(value).decode()


def json_rows(dialect: str, name: str, width: int) -> Select[Any]:
    """Rows of ``width`` text columns from one parameter: a JSON list of lists.

    Unlike ``IN`` lists, this keeps tuples together; and its SQL never changes.
    """
    if dialect == "postgresql":
        elements = func.json_array_elements(cast(bindparam(name, type_=JsonText()), JSON))
        items = elements.table_valued("value").render_derived()
        fields: list[Any] = [items.c.value.op("->>")(literal_column(str(i))) for i in range(width)]
    else:
        items = func.json_each(bindparam(name, type_=JsonText())).table_valued("value")
        fields = [
            func.json_extract(items.c.value, literal_column(f"'$[{i}]'")) for i in range(width)
        ]
    return select(*fields).select_from(items)


# --- end users -------------------------------------------------------------------------


def insert_end_users(dialect: str) -> Insert:
    """Create end users (one parameter set per row); one that exists already is skipped."""
    return insert_for(dialect, END_USERS).on_conflict_do_nothing()  # type: ignore[no-any-return]


def ensure_end_users(dialect: str, rows: list[dict[str, Any]]) -> Insert:
    return insert_end_users(dialect).values(rows)


def end_users_by_key(dialect: str) -> Select[Any]:
    """Binds ``workspace_id``, ``user_ids`` and ``anonymous_ids`` (lists).

    Two searches, one per unique key: with ``OR`` SQLite would scan the workspace.
    """

    def by(column: Any, name: str) -> Select[Any]:
        return select(END_USERS.c.id, END_USERS.c.user_id, END_USERS.c.anonymous_id).where(
            END_USERS.c.workspace_id == bindparam("workspace_id"), among(dialect, column, name)
        )

    return union_all(  # type: ignore[return-value]
        by(END_USERS.c.user_id, "user_ids"), by(END_USERS.c.anonymous_id, "anonymous_ids")
    )


def bump_state_version() -> Update:
    """One parameter set per end user (``workspace_id``, ``id``, ``now``): their state moved."""
    return (
        update(END_USERS)
        .where(
            END_USERS.c.workspace_id == bindparam("key_workspace_id"),
            END_USERS.c.id == bindparam("key_id"),
        )
        .values(last_seen_at=bindparam("now"), state_version=END_USERS.c.state_version + 1)
    )


def known_announcements(dialect: str) -> Select[Any]:
    """Binds ``workspace_id`` and ``ids``: which of these announcements the workspace has."""
    return select(ANNOUNCEMENTS.c.id).where(
        ANNOUNCEMENTS.c.workspace_id == bindparam("workspace_id"),
        among(dialect, ANNOUNCEMENTS.c.id, "ids"),
    )


# --- events ----------------------------------------------------------------------------


def insert_events(dialect: str) -> Insert:
    """Store raw events, one parameter set per row; an id already stored is skipped."""
    return insert_for(dialect, EVENTS).on_conflict_do_nothing()  # type: ignore[no-any-return]


def insert_events_returning() -> Insert:
    """PostgreSQL: many events from one array per column, returning the ids inserted.

    Ids another transaction stored first are skipped, and absent from the answer: that is
    how concurrent writers (replicas) learn exactly which events were theirs.
    """
    arrays = [
        bindparam(column.key, type_=postgresql.ARRAY(column.type)) for column in EVENTS.columns
    ]
    source = func.unnest(*arrays).table_valued(*EVENT_COLUMNS).render_derived()
    statement = (
        postgresql.insert(EVENTS)
        .from_select(list(EVENT_COLUMNS), select(*source.c))
        .on_conflict_do_nothing()
    )
    return statement.returning(EVENTS.c.id)


def stored_events(dialect: str) -> Select[Any]:
    """Binds ``workspace_id`` and ``ids``: those already stored, with their payload hash."""
    return select(EVENTS.c.id, EVENTS.c.payload_hash).where(
        EVENTS.c.workspace_id == bindparam("workspace_id"),
        among(dialect, EVENTS.c.id, "ids"),
    )


# --- engagement state ------------------------------------------------------------------


def insert_states(dialect: str) -> Insert:
    """Create state rows (``workspace_id, end_user_id, announcement_id, seen_count``)."""
    return insert_for(dialect, STATES).on_conflict_do_nothing()  # type: ignore[no-any-return]


def ensure_states(dialect: str, rows: list[dict[str, Any]]) -> Insert:
    """Create missing state rows (``workspace_id, end_user_id, announcement_id``)."""
    return insert_states(dialect).values([{**row, "seen_count": 0} for row in rows])


def _locked_states(*columns: Any) -> Select[Any]:
    # Ordered, so concurrent lockers never deadlock.
    return (
        select(*columns).order_by(STATES.c.end_user_id, STATES.c.announcement_id).with_for_update()
    )


def lock_states(
    workspace_id: str,
    end_user_ids: Collection[str],
    announcement_ids: Collection[str] | None = None,
) -> Select[Any]:
    """State rows, locked until commit."""
    statement = _locked_states(STATES).where(
        STATES.c.workspace_id == workspace_id, STATES.c.end_user_id.in_(end_user_ids)
    )
    if announcement_ids is not None:
        statement = statement.where(STATES.c.announcement_id.in_(announcement_ids))
    return statement


def lock_states_of(dialect: str) -> Select[Any]:
    """Locked states of exact (end user, announcement) pairs.

    Binds ``workspace_id`` and ``keys``: a list of ``[end_user_id, announcement_id]``.
    Columns: ``end_user_id, announcement_id``, then the state fields (``STATE_FIELDS``).
    """
    keys = json_rows(dialect, "keys", 2)
    columns = [STATES.c.end_user_id, STATES.c.announcement_id]
    return _locked_states(*columns, *[STATES.c[name] for name in STATE_FIELDS]).where(
        STATES.c.workspace_id == bindparam("workspace_id"), tuple_(*columns).in_(keys)
    )


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


# --- counters --------------------------------------------------------------------------


def add_to_stats(dialect: str) -> Insert:
    """Add to the per-bucket counters (one parameter set per bucket), creating it first."""
    statement = insert_for(dialect, STATS)
    return statement.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=["workspace_id", "announcement_id", "bucket"],
        set_={name: STATS.c[name] + statement.excluded[name] for name in COUNTERS},
    )


def add_stats(dialect: str, rows: list[dict[str, Any]]) -> Insert:
    return add_to_stats(dialect).values(rows)
