"""Facts about the database that every access path shares: how a SQLite connection is set
up, and which errors mean "the database cannot serve now" rather than "this is wrong".
"""

import sqlite3
from typing import Any

import asyncpg
import sqlalchemy.exc

# --- SQLite connections ------------------------------------------------------------------


def configure_sqlite(
    dbapi_connection: Any,
    busy_timeout_ms: int,
    *,
    synchronous: str = "NORMAL",
    autocheckpoint: bool = True,
) -> None:
    """What every connection that writes to the database file says first.

    WAL lets readers run beside the one writer. ``synchronous``: NORMAL is durable in WAL
    mode except for the last transactions on power loss; the event writer asks FULL (a 202
    survives power loss). ``autocheckpoint=False`` when WAL checkpoints run elsewhere.
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    cursor.execute("PRAGMA foreign_keys=ON")
    if not autocheckpoint:
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def open_sqlite(
    path: str, busy_timeout_ms: int, *, read_only: bool = False, cache_kib: int | None = None
) -> sqlite3.Connection:
    """A plain ``sqlite3`` connection in autocommit mode (the caller says BEGIN itself),
    usable from any thread, one at a time."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    if read_only:
        connection.execute("PRAGMA query_only=ON")
    if cache_kib is not None:
        connection.execute(f"PRAGMA cache_size=-{cache_kib}")
    return connection


# --- availability ------------------------------------------------------------------------

# Raised by the drivers themselves (the feed's readers use them without SQLAlchemy), or
# kept as the cause of SQLAlchemy's wrapper: the connection is lost or refused, the
# statement was cancelled by statement_timeout, the server is shutting down or full.
DRIVER_OUT_OF_REACH = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.QueryCanceledError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
)

_OUT_OF_REACH = (*DRIVER_OUT_OF_REACH, sqlalchemy.exc.TimeoutError, sqlalchemy.exc.InterfaceError)

# SQLSTATE classes: connection exceptions, operator intervention (shutdown, cancelled).
_OUT_OF_REACH_SQLSTATES = ("08", "57")
# Insufficient resources (disk full, out of memory, too many connections): it answers,
# but cannot do what was asked now.
_RESOURCES_SQLSTATE = "53"


def sqlstate_of(exc: BaseException) -> str:
    return str(getattr(getattr(exc, "orig", None), "sqlstate", None) or "")


def is_out_of_reach(exc: BaseException) -> bool:
    """The database did not answer in time (or at all), or is busy with another writer.

    Nothing is wrong with the request, nor with the database's storage: the same request
    may succeed in a moment. As opposed to a database that refuses (a full disk, a
    read-only file), which is a fault of this server's to report (app/ingest/health.py).
    """
    if isinstance(exc, _OUT_OF_REACH):
        return True
    if not isinstance(exc, sqlalchemy.exc.DBAPIError):
        return False
    orig = exc.orig
    return (
        exc.connection_invalidated
        or sqlstate_of(exc)[:2] in _OUT_OF_REACH_SQLSTATES
        or isinstance(orig, DRIVER_OUT_OF_REACH)
        or isinstance(getattr(orig, "__cause__", None), DRIVER_OUT_OF_REACH)
        or is_locked(exc)
    )


def is_locked(exc: BaseException) -> bool:
    """SQLite's write lock is held by another connection (past its busy timeout)."""
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, sqlite3.OperationalError) and "database is locked" in str(orig)


def is_database_unavailable(exc: BaseException) -> bool:
    """A fault of the database's availability, out of reach or refusing: a 503 and a retry."""
    if is_out_of_reach(exc) or isinstance(exc, sqlalchemy.exc.OperationalError):
        return True
    return (
        isinstance(exc, sqlalchemy.exc.DBAPIError) and sqlstate_of(exc)[:2] == _RESOURCES_SQLSTATE
    )
