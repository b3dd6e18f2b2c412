"""Reading one end user and their state for the feed, the cheapest way per backend.

On SQLite, two indexed reads on a plain ``sqlite3`` connection on the event loop thread
(microseconds each, less than handing them to aiosqlite's thread and back): the user's
row (``read_profile``), enough to name the feed's ETag, so a poll that ends in a 304 reads
nothing more; then, only for a 200, their per-announcement states (``read_view``). The
reads made in one turn of the event loop share one read transaction (see
``SqliteUserReader._snapshot``), so the two reads of one feed see the same data.

On PostgreSQL a round trip costs more than a user's few state rows, so the row and the
states come in one joined query, on asyncpg's own pool (``PostgresUserReader``). Any
other database goes through the async engine (``EngineUserReader``).
"""

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import asyncpg
from sqlalchemy import Select, and_, bindparam, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.end_users.visitors import Visitor
from app.errors import ServiceUnavailable, unstorable_value
from app.feed.items import StateView
from app.feed.plan import UserView
from app.kit.database import DRIVER_OUT_OF_REACH, open_sqlite
from app.models.tables import end_users as END_USERS
from app.models.tables import user_states as STATES

if TYPE_CHECKING:
    from app.config import Settings


class UserProfile(NamedTuple):
    end_user_id: str
    state_version: int
    raw_attributes: Any  # JSON text on SQLite, already decoded elsewhere
    locale: str | None
    # A reader for which a round trip costs more than a few rows reads the states with the
    # profile, in one query, and keeps them here for ``read_view``.
    state_rows: Sequence[Sequence[Any]] | None = None


# The columns of a UserProfile, in its order; then, in a joined read, those of _STATE_COLUMNS.
_PROFILE_COLUMNS = (
    END_USERS.c.id,
    END_USERS.c.state_version,
    END_USERS.c.attributes,
    END_USERS.c.locale,
)
_PROFILE_WIDTH = len(_PROFILE_COLUMNS)


def _profile_query(by: str) -> Select[Any]:
    return select(*_PROFILE_COLUMNS).where(
        END_USERS.c.workspace_id == bindparam("workspace_id"), END_USERS.c[by] == bindparam("key")
    )


# What a StateView is made of, in the order _view unpacks them.
_STATE_COLUMNS = (
    STATES.c.announcement_id,
    STATES.c.first_seen_at,
    STATES.c.dismissed_at,
    STATES.c.clicked_at,
    STATES.c.reaction,
    STATES.c.auto_shown_at,
)


def _profile_with_states_query(by: str) -> Select[Any]:
    joined = END_USERS.outerjoin(
        STATES,
        and_(
            STATES.c.workspace_id == END_USERS.c.workspace_id,
            STATES.c.end_user_id == END_USERS.c.id,
        ),
    )
    return _profile_query(by).add_columns(*_STATE_COLUMNS).select_from(joined)


_BY_USER_ID = _profile_query("user_id")
_BY_ANONYMOUS_ID = _profile_query("anonymous_id")
_WITH_STATES_BY_USER_ID = _profile_with_states_query("user_id")
_WITH_STATES_BY_ANONYMOUS_ID = _profile_with_states_query("anonymous_id")


def _lookup(
    visitor: Visitor, by_user_id: Select[Any], by_anonymous_id: Select[Any]
) -> tuple[Select[Any], str | None]:
    """The read that finds the visitor's row (by user id, or else by anonymous id), and its key."""
    user_id, anonymous_id = visitor.lookup
    if user_id is not None:
        return by_user_id, user_id
    return by_anonymous_id, anonymous_id


_STATES = select(*_STATE_COLUMNS).where(
    STATES.c.workspace_id == bindparam("workspace_id"),
    STATES.c.end_user_id == bindparam("end_user_id"),
)


def _view(
    profile: UserProfile,
    rows: Sequence[Sequence[Any]],
    parse: bool,
    parse_attributes: bool | None = None,
) -> UserView:
    states = {
        announcement_id: StateView(  # seen, dismissed, clicked, reaction, auto_shown_at
            first_seen_at is not None,
            dismissed_at is not None,
            clicked_at is not None,
            reaction,
            _sqlite_time(auto_shown_at) if parse else auto_shown_at,
        )
        for (
            announcement_id,
            first_seen_at,
            dismissed_at,
            clicked_at,
            reaction,
            auto_shown_at,
        ) in rows
    }
    raw = profile.raw_attributes
    if parse if parse_attributes is None else parse_attributes:  # JSON text: kept as it is
        attributes, text = None, raw or ""
    else:
        attributes, text = raw or {}, None
    return UserView(
        profile.end_user_id, profile.state_version, attributes, profile.locale, states, text
    )


