"""Reading one end user and their state for the feed: one query, the cheapest way per backend.

On SQLite a plain ``sqlite3`` connection answers on the event loop thread: an indexed read
takes microseconds, less than handing it to aiosqlite's thread and back. Elsewhere the
async engine runs the same statement.
"""

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import Select, and_, bindparam, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from app.widget.feed import StateView, UserView, Visitor
from app.widget.statements import END_USERS, STATES

_COLUMNS = (
    END_USERS.c.id,
    END_USERS.c.state_version,
    END_USERS.c.attributes,
    END_USERS.c.locale,
    STATES.c.announcement_id,
    STATES.c.first_seen_at,
    STATES.c.dismissed_at,
    STATES.c.clicked_at,
    STATES.c.reaction,
    STATES.c.auto_shown_at,
)


def _user_query(by: str) -> Select[Any]:
    joined = END_USERS.outerjoin(
        STATES,
        and_(
            STATES.c.workspace_id == END_USERS.c.workspace_id,
            STATES.c.end_user_id == END_USERS.c.id,
        ),
    )
    return (
        select(*_COLUMNS)
        .select_from(joined)
        .where(
            END_USERS.c.workspace_id == bindparam("workspace_id"),
            END_USERS.c[by] == bindparam("key"),
        )
    )


_BY_USER_ID = _user_query("user_id")
_BY_ANONYMOUS_ID = _user_query("anonymous_id")


def _query_for(visitor: Visitor) -> tuple[Select[Any], str]:
    if visitor.user_id is not None:
        return _BY_USER_ID, visitor.user_id
    return _BY_ANONYMOUS_ID, visitor.anonymous_id or ""


def _view(rows: Sequence[Sequence[Any]], parse: bool) -> UserView | None:
    if not rows:
        return None
    first = rows[0]
    states = {}
    for row in rows:
        if row[4] is None:
            continue
        first_seen, dismissed, clicked, auto_shown = row[5], row[6], row[7], row[9]
        states[row[4]] = StateView(
            seen=first_seen is not None,
            dismissed=dismissed is not None,
            clicked=clicked is not None,
            reaction=row[8],
            auto_shown_at=_sqlite_time(auto_shown) if parse else auto_shown,
        )
    attributes = orjson.loads(first[2]) if parse else first[2]
    return UserView(first[0], first[1], attributes or {}, first[3], states)


def _sqlite_time(value: str | None) -> datetime | None:
    # SQLAlchemy stores UTC datetimes on SQLite as "YYYY-MM-DD HH:MM:SS.ffffff".
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


class UserReader(Protocol):
    async def read(self, workspace_id: str, visitor: Visitor) -> UserView | None: ...

    def close(self) -> None: ...


class EngineUserReader:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def read(self, workspace_id: str, visitor: Visitor) -> UserView | None:
        statement, key = _query_for(visitor)
        async with self.engine.connect() as connection:
            result = await connection.execute(statement, {"workspace_id": workspace_id, "key": key})
            rows = result.all()
        return _view(rows, parse=False)

    def close(self) -> None:
        pass


class SqliteUserReader:
    def __init__(self, path: str, busy_timeout_ms: int) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.connection.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        self.connection.execute("PRAGMA query_only=ON")
        dialect = sqlite.dialect(paramstyle="named")
        self._sql = {
            id(statement): str(statement.compile(dialect=dialect))
            for statement in (_BY_USER_ID, _BY_ANONYMOUS_ID)
        }

    async def read(self, workspace_id: str, visitor: Visitor) -> UserView | None:
        statement, key = _query_for(visitor)
        cursor = self.connection.execute(
            self._sql[id(statement)], {"workspace_id": workspace_id, "key": key}
        )
        return _view(cursor.fetchall(), parse=True)

    def close(self) -> None:
        self.connection.close()
