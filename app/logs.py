"""JSON log lines, each stamped with the id of the request that caused it."""

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured copy of msg
}


_JSON_LINE_BREAKS = {code: f"\\u{code:04x}" for code in (0x85, 0x2028, 0x2029)}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        # Anything passed through `extra=` becomes a top-level field.
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        # orjson escapes the C0 controls; these three it writes raw, and str.splitlines()
        # (and so many log shippers) would break the line there.
        return orjson.dumps(entry, default=str).decode().translate(_JSON_LINE_BREAKS)


# Line breaks (CR, LF, NEL, U+2028/9), every other control character and DEL: written as
# escapes, so a value from a client (a path with %0D%0A, a header) cannot start a forged
# line or send terminal escape sequences. JSON lines are safe already (orjson escapes them).
_UNPRINTABLE = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]
} | {ord("\r"): "\\r", ord("\n"): "\\n", ord("\t"): "\\t"}


def one_line(text: str) -> str:
    """``text`` with every line break and control character escaped (``\\n``, ``\\x1b``)."""
    return text.translate(_UNPRINTABLE)


class TextFormatter(logging.Formatter):
    """``LEVEL logger: [request id] message``, exactly one line per record.

    A traceback follows on lines that each start with ``  | ``, so no line of it (the
    exception's message may quote client input) reads as a record of its own.
    """

    def format(self, record: logging.LogRecord) -> str:
        request_id = request_id_var.get()
        prefix = f"[{one_line(request_id)}] " if request_id else ""
        line = f"{record.levelname:<7} {record.name}: {prefix}{one_line(record.getMessage())}"
        if record.exc_info:
            trace = self.formatException(record.exc_info)
            line += "".join(f"\n  | {one_line(part)}" for part in trace.splitlines())
        return line


def log_disabled_features(disabled: list[str]) -> None:
    """At start-up, one line per feature the configuration switches off (Settings)."""
    logger = logging.getLogger("tidings.config")
    for sentence in disabled:
        logger.info(sentence)


_PARAMETER_LOGGERS = ("aiosqlite", "sqlalchemy.engine", "sqlalchemy.pool", "asyncpg")


def configure_logging(level: str, fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log is replaced by ours (it carries the request id and timing).
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").handlers[:] = []
    logging.getLogger("uvicorn.access").propagate = False
    # These log SQL with its parameters (key lookups, identity secrets, user hashes) at
    # DEBUG or INFO: whatever TIDINGS_LOG_LEVEL says, they stay at WARNING.
    for name in _PARAMETER_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
