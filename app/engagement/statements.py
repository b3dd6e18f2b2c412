"""SQL that adds to the quarter-hour counters; counters are added to in SQL (``n = n + k``)."""

from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.dml import Insert

from app.engagement.counting import COUNTERS
from app.kit.sql import insert_for
from app.models.tables import announcement_stats as STATS


def add_to_stats(dialect: str) -> Insert:
    """Add to the per-bucket counters (one parameter set per bucket), creating it first."""
    statement = insert_for(dialect, STATS)
    return statement.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=["workspace_id", "announcement_id", "bucket"],
        set_={name: STATS.c[name] + statement.excluded[name] for name in COUNTERS},
    )


# The columns of a counter row, in the order the writer's rows carry them.
STATS_COLUMNS = ("workspace_id", "announcement_id", "bucket", *COUNTERS)


def add_to_stats_from_arrays(prefix: str) -> Insert:
    """PostgreSQL: ``add_to_stats`` for many buckets in one statement.

    Binds one array per column of ``STATS_COLUMNS``, each named ``prefix`` + the column (so
    that it can share a statement with other arrays). Buckets are added to in the arrays'
    order (sort them: concurrent writers then lock in the same order).
    """
    arrays = [
        bindparam(prefix + name, type_=postgresql.ARRAY(STATS.c[name].type))
        for name in STATS_COLUMNS
    ]
    source = func.unnest(*arrays).table_valued(*STATS_COLUMNS).render_derived(name="added")
    statement = postgresql.insert(STATS).from_select(list(STATS_COLUMNS), select(*source.c))
    return statement.on_conflict_do_update(
        index_elements=["workspace_id", "announcement_id", "bucket"],
        set_={name: STATS.c[name] + statement.excluded[name] for name in COUNTERS},
    )


def add_stats(dialect: str, rows: list[dict[str, Any]]) -> Insert:
    return add_to_stats(dialect).values(rows)
