"""How events change an end user's state and the announcement counters (pure logic).

The caller holds the user's state rows locked, so these read-modify-write steps are exact
under concurrency; each step also says what it adds to the per-quarter-hour counters:

- every impression, click and dismissal adds one to its counter;
- a user adds one unique viewer, clicker or dismisser, once, in the bucket of their first
  impression, click or dismissal;
- reactions count users' current reactions: changing one moves the user from the old
  value's bucket to the new one's, so sums over any range stay exact.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.models.tables import announcement_stats, user_states

BUCKET_MINUTES = 15

# A user's state of one announcement, and the counters of a bucket: every column of their
# tables but the keys, in the tables' order.
STATE_FIELDS = tuple(column.key for column in user_states.columns if not column.primary_key)
COUNTERS = tuple(column.key for column in announcement_stats.columns if not column.primary_key)
AUTO_SURFACES = frozenset({"popover", "banner", "modal"})


def bucket_of(moment: datetime) -> datetime:
    return moment.replace(
        minute=moment.minute - moment.minute % BUCKET_MINUTES, second=0, microsecond=0
    )


_EMPTY_STATE = {
    column.key: column.default.arg if column.default is not None else None  # type: ignore[attr-defined]
    for column in user_states.columns
    if not column.primary_key
}


def empty_state() -> dict[str, Any]:
    """A state row as it is created: the columns' defaults (``seen_count`` 0, the rest null)."""
    return dict(_EMPTY_STATE)


@dataclass
class StatsDelta:
    """Counter changes per (announcement, bucket)."""

    counts: defaultdict[tuple[str, datetime], Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    # Moments repeat (an event adds to two or three counters): their buckets, computed once.
    _buckets: dict[datetime, datetime] = field(default_factory=dict, repr=False)

    def add(self, announcement_id: str, moment: datetime, counter: str, amount: int = 1) -> None:
        bucket = self._buckets.get(moment)
        if bucket is None:
            bucket = self._buckets[moment] = bucket_of(moment)
        self.counts[(announcement_id, bucket)][counter] += amount

    def rows(self, workspace_id: str) -> list[dict[str, Any]]:
        rows = []
        for (announcement_id, bucket), counter in self.counts.items():
            if not any(counter.values()):
                continue
            rows.append(
                {
                    "workspace_id": workspace_id,
                    "announcement_id": announcement_id,
                    "bucket": bucket,
                    **{name: counter.get(name, 0) for name in COUNTERS},
                }
            )
        return rows


def _earliest(current: datetime | None, new: datetime | None) -> datetime | None:
    if current is None:
        return new
    if new is None:
        return current
    return min(current, new)


def _latest(current: datetime | None, new: datetime | None) -> datetime | None:
    if current is None:
        return new
    if new is None:
        return current
    return max(current, new)


def apply_event(
    state: dict[str, Any], announcement_id: str, event: Mapping[str, Any], stats: StatsDelta
) -> None:
    """Fold one new event (never seen before: ids are deduplicated first) into ``state``."""
    fold_event(
        state,
        announcement_id,
        event["type"],
        event["occurred_at"],
        event.get("value"),
        event.get("surface"),
        stats,
    )


def fold_event(
    state: dict[str, Any],
    announcement_id: str,
    kind: str,
    at: datetime,
    value: str | None,
    surface: str | None,
    stats: StatsDelta,
) -> None:
    """``apply_event`` with the event's fields as arguments."""
    if kind == "impression":
        mark_seen(state, at)
        state["seen_count"] += 1
        stats.add(announcement_id, at, "impressions")
        if state["first_impression_at"] is None:
            state["first_impression_at"] = at
            stats.add(announcement_id, at, "unique_viewers")
        if surface in AUTO_SURFACES:
            state["auto_shown_at"] = _latest(state["auto_shown_at"], at)
    elif kind == "click":
        stats.add(announcement_id, at, "clicks")
        if state["clicked_at"] is None:
            state["clicked_at"] = at
            stats.add(announcement_id, at, "unique_clickers")
    elif kind == "dismiss":
        stats.add(announcement_id, at, "dismissals")
        if state["dismissed_at"] is None:
            state["dismissed_at"] = at
            stats.add(announcement_id, at, "unique_dismissers")
    elif kind == "reaction" and value is not None:
        set_reaction(state, announcement_id, value, at, stats)
    elif kind == "open":
        mark_seen(state, at)


def mark_seen(state: dict[str, Any], at: datetime) -> None:
    state["first_seen_at"] = _earliest(state["first_seen_at"], at)
    state["last_seen_at"] = _latest(state["last_seen_at"], at)


def set_reaction(
    state: dict[str, Any], announcement_id: str, value: str, at: datetime, stats: StatsDelta
) -> None:
    previous_at: datetime | None = state["reacted_at"]
    if previous_at is not None and at < previous_at:
        return  # an older reaction arriving late: the latest one stands
    if state["reaction"] is not None and previous_at is not None:
        stats.add(announcement_id, previous_at, f"reactions_{state['reaction']}", -1)
    state["reaction"], state["reacted_at"] = value, at
    stats.add(announcement_id, at, f"reactions_{value}")


def merge_state(
    target: dict[str, Any], source: Mapping[str, Any], announcement_id: str, stats: StatsDelta
) -> None:
    """Fold an anonymous visitor's state into the identified user's: one person now.

    Where both had counted as unique, the later of the two is taken back.
    """
    for first, counter in (
        ("first_impression_at", "unique_viewers"),
        ("clicked_at", "unique_clickers"),
        ("dismissed_at", "unique_dismissers"),
    ):
        mine, theirs = target[first], source[first]
        if mine is not None and theirs is not None:
            stats.add(announcement_id, max(mine, theirs), counter, -1)
        target[first] = _earliest(mine, theirs)
    target["first_seen_at"] = _earliest(target["first_seen_at"], source["first_seen_at"])
    target["last_seen_at"] = _latest(target["last_seen_at"], source["last_seen_at"])
    target["seen_count"] += source["seen_count"]
    target["auto_shown_at"] = _latest(target["auto_shown_at"], source["auto_shown_at"])
    if source["reaction"] is not None:
        # Both reactions were counted; keep the latest and take the other one back.
        if target["reaction"] is None:
            target["reaction"], target["reacted_at"] = source["reaction"], source["reacted_at"]
        elif source["reacted_at"] > target["reacted_at"]:
            stats.add(announcement_id, target["reacted_at"], f"reactions_{target['reaction']}", -1)
            target["reaction"], target["reacted_at"] = source["reaction"], source["reacted_at"]
        else:
            stats.add(announcement_id, source["reacted_at"], f"reactions_{source['reaction']}", -1)


def changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    return any(before[name] != after[name] for name in STATE_FIELDS)


def states_by_announcement(rows: Iterable[Any]) -> dict[str, dict[str, Any]]:
    return {
        row.announcement_id: {name: getattr(row, name) for name in STATE_FIELDS} for row in rows
    }
