"""The Docker image's build stage, replayed without Docker: the wheel from what it copies.

The build stage copies some paths of the checkout, then runs ``pip install .``. These
tests parse its ``COPY`` lines, copy exactly those paths into an empty directory and build
the wheel there, so a file the package needs but the Dockerfile forgets fails here, not
in a release pipeline. ``compose.yaml`` is checked for the production setup it documents.
"""

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# What .dockerignore keeps out of the build context (and so out of every COPY).
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", "*.db", "*.db-*")


@dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]
    destination: PurePosixPath


@dataclass(frozen=True)
class BuildStage:
    workdir: PurePosixPath
    copies: list[Copy]


def _instructions(dockerfile: str) -> list[str]:
    """Logical lines: continuations joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    return [
        line.strip()
        for line in joined.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def build_stage(dockerfile: str) -> BuildStage:
    """The first stage's WORKDIR and ``COPY`` lines from the build context (absolute)."""
    copies: list[Copy] = []
    workdir = PurePosixPath("/")
    stages = 0
    for line in _instructions(dockerfile):
        instruction, _, arguments = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            stages += 1
            if stages > 1:
                break
        elif instruction == "WORKDIR":
            workdir = workdir / arguments.strip()
        elif instruction in ("COPY", "ADD"):
            words = arguments.split()
            if any(word.startswith("--from") for word in words):
                continue
            paths = [word for word in words if not word.startswith("--")]
            *sources, destination = paths
            copies.append(Copy(tuple(sources), workdir / destination))
    assert stages >= 1 and copies, "the Dockerfile has no build stage with COPY lines"
    return BuildStage(workdir, copies)


def replay_copies(copies: list[Copy], context: Path, root: Path) -> None:
    """Copy the sources from ``context`` into ``root`` as Docker would."""
    for copy in copies:
        target = root / copy.destination.relative_to("/")
        for source in copy.sources:
            path = context / source
            assert path.exists(), f"COPY {source}: not in the checkout"
            if path.is_dir():
                shutil.copytree(path, target, ignore=_IGNORED, dirs_exist_ok=True)
            else:
                into_dir = str(copy.destination).endswith("/") or len(copy.sources) > 1
                destination = target / path.name if into_dir else target
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, destination)


def _is_build_input(name: str) -> bool:
    """Files of a front-end build (app/<domain>/frontend/): the wheel needs their output."""
    return "/frontend/" in name


def _tracked(*directories: str) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--", *directories],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [name for name in listed if (ROOT / name).is_file()]


class TestBuildStageCopies:
    def test_reads_copy_lines_of_the_first_stage_only(self) -> None:
        dockerfile = (
            "FROM python AS build\nWORKDIR /src\nCOPY a.toml b.md ./\n"
            "COPY app \\\n  ./app\n# COPY ignored ./\nFROM python\nCOPY --from=build /x /x\n"
        )
        assert build_stage(dockerfile) == BuildStage(
            PurePosixPath("/src"),
            [
                Copy(("a.toml", "b.md"), PurePosixPath("/src")),
                Copy(("app",), PurePosixPath("/src/app")),
            ],
        )

    def test_copies_whole_package_directories(self) -> None:
        # Files other engineers add under these (templates, static assets) come along.
        sources = {
            source
            for copy in build_stage((ROOT / "Dockerfile").read_text()).copies
            for source in copy.sources
        }
        assert {"app", "migrations", "widget/dist"} <= sources


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The wheel ``pip install .`` would build inside the image's build stage."""
    root = tmp_path_factory.mktemp("image")
    stage = build_stage((ROOT / "Dockerfile").read_text())
    replay_copies(stage.copies, ROOT, root)
    workdir = root / stage.workdir.relative_to("/")
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), "."],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, f"the image's `pip install .` would fail:\n{built.stderr}"
    (path,) = out.glob("tidings-*.whl")
    return zipfile.ZipFile(path)


class TestWheelFromTheImageFiles:
    def test_carries_the_built_widget(self, wheel: zipfile.ZipFile) -> None:
        shipped = next(n for n in wheel.namelist() if n.endswith("/share/tidings/widget.js"))
        assert wheel.read(shipped) == (ROOT / "widget/dist/widget.js").read_bytes()

    def test_carries_every_data_file_pyproject_declares(self, wheel: zipfile.ZipFile) -> None:
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())
        declared = project["tool"]["setuptools"].get("data-files", {})
        names = wheel.namelist()
        for directory, files in declared.items():
            for name in files:
                suffix = f".data/data/{directory}/{Path(name).name}"
                assert any(n.endswith(suffix) for n in names), f"{name} is not in the wheel"

    def test_carries_every_migration(self, wheel: zipfile.ZipFile) -> None:
        migrations = [n for n in _tracked("migrations") if n.endswith(".py")]
        assert any("/versions/" in n for n in migrations)
        assert set(migrations) <= set(wheel.namelist())

    def test_carries_every_file_of_the_app_package(self, wheel: zipfile.ZipFile) -> None:
        # Templates, CSS, images, licences: a tracked file under app/ that the wheel lacks
        # is either not copied by the Dockerfile or not matched by package-data in
        # pyproject.toml. Only the inputs of front-end builds (whose output is committed
        # beside them) stay out.
        shipped = [n for n in _tracked("app", "migrations") if not _is_build_input(n)]
        missing = sorted(set(shipped) - set(wheel.namelist()))
        assert not missing, f"not in the image's wheel (see package-data): {missing}"

    def test_leaves_out_front_end_build_inputs(self, wheel: zipfile.ZipFile) -> None:
        assert not [n for n in wheel.namelist() if "node_modules/" in n]


@pytest.fixture(scope="module")
def compose() -> dict[str, object]:
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


class TestCompose:
    def test_runs_tidings_on_postgresql_once_it_is_healthy(
        self, compose: dict[str, dict[str, dict[str, object]]]
    ) -> None:
        services = compose["services"]
        tidings, database = services["tidings"], services["db"]
        assert tidings["build"] == "."
        environment = tidings["environment"]
        assert isinstance(environment, dict)
        assert environment["TIDINGS_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert "@db:5432/" in environment["TIDINGS_DATABASE_URL"]
        # The admin token must be given; compose refuses to start without it.
        assert ":?" in environment["TIDINGS_ADMIN_TOKEN"]
        assert tidings["depends_on"] == {"db": {"condition": "service_healthy"}}
        assert str(database["image"]).startswith("postgres:")

    def test_has_healthchecks_and_persistent_volumes(
        self, compose: dict[str, dict[str, dict[str, object]]]
    ) -> None:
        services = compose["services"]
        assert "/readyz" in " ".join(services["tidings"]["healthcheck"]["test"])  # type: ignore[index]
        assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])  # type: ignore[index]
        volumes = services["db"]["volumes"]
        assert isinstance(volumes, list)
        assert any(str(v).endswith(":/var/lib/postgresql/data") for v in volumes)
        assert set(compose["volumes"]) >= {str(v).split(":")[0] for v in volumes}

    def test_gives_shutdown_more_time_than_the_server_takes(
        self, compose: dict[str, dict[str, dict[str, object]]]
    ) -> None:
        # `tidings serve` lets requests finish for up to 20 s on SIGTERM (docs/operations.md).
        grace = str(compose["services"]["tidings"]["stop_grace_period"])
        assert grace.endswith("s") and int(grace[:-1]) > 20
