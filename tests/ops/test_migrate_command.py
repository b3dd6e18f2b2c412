"""``tidings migrate``: upgrades only, downgrades only when asked explicitly, never races."""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from app.cli import app as cli
from app.config import get_settings
from app.migrate import upgrade_database
from app.models import metadata
from tests.fixtures.databases import BACKENDS, fresh_database, in_thread

HEAD = "5c1f0e7a9b3d"  # any revision older than head will do for OLDER
OLDER = "2a43b3c06e1e"
ROOT = Path(__file__).resolve().parents[2]


def revision_of(url: str) -> str | None:
    async def read() -> str | None:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                has_table = await connection.run_sync(
                    lambda sync: inspect(sync).has_table("alembic_version")
                )
                if not has_table:
                    return None
                version = await connection.execute(text("SELECT version_num FROM alembic_version"))
                return version.scalar_one_or_none()
        finally:
            await engine.dispose()

    return in_thread(asyncio.run, read())


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from app.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


@pytest.fixture(params=BACKENDS)
def migrated(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        in_thread(upgrade_database, url)
        monkeypatch.setenv("TIDINGS_DATABASE_URL", url)
        monkeypatch.chdir(tmp_path)
        get_settings.cache_clear()
        yield url
        get_settings.cache_clear()


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


class TestUpgradeOnly:
    def test_an_older_revision_is_refused_and_explained(self, migrated: str) -> None:
        code, output = invoke("migrate", OLDER)
        assert code != 0
        assert "does nothing" in output and f"tidings migrate --down-to {OLDER} --yes" in output
        assert revision_of(migrated) == head_revision()

    def test_upgrade_reports_the_revision_reached(self, migrated: str) -> None:
        code, output = invoke("migrate")
        assert code == 0, output
        assert f"database at {head_revision()} (head)" in output

    def test_an_unknown_revision_is_a_clear_error(self, migrated: str) -> None:
        code, output = invoke("migrate", "deadbeef0000")
        assert code == 2
        assert "deadbeef0000" in output and "Traceback" not in output


class TestDowngrade:
    def test_refused_without_confirmation(self, migrated: str) -> None:
        code, output = invoke("migrate", "--down-to", OLDER)
        assert code != 0
        assert "--yes" in output
        assert revision_of(migrated) == head_revision()

    def test_with_confirmation_goes_down_and_reports_where_it_is(self, migrated: str) -> None:
        code, output = invoke("migrate", "--down-to", OLDER, "--yes")
        assert code == 0, output
        assert f"database at {OLDER}" in output
        assert revision_of(migrated) == OLDER
        # And back up: the round trip is what a rollback then a redeploy does.
        code, output = invoke("migrate")
        assert code == 0, output
        assert revision_of(migrated) == head_revision()

    def test_to_base_removes_every_table(self, migrated: str) -> None:
        code, output = invoke("migrate", "--down-to", "base", "--yes")
        assert code == 0, output
        assert "database at base" in output
        assert revision_of(migrated) is None

    def test_a_newer_revision_is_not_a_downgrade(self, migrated: str) -> None:
        invoke("migrate", "--down-to", OLDER, "--yes")
        code, output = invoke("migrate", "--down-to", head_revision(), "--yes")
        assert code != 0
        assert "not older" in output
        assert revision_of(migrated) == OLDER

    def test_revision_and_down_to_together_are_refused(self, migrated: str) -> None:
        code, _ = invoke("migrate", head_revision(), "--down-to", OLDER, "--yes")
        assert code == 2
        assert revision_of(migrated) == head_revision()


_MIGRATE_AT = """
import sys, time
from app.migrate import upgrade_database
start_at = float(sys.argv[1])
time.sleep(max(0.0, start_at - time.time()))
upgrade_database(sys.argv[2])
"""


class TestConcurrentUpgrades:
    """Replicas starting together on an empty database all migrate it, none crashes."""

    @pytest.mark.parametrize("backend", BACKENDS)
    def test_replicas_upgrading_at_once_all_succeed(self, backend: str, tmp_path: Path) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
        for attempt in range(2):
            with fresh_database(backend, tmp_path / str(attempt)) as url:
                if backend == "sqlite":
                    (tmp_path / str(attempt)).mkdir(exist_ok=True)
                start_at = f"{time.time() + 3:.3f}"  # after every interpreter has started
                replicas = [
                    subprocess.Popen(
                        [sys.executable, "-c", _MIGRATE_AT, start_at, url],
                        env=env,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                    )
                    for _ in range(3)
                ]
                outputs = [replica.communicate(timeout=120)[0].decode() for replica in replicas]
                for replica, output in zip(replicas, outputs, strict=True):
                    assert replica.returncode == 0, f"attempt {attempt}:\n{output}"
                assert revision_of(url) == head_revision()
                tables = in_thread(asyncio.run, _tables(url))
                assert tables >= set(metadata.tables)


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()
