"""SQL that adds to the quarter-hour counters; counters are added to in SQL (``n = n + k``)."""

from typing import Any

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


def add_stats(dialect: str, rows: list[dict[str, Any]]) -> Insert:
    return add_to_stats(dialect).values(rows)