def _sqlite_time(value: str | None) -> datetime | None:
    # SQLAlchemy stores UTC datetimes on SQLite as "YYYY-MM-DD HH:MM:SS.ffffff".
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _profile_with_states(rows: Sequence[Sequence[Any]]) -> UserProfile:
    """A user's profile from a joined read: their row's columns repeated on each state's row
    (a user without states: one row, its state columns null)."""
    states = [row[_PROFILE_WIDTH:] for row in rows if row[_PROFILE_WIDTH] is not None]
    end_user_id, state_version, attributes, locale = rows[0][:_PROFILE_WIDTH]
    return UserProfile(end_user_id, state_version, attributes, locale, states)


class UserReader(Protocol):
    async def read_profile(self, workspace_id: str, visitor: Visitor) -> UserProfile | None: ...

    async def read_view(self, workspace_id: str, profile: UserProfile) -> UserView: ...

    async def aclose(self) -> None: ...


class EngineUserReader:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def read_profile(self, workspace_id: str, visitor: Visitor) -> UserProfile | None:
        # Over the network a round trip costs more than a user's few state rows: one query.
        statement, key = _lookup(visitor, _WITH_STATES_BY_USER_ID, _WITH_STATES_BY_ANONYMOUS_ID)
        async with self.engine.connect() as connection:
            result = await connection.execute(statement, {"workspace_id": workspace_id, "key": key})
            rows = result.all()
        if not rows:
            return None
        return _profile_with_states(rows)

    async def read_view(self, workspace_id: str, profile: UserProfile) -> UserView:
        return _view(profile, profile.state_rows or (), parse=False)  # read with the profile

    async def aclose(self) -> None:
        pass


class PostgresUserReader:
    """PostgreSQL through asyncpg: one prepared statement, one round trip a read.

    Through the async engine the same read cost about three times as much (the pool's
    pre-ping, its reset on return, SQLAlchemy's result machinery), and through asyncpg's
    own pool a tenth of a poll went to the pool (its acquire and release bookkeeping, and
    a task started by every release). This reader runs one SELECT at a time on a
    connection and nothing else, which leaves nothing to reset: its connections are a
    plain list (``_Connections``). Errors that say the database cannot serve now are
    answered 503, as the engine's are.
    """

    def __init__(self, database_url: str, settings: "Settings") -> None:
        dsn = (
            make_url(database_url)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )
        self._settings = settings
        self._connections = _Connections(dsn, settings)
        # First come, first served, and never more reads at once than connections. A pool
        # whose waiters can be overtaken (asyncpg's: a newcomer could take a connection
        # just handed to a waiter who had not run yet, again and again) gave the feed a
        # p99 at 64 connections of 82-128 ms, against 32 ms with as many connections as
        # requests.
        self._turns = asyncio.Semaphore(settings.db_pool_size)
        dialect = postgresql_asyncpg.dialect()  # type: ignore[no-untyped-call]
        self._sql = {}
        for statement in (_WITH_STATES_BY_USER_ID, _WITH_STATES_BY_ANONYMOUS_ID):
            compiled = statement.compile(dialect=dialect)
            assert compiled.positiontup == ["workspace_id", "key"]
            self._sql[id(statement)] = str(compiled)

    async def read_profile(self, workspace_id: str, visitor: Visitor) -> UserProfile | None:
        statement, key = _lookup(visitor, _WITH_STATES_BY_USER_ID, _WITH_STATES_BY_ANONYMOUS_ID)
        turns = self._turns
        if turns.locked():  # every connection is busy: wait, but not for ever
            try:
                async with asyncio.timeout(self._settings.db_pool_timeout_s):
                    await turns.acquire()
            except TimeoutError as exc:
                raise _unavailable() from exc
        else:
            await turns.acquire()  # returns at once
        try:
            connection = await self._connections.take()
            failed = True
            try:
                rows = await connection.fetch(self._sql[id(statement)], workspace_id, key)
                failed = False
            finally:
                self._connections.give_back(connection, failed=failed)
        except DRIVER_OUT_OF_REACH as exc:
            raise _unavailable() from exc
        except asyncpg.DataError as exc:  # a value the database refuses: a NUL character
            raise unstorable_value() from exc
        finally:
            turns.release()
        if not rows:
            return None
        return _profile_with_states([tuple(row) for row in rows])

    async def read_view(self, workspace_id: str, profile: UserProfile) -> UserView:
        # The states came with the profile; attributes arrive as JSON text (jsonb).
        return _view(profile, profile.state_rows or (), parse=False, parse_attributes=True)

    async def aclose(self) -> None:
        await self._connections.close()


