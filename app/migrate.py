"""Run Alembic programmatically, so ``tidings migrate`` works from any directory.

Upgrades only go up and downgrades only go down: Alembic's ``upgrade`` to an older
revision does nothing and says nothing, which an operator rolling back must not mistake
for a rollback. Every run holds the migration lock, so replicas starting together on an
empty database take turns instead of creating the same tables at once:

- PostgreSQL: a transaction-level advisory lock, taken in the transaction that runs the
  migrations (PostgreSQL's DDL is transactional), so it is released by the commit, and by
  the server if the process dies.
- SQLite: an ``flock`` on ``<database>-migrate.lock`` beside the file. SQLite's own locks
  do not serialize migrations: Python's sqlite3 runs DDL outside transactions, so two
  migrators both see an empty schema and both create tables (measured: "table already
  exists" in 3 of 3 tries). The kernel drops an ``flock`` when its process dies.
"""

import asyncio
import fcntl
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

import migrations

logger = logging.getLogger("tidings.migrate")

BASE = "base"
# One fixed 64-bit key for "Tidings is migrating this database", derived from its name.
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"tidings:migrations").digest()[:8], "big", signed=True
)


class MigrationRefused(Exception):
    """A migration asked for that would not do what was meant; the message says what to do."""


class UnknownRevision(MigrationRefused):
    """A name that is no revision of this version: a usage error."""


class NotAnUpgrade(MigrationRefused):
    def __init__(self, target: str, current: str) -> None:
        super().__init__(
            f"{target} is older than the database's revision {current}: `tidings migrate` "
            f"only upgrades and does nothing here. To downgrade (undoing the newer "
            f"migrations, and dropping what they added): tidings migrate --down-to {target} --yes"
        )


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.attributes["database_url"] = database_url
    return config


@dataclass(frozen=True, slots=True)
class History:
    """The revisions from the first to the head (one line: the suite keeps one head)."""

    revisions: list[str]

    @classmethod
    def of(cls, config: Config) -> "History":
        script = ScriptDirectory.from_config(config)
        return cls([r.revision for r in reversed(list(script.walk_revisions()))])

    @property
    def head(self) -> str:
        return self.revisions[-1]

    def resolve(self, name: str) -> str:
        """A full revision id (or ``base``) from a name: ``head``, ``base``, an id or prefix."""
        if name in (BASE, "head"):
            return BASE if name == BASE else self.head
        matches = [revision for revision in self.revisions if revision.startswith(name)]
        if len(matches) != 1 or not name:
            found = "matches several" if matches else "is not a revision of this version"
            raise UnknownRevision(
                f"{name!r} {found}; known: base, {', '.join(self.revisions)} (head)"
            )
        return matches[0]

    def position(self, revision: str | None) -> int:
        if revision in (None, BASE):
            return -1
        if revision not in self.revisions:
            raise MigrationRefused(
                f"the database is at revision {revision}, which this version of Tidings does "
                "not know (a newer version migrated it): run that version, or downgrade with it"
            )
        return self.revisions.index(str(revision))

    def label(self, revision: str | None) -> str:
        if revision is None:
            return BASE
        return f"{revision} (head)" if revision == self.head else revision


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _file_lock(database_url: str) -> Iterator[None]:
    url = make_url(database_url)
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        yield
        return
    descriptor = os.open(f"{database}-migrate.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.warning("another process is migrating this database; waiting for it")
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _advisory_lock(connection: Connection) -> None:
    if connection.dialect.name != "postgresql":
        return
    key = {"key": MIGRATION_LOCK_KEY}
    if not connection.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), key).scalar():
        logger.warning("another process is migrating this database; waiting for it")
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), key)


def _locked(database_url: str, work: Callable[[Config, Connection, History], None]) -> str | None:
    """Run ``work`` under the migration lock, in one transaction; the revision afterwards."""
    config = alembic_config(database_url)
    history = History.of(config)

    def in_transaction(connection: Connection) -> str | None:
        _advisory_lock(connection)
        config.attributes["connection"] = connection  # migrations/env.py runs on it
        work(config, connection, history)
        return _current(connection)

    async def run() -> str | None:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as connection:
                await connection.begin()
                revision = await connection.run_sync(in_transaction)
                await connection.commit()
                return revision
        finally:
            await engine.dispose()

    with _file_lock(database_url):
        return asyncio.run(run())


def upgrade_database(database_url: str, revision: str = "head") -> str | None:
    """Upgrade to ``revision``; the revision the database is at afterwards.

    Raises ``NotAnUpgrade`` when the database is already past ``revision``.
    """

    def upgrade(config: Config, connection: Connection, history: History) -> None:
        target = history.resolve(revision)
        current = _current(connection)
        if history.position(target) < history.position(current):
            raise NotAnUpgrade(target, history.label(current))
        command.upgrade(config, target)

    return _run(database_url, upgrade)


def downgrade_database(database_url: str, revision: str) -> str | None:
    """Downgrade to ``revision`` (or ``base``); the revision the database is at afterwards."""

    def downgrade(config: Config, connection: Connection, history: History) -> None:
        target = history.resolve(revision)
        current = _current(connection)
        if history.position(target) > history.position(current):
            raise MigrationRefused(
                f"{target} is not older than the database's revision "
                f"{history.label(current)}; upgrade with: tidings migrate {target}"
            )
        command.downgrade(config, target)

    return _run(database_url, downgrade)


def _run(database_url: str, work: Callable[[Config, Connection, History], None]) -> str | None:
    try:
        return _locked(database_url, work)
    except CommandError as exc:  # e.g. the database is at a revision this version lacks
        raise MigrationRefused(str(exc)) from None
