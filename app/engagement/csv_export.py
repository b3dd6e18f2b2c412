"""RFC 4180 CSV of the same figures the JSON shows."""

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from app.engagement.series import FLAT_COLUMNS, flat

WORKSPACE_COLUMNS = ("announcement_id", "title", "state", "published_at")


def announcement_csv(stats: Mapping[str, Any]) -> str:
    """One announcement's series (``EngagementService.announcement_stats``), a row a bucket."""
    return to_csv(["start"], stats["series"])


def workspace_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """The workspace's rows (``EngagementService.workspace_stats``), a row an announcement."""
    return to_csv(WORKSPACE_COLUMNS, rows)


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


# A cell starting with one of these is a formula (or becomes one once a spreadsheet trims
# the tab or line break) in Excel, LibreOffice and Google Sheets: OWASP's CSV injection.
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, str):
        return neutralised(value)
    return value


def neutralised(text: str) -> str:
    """Text a spreadsheet shows as text: a leading formula character gets a ``'`` before it."""
    return f"'{text}" if text.startswith(_FORMULA_TRIGGERS) else text