# A connection unused for longer may have been dropped by a proxy or a firewall: replaced.
_IDLE_LIFETIME_S = 60.0


class _Connections:
    """The reader's connections: idle ones on a stack, new ones made when none is idle.

    The reader's gate lets at most ``db_pool_size`` reads run at once, so there are never
    more connections than that. A connection whose read failed in any way (an error, a
    cancelled request) is closed rather than reused: it may be in the middle of a query.
    """

    def __init__(self, dsn: str, settings: "Settings") -> None:
        self._dsn = dsn
        self._settings = settings
        self._idle: list[tuple[asyncpg.Connection, float]] = []
        self._closed = False

    async def take(self) -> asyncpg.Connection:
        now = time.monotonic()
        while self._idle:
            connection, idle_since = self._idle.pop()
            if now - idle_since < _IDLE_LIFETIME_S and not connection.is_closed():
                return connection
            connection.terminate()
        settings = self._settings
        fresh: asyncpg.Connection = await asyncpg.connect(
            self._dsn,
            timeout=settings.db_pool_timeout_s,
            command_timeout=settings.db_statement_timeout_ms / 1000,
            server_settings={"statement_timeout": str(settings.db_statement_timeout_ms)},
        )
        return fresh

    def give_back(self, connection: asyncpg.Connection, *, failed: bool) -> None:
        if failed or self._closed or connection.is_closed():
            connection.terminate()
        else:
            self._idle.append((connection, time.monotonic()))

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection, _ in idle:
            await connection.close()


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("The database is not reachable right now; retry shortly.")


_READ_CACHE_KIB = 8 * 1024  # at most this much memory, filled as pages are read


_BY_KEY_ORDER = ["workspace_id", "key"]  # the parameters, as the reads pass them
_STATES_ORDER = ["workspace_id", "end_user_id"]


class SqliteUserReader:
    def __init__(self, path: str, busy_timeout_ms: int) -> None:
        # Polls touch users spread over the whole table: SQLite's default 2 MB of cached
        # pages held too few of them, and each miss is a pread system call.
        self.connection = open_sqlite(
            path, busy_timeout_ms, read_only=True, cache_kib=_READ_CACHE_KIB
        )
        # Positional parameters: binding by name costs a look-up per parameter and read.
        dialect = sqlite.dialect(paramstyle="qmark")
        self._sql: dict[int, str] = {}
        for statement in (_BY_USER_ID, _BY_ANONYMOUS_ID, _STATES):
            compiled = statement.compile(dialect=dialect)
            assert compiled.positiontup in (_BY_KEY_ORDER, _STATES_ORDER)
            self._sql[id(statement)] = str(compiled)

    async def read_profile(self, workspace_id: str, visitor: Visitor) -> UserProfile | None:
        statement, key = _lookup(visitor, _BY_USER_ID, _BY_ANONYMOUS_ID)
        cursor = self._snapshot().execute(self._sql[id(statement)], (workspace_id, key))
        row = cursor.fetchone()
        return None if row is None else UserProfile(*row)

    async def read_view(self, workspace_id: str, profile: UserProfile) -> UserView:
        parameters = (workspace_id, profile.end_user_id)
        rows = self._snapshot().execute(self._sql[id(_STATES)], parameters).fetchall()
        return _view(profile, rows, parse=True)

    def _snapshot(self) -> sqlite3.Connection:
        """The connection in a read transaction that ends at the event loop's next callback.

        Each transaction takes and releases SQLite's file locks (fcntl on the database and
        its ``-shm`` file), several system calls that cost more than a point read itself.
        Reads made in one turn of the loop share one transaction instead. No read sees
        older data than it would alone: the end is scheduled when the transaction begins,
        and the loop runs callbacks first in, first out, so it comes before any step of a
        request that arrived later, such as a client's poll right after a 202.
        """
        connection = self.connection
        if not connection.in_transaction:
            connection.execute("BEGIN")
            asyncio.get_running_loop().call_soon(self._end_snapshot)
        return connection

    def _end_snapshot(self) -> None:
        if self.connection.in_transaction:
            self.connection.execute("COMMIT")

    async def aclose(self) -> None:
        self._end_snapshot()
        self.connection.close()
