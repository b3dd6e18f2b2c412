"""RFC 4180 CSV of the same figures the JSON shows."""

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from app.engagement.series import FLAT_COLUMNS, flat


def to_csv(leading: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """One header row, then one line per row: ``leading`` columns, then the figures."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*leading, *FLAT_COLUMNS])
    for row in rows:
        figures = flat(row)
        writer.writerow(
            [_cell(row[name]) for name in leading] + [_cell(figures[c]) for c in FLAT_COLUMNS]
        )
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
