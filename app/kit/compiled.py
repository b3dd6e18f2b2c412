"""Statements compiled once for a dialect and run on the driver, for hot write paths.

SQLAlchemy compiles a multi-row ``VALUES`` afresh for every distinct row count, and its
per-statement bookkeeping adds up over a dozen statements per event group. A
``CompiledStatement`` has fixed SQL (``executemany`` for rows, one list parameter for
"any of these ids"), so the driver prepares it once too, while the column types' own bind
and result processors still apply: the database sees exactly what the ORM would write.
"""

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from app.kit.db_types import UTCDateTime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)


class SqliteTimes:
    """UTC datetimes to and from the text SQLAlchemy stores on SQLite, for one group.

    The same text and values as the column type's own processors (a test holds them to
    it), several times faster; and since most of what a group reads it writes back
    unchanged (state rows), the texts it read are reused instead of formatted again.
    """

    def __init__(self) -> None:
        self._texts: dict[datetime, str] = {}

    def clear(self) -> None:
        self._texts.clear()

    def text(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        text = self._texts.get(value)
        if text is None:
            aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
            # "YYYY-MM-DD HH:MM:SS.ffffff", naive UTC (subtracting is cheaper than replace).
            text = (_NAIVE_EPOCH + (aware - _EPOCH)).isoformat(" ", "microseconds")
            self._texts[value] = text
        return text

    def value(self, text: str | None) -> datetime | None:
        if text is None:
            return None
        value = datetime.fromisoformat(text + "+00:00")
        self._texts[value] = text
        return value


def _bind_processor(
    type_: Any, dialect: Dialect, times: SqliteTimes
) -> Callable[[Any], Any] | None:
    if dialect.name == "sqlite" and isinstance(type_, UTCDateTime):
        return times.text
    process: Callable[[Any], Any] | None = type_.dialect_impl(dialect).bind_processor(dialect)
    return process


def _result_processor(
    type_: Any, dialect: Dialect, times: SqliteTimes
) -> Callable[[Any], Any] | None:
    if dialect.name == "sqlite" and isinstance(type_, UTCDateTime):
        return times.value
    process: Callable[[Any], Any] | None = type_.dialect_impl(dialect).result_processor(
        dialect, None
    )
    return process


class CompiledStatement:
    """A statement compiled once for a dialect, run on the driver with positional parameters.

    SQLAlchemy compiles a multi-row ``VALUES`` afresh for every distinct row count, which
    cost more than the writes; these statements have fixed SQL (``executemany`` for rows,
    one list parameter for "any of these ids"), so the driver prepares them once too. The
    column types' own bind and result processors still apply: the database sees exactly
    what the ORM would write.
    """

    __slots__ = (
        "_binders",
        "_constants",
        "_direct",
        "_few",
        "_names",
        "_pick",
        "_readers",
        "sql",
    )

    def __init__(
        self,
        statement: Any,
        dialect: Dialect,
        times: SqliteTimes,
        keys: Sequence[str] | None = None,
    ) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        self.sql = str(compiled)
        self._direct = dialect.name == "sqlite"
        self._names: tuple[str, ...] = tuple(compiled.positiontup or ())
        # Values written into the statement itself (the 1 of ``n + 1``) bind as themselves.
        self._constants = {
            name: bind.effective_value
            for name, bind in compiled.binds.items()
            if name in self._names and not bind.required
        }
        self._few = len(self._names) < 2  # itemgetter answers a tuple from two names on
        self._pick = itemgetter(*self._names)
        binders = []
        for position, name in enumerate(self._names):
            process = _bind_processor(compiled.binds[name].type, dialect, times)
            if process is not None:
                binders.append((position, process))
        self._binders = tuple(binders)
        readers = []
        for position, column in enumerate(getattr(statement, "exported_columns", ())):
            process = _result_processor(column.type, dialect, times)
            if process is not None:
                readers.append((position, process))
        self._readers = tuple(readers)

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        if self._constants:
            values = {**values, **self._constants}
        picked = tuple(values[name] for name in self._names) if self._few else self._pick(values)
        if not self._binders:
            return picked
        row = list(picked)
        for position, process in self._binders:
            row[position] = process(row[position])
        return tuple(row)

    def fetch(self, connection: Connection, values: Mapping[str, Any]) -> list[Sequence[Any]]:
        parameters = self.parameters(values)
        rows: list[Sequence[Any]]
        if self._direct:
            rows = self._on_sqlite(connection, parameters, many=False).fetchall()
        else:
            rows = list(connection.exec_driver_sql(self.sql, parameters).all())
        if not self._readers:
            return rows
        processed: list[Sequence[Any]] = []
        for raw in rows:
            row = list(raw)
            for position, process in self._readers:
                row[position] = process(row[position])
            processed.append(row)
        return processed

    def execute(self, connection: Connection, values: Mapping[str, Any]) -> int:
        """Run once (on PostgreSQL, often with one array per column); the rows changed."""
        parameters = self.parameters(values)
        if self._direct:
            changed: int = self._on_sqlite(connection, parameters, many=False).rowcount
            return changed
        return connection.exec_driver_sql(self.sql, parameters).rowcount

    def execute_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Run once per row (one ``executemany``); the number of rows changed."""
        if not rows:
            return 0
        if self._constants:
            rows = [{**row, **self._constants} for row in rows]
        # Column by column: one loop per column instead of Python work per value and row.
        columns: list[Any] = [[row[name] for row in rows] for name in self._names]
        for position, process in self._binders:
            columns[position] = map(process, columns[position])
        parameters = list(zip(*columns, strict=True))
        if self._direct:
            changed: int = self._on_sqlite(connection, parameters, many=True).rowcount
            return changed
        return connection.exec_driver_sql(self.sql, parameters).rowcount

    def _on_sqlite(self, connection: Connection, parameters: Any, *, many: bool) -> Any:
        # Straight to sqlite3, in the connection's transaction: a group runs a dozen
        # statements and SQLAlchemy's own bookkeeping per statement was a tenth of the
        # writer's time. Errors are wrapped as SQLAlchemy would, for the writer's handling.
        driver = connection.connection.driver_connection
        assert driver is not None
        try:
            if many:
                return driver.executemany(self.sql, parameters)
            return driver.execute(self.sql, parameters)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(self.sql, parameters, exc, sqlite3.Error) from exc
