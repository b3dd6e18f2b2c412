"""Migrations build the schema the models describe, and undo it, on every backend."""

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.migrate import downgrade_database, upgrade_database
from app.models import metadata
from tests.fixtures.databases import BACKENDS, fresh_database, in_thread


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


def _inspect(url: str, probe: Any) -> Any:
    async def run() -> Any:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(probe)
        finally:
            await engine.dispose()

    return in_thread(asyncio.run, run())


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


def _drift(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


class TestMigrations:
    def test_upgrade_matches_models_and_downgrade_undoes_it(self, empty_database: str) -> None:
        in_thread(upgrade_database, empty_database)
        assert _inspect(empty_database, _tables) == set(metadata.tables)
        assert _inspect(empty_database, _drift) == []

        in_thread(downgrade_database, empty_database, "base")
        assert _inspect(empty_database, _tables) == set()

        in_thread(upgrade_database, empty_database)
        assert _inspect(empty_database, _tables) == set(metadata.tables)

    def test_every_migration_file_is_named_by_date_and_slug(self) -> None:
        versions = Path(__file__).parents[1] / "migrations" / "versions"
        names = [path.name for path in versions.glob("*.py") if path.name != "__init__.py"]
        assert names
        for name in names:
            date, _, rest = name.partition("-")
            assert len(date) == len("2026_11_25_1200"), name
            assert rest.count("_") >= 1, name


class TestUserStatesStorage:
    """On SQLite one user's states are stored together (WITHOUT ROWID), data kept both ways."""

    def test_rebuilt_both_ways_with_its_rows(self, tmp_path: Path) -> None:
        with fresh_database("sqlite", tmp_path) as url:
            path = url.split("///", 1)[1]
            in_thread(upgrade_database, url, "94a89343ce06")
            assert not _is_without_rowid(path)
            row = ("ws_1", "eu_1", "ann_1", 3, "positive")
            with closing(sqlite3.connect(path)) as connection, connection:
                connection.execute(
                    "INSERT INTO user_states (workspace_id, end_user_id, announcement_id,"
                    " seen_count, reaction) VALUES (?, ?, ?, ?, ?)",
                    row,
                )

            in_thread(upgrade_database, url, "5c1f0e7a9b3d")
            assert _is_without_rowid(path) and _states(path) == [row]
            in_thread(downgrade_database, url, "94a89343ce06")
            assert not _is_without_rowid(path) and _states(path) == [row]


def _is_without_rowid(path: str) -> bool:
    with closing(sqlite3.connect(path)) as connection:
        (sql,) = connection.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'user_states'"
        ).fetchone()
    return "WITHOUT ROWID" in sql


def _states(path: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(
            "SELECT workspace_id, end_user_id, announcement_id, seen_count, reaction"
            " FROM user_states"
        ).fetchall()
