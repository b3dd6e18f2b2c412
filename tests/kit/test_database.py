"""Which database errors are "out of reach" (retry, not this server's fault) and which are
refusals the writer reports (pure: no database)."""

import sqlite3

import asyncpg
import pytest
import sqlalchemy.exc

from app.kit.database import is_database_unavailable, is_locked, is_out_of_reach


def _wrapped(error_class: type[sqlalchemy.exc.DBAPIError], orig: Exception) -> Exception:
    return error_class("INSERT ...", (), orig)


class _WithSqlstate(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("error", "out_of_reach", "unavailable"),
    [
        # SQLite's write lock held past the busy timeout: wait and retry.
        (
            _wrapped(
                sqlalchemy.exc.OperationalError, sqlite3.OperationalError("database is locked")
            ),
            True,
            True,
        ),
        # A full disk or a read-only file: the database answers, and refuses.
        (
            _wrapped(
                sqlalchemy.exc.OperationalError,
                sqlite3.OperationalError("database or disk is full"),
            ),
            False,
            True,
        ),
        (
            _wrapped(
                sqlalchemy.exc.IntegrityError, sqlite3.IntegrityError("database or disk is full")
            ),
            False,
            False,
        ),
        (_wrapped(sqlalchemy.exc.DBAPIError, _WithSqlstate("53100")), False, True),  # disk full
        (
            _wrapped(sqlalchemy.exc.DBAPIError, _WithSqlstate("08006")),
            True,
            True,
        ),  # connection lost
        (_wrapped(sqlalchemy.exc.DBAPIError, _WithSqlstate("57P01")), True, True),  # shutdown
        (_wrapped(sqlalchemy.exc.DBAPIError, _WithSqlstate("23505")), False, False),
        (_wrapped(sqlalchemy.exc.InterfaceError, Exception("connection is closed")), True, True),
        # Raised by the drivers themselves (the feed's readers run without SQLAlchemy).
        (asyncpg.CannotConnectNowError("starting up"), True, True),
        (ConnectionRefusedError(), True, True),
        (TimeoutError(), True, True),
        (ValueError(), False, False),
    ],
)
def test_classification(error: Exception, out_of_reach: bool, unavailable: bool) -> None:
    assert is_out_of_reach(error) is out_of_reach
    assert is_database_unavailable(error) is unavailable


def test_a_locked_database_is_sqlites_busy_error_only() -> None:
    assert is_locked(sqlite3.OperationalError("database is locked"))
    assert not is_locked(sqlite3.OperationalError("database or disk is full"))
    assert not is_locked(ValueError("database is locked"))
