from datetime import UTC, date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, Field

# Every date-time a client sends must fall in this range (in UTC). Python's datetime ends
# at year 9999 in any time zone, so 9999-12-31T23:59:59-14:00 (year 10000 in UTC) or
# 0001-01-01T00:00:00+14:00 (year 0) cannot even be converted, and values near the ends
# overflow in the arithmetic that follows (buckets, time zones, ranges). The range leaves
# a year of room at the top for that arithmetic ("9998-12-31" still reads as "never").
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
SUPPORTED_RANGE = "must be from 1970-01-01T00:00:00Z up to (not including) 9999-01-01T00:00:00Z"


def utc_now() -> datetime:
    """The one clock of the service: timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Treat naive datetimes as UTC (SQLite returns them naive) and convert aware ones."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def supported_instant(value: datetime) -> datetime:
    """``value`` unchanged when it lies in the supported range, else ``ValueError``.

    Naive values are taken as UTC, as ``as_utc`` does.
    """
    try:
        instant = as_utc(value)
    except OverflowError:  # beyond datetime's own range once converted to UTC
        raise ValueError(SUPPORTED_RANGE) from None
    if not EARLIEST <= instant < LATEST:
        raise ValueError(SUPPORTED_RANGE)
    return value


def supported_day(value: date) -> date:
    """``value`` unchanged when the whole day lies in the supported range in any zone."""
    if not EARLIEST.date() < value < LATEST.date():
        raise ValueError(SUPPORTED_RANGE)
    return value


# The type of every date-time field in a request body: with an offset, in range.
Instant = Annotated[
    AwareDatetime,
    AfterValidator(supported_instant),
    Field(description=f"An RFC 3339 date-time with an offset; {SUPPORTED_RANGE}."),
]


def iana_zone(name: str) -> str:
    """``name`` when it names an IANA time zone (``Europe/Berlin``), else ValueError."""
    try:
        return ZoneInfo(name).key
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin)") from None


TimeZone = Annotated[str, Field(max_length=64), AfterValidator(iana_zone)]
