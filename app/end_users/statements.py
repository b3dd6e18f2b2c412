"""SQL of end users and their per-announcement state, shared by every path that writes them.

The request path (identify, merge) runs these on an ``AsyncSession``; the event writer
compiles each once per dialect and runs it on the driver (app/kit/compiled.py).
Concurrency: a user's state rows change only while locked (``SELECT ... FOR UPDATE``,
ordered so that lockers never deadlock; on SQLite the writing transaction holds the
database).
"""

from collections.abc import Collection
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Delete,
    Select,
    Update,
    any_,
    bindparam,
    delete,
    func,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.dml import Insert

from app.engagement.counting import STATE_FIELDS
from app.kit.sql import among, insert_for, json_rows
from app.models.tables import end_users as END_USERS
from app.models.tables import user_states as STATES


def insert_end_users(dialect: str) -> Insert:
    """Create end users (one parameter set per row); one that exists already is skipped."""
    return insert_for(dialect, END_USERS).on_conflict_do_nothing()  # type: ignore[no-any-return]


def ensure_end_users(dialect: str, rows: list[dict[str, Any]]) -> Insert:
    return insert_end_users(dialect).values(rows)


def end_users_by_key(dialect: str) -> CompoundSelect[Any]:
    """Binds ``workspace_id``, ``user_ids`` and ``anonymous_ids`` (lists).

    Columns: ``id, user_id, anonymous_id``.
    """
    return union_all(*end_user_searches(dialect))


def end_user_searches(dialect: str) -> tuple[Select[Any], Select[Any]]:
    """``end_users_by_key``'s two searches, one per unique key (with ``OR`` SQLite would
    scan the workspace), for a statement that adds columns to them."""

    def by(column: Any, name: str) -> Select[Any]:
        return select(END_USERS.c.id, END_USERS.c.user_id, END_USERS.c.anonymous_id).where(
            END_USERS.c.workspace_id == bindparam("workspace_id"), among(dialect, column, name)
        )

    return by(END_USERS.c.user_id, "user_ids"), by(END_USERS.c.anonymous_id, "anonymous_ids")


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


def bump_state_versions_of_many() -> Update:
    """PostgreSQL: ``bump_state_version`` for many end users in one statement.

    Binds ``bump_workspace_id``, ``bump_ids`` (an array) and ``bump_now``. The rows are
    locked in the order of their ids first (``FOR NO KEY UPDATE``, as an update of them
    takes, which leaves foreign-key checks of their state rows free to run): concurrent
    writers then take them in the same order.
    """
    ids = bindparam("bump_ids", type_=postgresql.ARRAY(END_USERS.c.id.type))
    in_order = (
        select(END_USERS.c.id)
        .where(
            END_USERS.c.workspace_id == bindparam("bump_workspace_id"), END_USERS.c.id == any_(ids)
        )
        .order_by(END_USERS.c.id)
        .with_for_update(key_share=True)
    )
    return (
        update(END_USERS)
        .where(
            END_USERS.c.workspace_id == bindparam("bump_workspace_id"),
            END_USERS.c.id.in_(in_order.scalar_subquery()),
        )
        .values(last_seen_at=bindparam("bump_now"), state_version=END_USERS.c.state_version + 1)
    )


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


def _arrays(names: Collection[str], prefix: str = "") -> Any:
    """PostgreSQL: rows from one array parameter per column (named ``prefix`` + column)."""
    arrays = [
        bindparam(prefix + name, type_=postgresql.ARRAY(STATES.c[name].type)) for name in names
    ]
    return func.unnest(*arrays).table_valued(*names).render_derived(name="given")


STATE_KEY = ("workspace_id", "end_user_id", "announcement_id")


def lock_or_create_states_from_arrays(prefix: str = "") -> Insert:
    """PostgreSQL: the state rows of many keys, created where missing, locked until commit.

    Binds one array per column of ``STATE_KEY`` and ``seen_count``, each named ``prefix`` +
    the column. Columns: ``end_user_id, announcement_id``, then the state fields
    (``STATE_FIELDS``). A key that exists is "updated" to itself: that locks it (waiting
    for a concurrent writer of it to finish) and returns its latest committed values, in
    the round trip that creates the others. Rows are taken in the arrays' order (sort
    them: concurrent writers then lock in the same order).
    """
    names = (*STATE_KEY, "seen_count")
    source = _arrays(names, prefix)
    statement = postgresql.insert(STATES).from_select(list(names), select(*source.c))
    statement = statement.on_conflict_do_update(
        index_elements=list(STATE_KEY), set_={"seen_count": STATES.c.seen_count}
    )
    returned = [STATES.c.end_user_id, STATES.c.announcement_id]
    return statement.returning(*returned, *[STATES.c[name] for name in STATE_FIELDS])


def save_states_from_arrays() -> Update:
    """PostgreSQL: ``save_states`` for many rows in one statement, one array per column.

    Binds ``STATE_KEY`` and ``STATE_FIELDS``, each as an array. A statement per row cost
    PostgreSQL its per-statement work (about 25 µs) on each of a group's hundreds of rows.
    """
    source = _arrays((*STATE_KEY, *STATE_FIELDS))
    return (
        update(STATES)
        .where(*(STATES.c[name] == source.c[name] for name in STATE_KEY))
        .values({name: source.c[name] for name in STATE_FIELDS})
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
