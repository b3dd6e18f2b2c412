"""SQL of the event writer: raw events stored once per id, and which announcements exist.

Compiled once per dialect and run on the driver with positional parameters
(app/kit/compiled.py): ``executemany`` for rows, one parameter for a whole list of ids.
Events are idempotent through ``INSERT ... ON CONFLICT DO NOTHING`` on (workspace, id).
"""

from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Select,
    String,
    bindparam,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.dml import Insert, Update

from app.end_users.statements import (
    bump_state_versions_of_many,
    end_user_searches,
    lock_or_create_states_from_arrays,
    save_states_from_arrays,
)
from app.engagement.statements import add_to_stats_from_arrays
from app.kit.sql import among, insert_for
from app.models.tables import announcements as ANNOUNCEMENTS
from app.models.tables import events as EVENTS

# Every column of a raw event, in the order the ingestor's rows carry them.
EVENT_COLUMNS = tuple(column.key for column in EVENTS.columns)


def known_announcements(dialect: str) -> Select[Any]:
    """Binds ``workspace_id`` and ``ids``: which of these announcements the workspace has."""
    return select(ANNOUNCEMENTS.c.id).where(
        ANNOUNCEMENTS.c.workspace_id == bindparam("workspace_id"),
        among(dialect, ANNOUNCEMENTS.c.id, "ids"),
    )


def group_references(dialect: str) -> CompoundSelect[Any]:
    """What a group refers to, in one round trip: which announcements exist, and the ids of
    the end users who exist.

    Binds ``workspace_id``, ``ids`` (announcements), ``user_ids`` and ``anonymous_ids``.
    Columns: ``id, user_id, anonymous_id, kind``; ``kind`` is ``"announcement"`` (then
    only ``id`` is set) or ``"end_user"`` (as ``end_users_by_key`` returns them).
    """
    no_text = null().cast(String)
    announcements = known_announcements(dialect).add_columns(
        no_text, no_text, literal("announcement")
    )
    end_users = [part.add_columns(literal("end_user")) for part in end_user_searches(dialect)]
    return union_all(announcements, *end_users)


# Two sets of arrays in one statement: the second's are named with a prefix.
STATES_PREFIX = "states_"
STATS_PREFIX = "stats_"


def insert_events_and_lock_states() -> CompoundSelect[Any]:
    """PostgreSQL: ``insert_events_returning`` and ``lock_or_create_states_from_arrays``
    in one round trip.

    Binds the former's arrays and the latter's, named ``states_`` + column. Rows of the
    first kind carry ``event_id`` (an event this statement inserted), the others
    ``end_user_id, announcement_id`` and the state fields of a locked state row. Every
    writer runs this same statement, so all take their locks in the same order: state
    rows (sorted), then events.
    """
    inserted = insert_events_returning().cte("inserted")
    states = lock_or_create_states_from_arrays(STATES_PREFIX).cte("states")
    state_rows = select(null().cast(String).label("event_id"), *states.c)
    event_rows = select(inserted.c.id, *[null().cast(column.type) for column in states.c])
    return union_all(state_rows, event_rows)


def write_states_counters_and_versions() -> Update:
    """PostgreSQL: the end users' state versions bumped, their changed state rows saved and
    the counters added to, in one statement.

    Binds ``bump_state_versions_of_many``'s parameters, ``save_states_from_arrays``'s
    arrays and ``add_to_stats_from_arrays``'s (named ``stats_`` + column). The state rows
    are locked already. The end users are locked in id order (the statement's own
    ``FOR NO KEY UPDATE``) and the counters in the arrays' order; every writer runs this
    same statement, so all take them in the same sequence.
    """
    saved = save_states_from_arrays().cte("saved")
    added = add_to_stats_from_arrays(STATS_PREFIX).cte("added")
    return bump_state_versions_of_many().add_cte(saved).add_cte(added)


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
