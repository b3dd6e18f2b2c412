"""The ``tidings`` command line against a real database."""

import asyncio
import csv
import hashlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlmodel import col
from typer.testing import CliRunner

from app.cli import app
from app.config import Settings, get_settings
from app.demo.page import SAMPLES, seed_demo
from app.engagement.counting import StatsDelta
from app.engagement.repository import EngagementRepository
from app.main import create_app
from app.models import Announcement
from tests.fixtures.databases import BACKENDS, fresh_database

runner = CliRunner()


@pytest.fixture(params=BACKENDS)
def cli_database(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        monkeypatch.setenv("TIDINGS_DATABASE_URL", url)
        monkeypatch.chdir(tmp_path)  # no stray .env is read
        monkeypatch.setenv("COLUMNS", "200")  # tables fold less in a wide terminal
        get_settings.cache_clear()
        yield url
        get_settings.cache_clear()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


class TestWorkspaceCommands:
    def test_create_json_then_list_keys(self, cli_database: str) -> None:
        code, output = invoke(
            "workspace", "create", "Acme", "--origin", "https://app.acme.com/", "--json"
        )
        assert code == 0, output
        created = orjson.loads(output)
        assert set(created) == {
            "workspace_id",
            "slug",
            "publishable_key",
            "secret_key",
            "identity_secret",
        }
        assert created["slug"] == "acme"
        assert created["secret_key"].startswith("sk_")

        code, output = invoke("key", "list", "--json")
        assert code == 0, output
        keys = orjson.loads(output)
        assert [key["kind"] for key in keys] == ["publishable", "secret"]
        assert keys[0]["preview"] == created["publishable_key"]
        assert created["secret_key"] not in output

        code, output = invoke("key", "list")
        assert code == 0 and "publishable" in output and created["secret_key"] not in output

        code, output = invoke("workspace", "list")
        assert code == 0 and "acme" in output and "https://app.acme.com" in output

    def test_duplicate_slug_fails_clearly(self, cli_database: str) -> None:
        assert invoke("workspace", "create", "Acme")[0] == 0
        code, output = invoke("workspace", "create", "Acme")
        assert code == 1
        assert "already exists" in output

    def test_bad_origin_fails_clearly(self, cli_database: str) -> None:
        code, output = invoke("workspace", "create", "Acme", "--origin", "ftp://acme.com")
        assert code == 2
        assert "allowed_origins[0]" in output


class TestKeyCommands:
    def test_create_and_revoke(self, cli_database: str) -> None:
        invoke("workspace", "create", "Acme", "--json")
        code, key = invoke("key", "create", "--kind", "secret", "--name", "deploy")
        assert code == 0, key
        key = key.strip()
        assert key.startswith("sk_")

        code, output = invoke("key", "list", "--workspace", "acme", "--json")
        assert key not in output
        assert hashlib.sha256(key.encode()).hexdigest() not in output
        deploy = next(k for k in orjson.loads(output) if k["name"] == "deploy")
        assert deploy["revoked_at"] is None

        code, output = invoke("key", "revoke", deploy["id"])
        assert code == 0, output
        code, output = invoke("key", "list", "--json")
        deploy = next(k for k in orjson.loads(output) if k["name"] == "deploy")
        assert deploy["revoked_at"] is not None

    def test_ambiguous_workspace_asks_for_slug(self, cli_database: str) -> None:
        invoke("workspace", "create", "One")
        invoke("workspace", "create", "Two")
        code, output = invoke("key", "list")
        assert code == 2
        assert "--workspace" in output

    def test_every_command_has_help(self) -> None:
        for command in (
            [],
            ["serve"],
            ["migrate"],
            ["demo"],
            ["announce"],
            ["stats"],
            ["purge-events"],
            ["workspace"],
            ["workspace", "create"],
            ["workspace", "list"],
            ["key"],
            ["key", "create"],
            ["key", "list"],
            ["key", "revoke"],
        ):
            code, output = invoke(*command, "--help")
            assert code == 0, (command, output)
            assert "Usage" in output


EXAMPLE = Path(__file__).parents[1] / "docs" / "examples" / "2026-12-dark-mode.md"


class TestAnnounceCommand:
    def test_documented_example_round_trip(self, cli_database: str, tmp_path: Path) -> None:
        invoke("workspace", "create", "Acme")
        source = tmp_path / "2026-12-dark-mode.md"
        source.write_text(EXAMPLE.read_text())

        code, output = invoke("announce", "--dry-run", str(source))
        assert code == 0, output
        assert "would be created" in output and "nothing was written" in output
        code, output = invoke("announce", str(source))
        assert code == 0, output
        assert "2026-12-dark-mode created" in output

        code, output = invoke("announce", str(source))
        assert code == 0 and "unchanged" in output, output

        source.write_text(
            source.read_text().replace("title: Dark mode is here", "title: Dark mode, at last")
        )
        code, output = invoke("announce", "--dry-run", str(source))
        assert "would be updated (title)" in output, output
        code, output = invoke("announce", str(source))
        assert "updated (title)" in output, output
        code, output = invoke("announce", str(source))
        assert "unchanged" in output, output

    def test_invalid_file_writes_nothing(self, cli_database: str, tmp_path: Path) -> None:
        invoke("workspace", "create", "Acme")
        good = tmp_path / "good.md"
        good.write_text("---\ntitle: Fine\n---\nBody\n")
        bad = tmp_path / "bad.md"
        bad.write_text("---\ntitle: Broken\ncta: {label: Go, url: 'javascript:alert(1)'}\n---\nx\n")
        no_front = tmp_path / "plain.md"
        no_front.write_text("# Just markdown\n")
        code, output = invoke("announce", str(good), str(bad), str(no_front))
        assert code == 2
        assert "bad.md: cta.url" in output
        assert "plain.md" in output and "front matter" in output
        code, output = invoke("announce", "--dry-run", str(good))
        assert "would be created" in output  # the good file was not written either


def _seed_stats(database_url: str, slug: str, impressions: int, clicks: int) -> None:
    """Counters for the workspace's announcement with ``slug``, via the ingestion's writer."""

    async def seed() -> None:
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as connection:
                session = AsyncSession(bind=connection)
                announcement = (
                    await session.execute(
                        select(Announcement).where(col(Announcement.slug) == slug)
                    )
                ).scalar_one()
                delta = StatsDelta()
                now = datetime.now(UTC)
                delta.add(announcement.id, now, "impressions", impressions)
                delta.add(announcement.id, now, "unique_viewers", impressions)
                delta.add(announcement.id, now, "clicks", clicks)
                delta.add(announcement.id, now, "unique_clickers", clicks)
                await EngagementRepository(session).add_stats(delta.rows(announcement.workspace_id))
                await session.close()
        finally:
            await engine.dispose()

    asyncio.run(seed())


class TestStatsCommand:
    def test_table_csv_and_json(self, cli_database: str, tmp_path: Path) -> None:
        invoke("workspace", "create", "Acme")
        for slug, title in (("dark-mode", "Dark mode"), ("faster", "Faster search")):
            path = tmp_path / f"{slug}.md"
            path.write_text(f"---\ntitle: {title}\nstatus: published\n---\nBody\n")
            assert invoke("announce", str(path))[0] == 0
        _seed_stats(cli_database, "dark-mode", impressions=40, clicks=10)
        _seed_stats(cli_database, "faster", impressions=4, clicks=0)

        code, output = invoke("stats")
        assert code == 0, output
        assert "Dark mode" in output and "25.0%" in output
        assert output.index("Dark mode") < output.index("Faster search")

        code, output = invoke("stats", "--format", "csv")
        rows = list(csv.DictReader(io.StringIO(output)))
        assert [(r["title"], r["impressions"], r["ctr"]) for r in rows] == [
            ("Dark mode", "40", "0.25"),
            ("Faster search", "4", "0.0"),
        ]

        code, output = invoke("stats", "--format", "json", "--sort", "title")
        body = orjson.loads(output)
        assert [row["title"] for row in body["data"]] == ["Dark mode", "Faster search"]
        assert body["data"][0]["unique_clickers"] == 10

    def test_bad_range_is_reported(self, cli_database: str) -> None:
        invoke("workspace", "create", "Acme")
        code, output = invoke("stats", "--from", "2026-02-01", "--to", "2026-01-01")
        assert code == 2 and "from" in output


class TestPurgeCommand:
    def test_purges_old_raw_events_only(self, cli_database: str) -> None:
        code, output = invoke("purge-events", "--older-than-days", "30")
        assert code == 0 and "deleted 0 raw events" in output


class TestDemo:
    def test_demo_seeds_once_and_serves_the_page(self, cli_database: str) -> None:
        async def seed_twice() -> tuple[str, str, int]:
            engine = create_async_engine(cli_database)
            try:
                async with AsyncSession(engine, expire_on_commit=False) as session:
                    first = await seed_demo(session)
                    await session.commit()
                    second = await seed_demo(session)
                    await session.commit()
                    count = len((await session.execute(select(Announcement))).scalars().all())
                return first, second, count
            finally:
                await engine.dispose()

        invoke("migrate")
        first, second, count = asyncio.run(seed_twice())
        assert first == second and first.startswith("pk_")
        assert count == len(SAMPLES)

        async def fetch(path: str) -> httpx.Response:
            settings = Settings(_env_file=None, database_url=cli_database, demo_key=first)
            application = create_app(settings)
            async with application.router.lifespan_context(application):
                transport = httpx.ASGITransport(app=application)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                    return await client.get(path)

        page = asyncio.run(fetch("/demo"))
        assert page.status_code == 200
        assert f'data-key="{first}"' in page.text and 'src="/widget.js"' in page.text
