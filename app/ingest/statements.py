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
from sqlalchemy.sql.dml import Insert

from app.end_users.statements import end_user_searches, save_states_from_arrays
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


STATS_PREFIX = "stats_"


def save_states_and_add_to_stats() -> Insert:
    """PostgreSQL: the changed state rows saved and the counters added to, in one statement.

    Binds ``save_states_from_arrays``'s arrays and ``add_to_stats_from_arrays``'s, the
    latter named ``stats_`` + column. The state rows are locked already (the writer locked
    them first), so the only locks it takes are the counters', in the arrays' order.
    """
    saved = save_states_from_arrays().cte("saved")
    return add_to_stats_from_arrays(STATS_PREFIX).add_cte(saved)


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
