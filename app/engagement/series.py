"""Time buckets in a reader's time zone, and the arithmetic of the figures (pure)."""

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from app.engagement.counting import COUNTERS


class Interval(StrEnum):
    hour = "hour"
    day = "day"


@dataclass(frozen=True, slots=True)
class Bucket:
    start: datetime  # UTC
    label: datetime  # the same instant in the reader's zone


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``zone`` (where midnight is skipped, the first after)."""
    naive = datetime.combine(day, time(0))
    moment = naive.replace(tzinfo=zone)
    # A skipped midnight (DST jump at 00:00) maps past the gap: fold=0 gives the old offset,
    # so the UTC instant lands on the first real local time of the day.
    return moment.astimezone(UTC)


def floor_to(moment: datetime, interval: Interval, zone: ZoneInfo) -> datetime:
    local = moment.astimezone(zone)
    if interval is Interval.day:
        return local_midnight(local.date(), zone)
    return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)


def buckets(start: datetime, end: datetime, interval: Interval, zone: ZoneInfo) -> list[Bucket]:
    """Buckets covering ``[start, end)``, ``start`` already on a boundary. DST-correct: a
    local day is 23, 24 or 25 hours long; a repeated local hour appears twice."""
    result: list[Bucket] = []
    cursor = start
    while cursor < end:
        result.append(Bucket(cursor, cursor.astimezone(zone)))
        if interval is Interval.hour:
            cursor = cursor + timedelta(hours=1)
        else:
            next_day = cursor.astimezone(zone).date() + timedelta(days=1)
            cursor = local_midnight(next_day, zone)
    return result


def empty_counts() -> dict[str, int]:
    return dict.fromkeys(COUNTERS, 0)


def fold_into_buckets(
    series: Sequence[Bucket], rows: Iterable[Mapping[str, Any]]
) -> list[dict[str, int]]:
    """Add quarter-hour rows (``bucket`` + counters) into the series' buckets."""
    starts = [bucket.start for bucket in series]
    sums = [empty_counts() for _ in series]
    for row in rows:
        index = bisect.bisect_right(starts, row["bucket"]) - 1
        if index < 0:
            continue
        target = sums[index]
        for name in COUNTERS:
            target[name] += int(row[name] or 0)
    return sums


def ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def figures(counts: Mapping[str, int]) -> dict[str, Any]:
    """The figures as the API shows them, from summed counters."""
    return {
        "impressions": counts["impressions"],
        "unique_viewers": counts["unique_viewers"],
        "clicks": counts["clicks"],
        "unique_clickers": counts["unique_clickers"],
        "dismissals": counts["dismissals"],
        "unique_dismissers": counts["unique_dismissers"],
        "reactions": {
            "positive": counts["reactions_positive"],
            "neutral": counts["reactions_neutral"],
            "negative": counts["reactions_negative"],
        },
        "ctr": ratio(counts["unique_clickers"], counts["unique_viewers"]),
        "dismiss_rate": ratio(counts["unique_dismissers"], counts["unique_viewers"]),
    }


def add_counts(total: dict[str, int], more: Mapping[str, int]) -> None:
    for name in COUNTERS:
        total[name] += more[name]


FLAT_COLUMNS = (
    "impressions",
    "unique_viewers",
    "clicks",
    "unique_clickers",
    "dismissals",
    "unique_dismissers",
    "reactions_positive",
    "reactions_neutral",
    "reactions_negative",
    "ctr",
    "dismiss_rate",
)


def flat(figures_: Mapping[str, Any]) -> dict[str, Any]:
    """Figures with reactions spread into columns, for CSV and tables."""
    row = {key: value for key, value in figures_.items() if key != "reactions"}
    for value, count in figures_["reactions"].items():
        row[f"reactions_{value}"] = count
    return {column: row[column] for column in FLAT_COLUMNS}
