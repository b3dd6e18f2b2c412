"""SQL that reads the same on SQLite and PostgreSQL: the few places where they differ.

Statement builders compose these so that their SQL text is fixed whatever the number of
rows or ids: one parameter holds a whole list (a PostgreSQL array, or JSON text that
SQLite takes apart with ``json_each``), and an INSERT knows ``ON CONFLICT`` on both.
"""

from collections.abc import Collection
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BindParameter,
    ColumnElement,
    Select,
    String,
    Table,
    any_,
    bindparam,
    cast,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


def insert_for(dialect: str, table: Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (same API on both backends)."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


class IdList(TypeDecorator[Collection[str]]):
    """Many strings as one bound value: an array on PostgreSQL, JSON text on SQLite."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(String()))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: Collection[str] | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return list(value)
        return orjson.dumps(list(value)).decode()


def ids_param(name: str) -> BindParameter[Any]:
    return bindparam(name, type_=IdList())


def among(dialect: str, column: Any, name: str) -> ColumnElement[bool]:
    """``column IN (the ids bound as name)``, with SQL that does not depend on how many."""
    if dialect == "postgresql":
        return column == any_(ids_param(name))  # type: ignore[no-any-return]
    values = func.json_each(ids_param(name)).table_valued("value")
    return column.in_(select(values.c.value))  # type: ignore[no-any-return]


class JsonText(TypeDecorator[Any]):
    """A value bound as JSON text (which both databases can take apart in SQL)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else orjson.dumps(value).decode()


def json_rows(dialect: str, name: str, width: int) -> Select[Any]:
    """Rows of ``width`` text columns from one parameter: a JSON list of lists.

    Unlike ``IN`` lists, this keeps tuples together; and its SQL never changes.
    """
    if dialect == "postgresql":
        elements = func.json_array_elements(cast(bindparam(name, type_=JsonText()), JSON))
        items = elements.table_valued("value").render_derived()
        fields: list[Any] = [items.c.value.op("->>")(literal_column(str(i))) for i in range(width)]
    else:
        items = func.json_each(bindparam(name, type_=JsonText())).table_valued("value")
        fields = [
            func.json_extract(items.c.value, literal_column(f"'$[{i}]'")) for i in range(width)
        ]
    return select(*fields).select_from(items)
