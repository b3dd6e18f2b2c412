"""Tidings benchmark: the widget hot path against a floor, event ingestion, stats latency.

    .venv/bin/python bench/run.py [--database sqlite|postgresql | --all] [--workers N]
                                  [--server uvicorn|granian]
                                  [--duration 10] [--repetitions 3] [--quick]

Seeds a throwaway database, starts a floor (bare Starlette serving the bytes of a real
feed response) and ``tidings serve``, drives both with wrk, checks that every acknowledged
event was stored and that the counters match the events, prints a summary and writes it
to bench/results/<timestamp>.json. ``--all`` runs every configuration the issue asks
for, each as its own run of this script, and adds one summary of them all. See
bench/README.md for what each figure means.
"""

import argparse
import asyncio
import contextlib
import hashlib
import os
import platform
import random
import re
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, TypedDict

import httpx
import orjson
import seed
from load import Spread, WrkRun, ensure_wrk, lua_table, run_wrk
from procs import CpuSample, Proc, Processes, memory_kb, wait_ready, worker_pids

from app.engagement.counting import COUNTERS

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
SOURCE_ROOTS = [ROOT]  # error locations are shown relative to the code that ran
SERVER_CORE, WRK_CORE = 0, 1
CONNECTIONS, THREADS = 64, 2
# Feed polls come from browsers; the User-Agent feeds the built-in `device` attribute, so
# the feed (and its ETag) depends on it. wrk and the ETag capture send this same one.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0"
ETAG_USERS = 1_000
STATS_CALLS = 20
RATE_LIMIT_SETTINGS = [
    f"TIDINGS_RATE_LIMIT_{scope}_{what}"
    for scope in ("WIDGET_KEY", "WIDGET_IP", "ADMIN_KEY")
    for what in ("PER_S", "BURST")
]
RATE_LIMIT_OFF_THE_CHARTS = "1000000000"
PROBE_TIMEOUT_S = 30.0
PHASES = ("feed", "events", "stats")
COLUMNS = ("measure", "tidings", "floor", "ratio", "target", "verdict")
HEADERS = ("", "Tidings", "floor", "ratio", "target", "")
NOISY_CORES = 0.1  # CPU used by other processes during a run, in cores, worth a warning

TARGETS = {
    "feed_200_ratio": 0.5,
    "feed_304_ratio": 0.7,
    "events_per_s": 20_000,
    "p99_ms_at_8": 10.0,
    "p99_ms_at_64": 50.0,
    "p50_ratio_at_1": 1.2,
    "rss_mb": 150,
    "stats_ms": 200,
}
TARGET_TEXTS = {
    "feed_200_ratio": "≥ 0.5 x floor",
    "feed_304_ratio": "≥ 0.7 x floor",
    "events_per_s": "≥ 20 000/s",
    "p99_ms_at_8": "≤ 10 ms",
    "p99_ms_at_64": "≤ 50 ms",
    "p50_ratio_at_1": "≤ 1.2 x floor",
    "rss_mb": "≤ 150 MB",
    "stats_ms": "≤ 200 ms",
}
AT_LEAST = {"feed_200_ratio", "feed_304_ratio", "events_per_s"}  # the others are ceilings

# What --all runs: the targets (SQLite, 1 worker), the same on PostgreSQL, and 2 workers.
CONFIGURATIONS = (("sqlite", 1), ("postgresql", 1), ("sqlite", 2))
CHILD_STOP_S = 120.0  # an interrupted run stops its servers (25 s each at most), drops its database


def meets(target: str, value: float) -> bool:
    return value >= TARGETS[target] if target in AT_LEAST else value <= TARGETS[target]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the widget feed, event ingestion and stats against a floor.",
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], help="default: sqlite")
    parser.add_argument("--workers", type=int, help="server workers (default 1)")
    parser.add_argument(
        "--server",
        choices=["uvicorn", "granian"],
        default="uvicorn",
        help="what tidings serve --server runs (default: uvicorn)",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="run every configuration: "
        + ", ".join(f"{db} with {n} worker{'s' if n > 1 else ''}" for db, n in CONFIGURATIONS)
        + "; then one summary of them all",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--repetitions", type=int, default=3, help="wrk runs per measurement")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 1 repetition of 3 s, 100 000 events for the stats announcement",
    )
    parser.add_argument(
        "--stats-events", type=int, default=None, help="events of the stats announcement"
    )
    parser.add_argument(
        "--pg-dsn",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server to create the throwaway database on",
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help="benchmark the app in this directory (a checkout) instead of the installed one",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each run, wait up to this long for other processes on the machine "
        f"to use less than {NOISY_CORES} cores (default 0: measure at once)",
    )
    parser.add_argument(
        "--only",
        type=lambda value: [part.strip() for part in value.split(",") if part.strip()],
        default=list(PHASES),
        metavar="PHASES",
        help="comma-separated subset of: feed, events, stats (default: all)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.all and (args.database is not None or args.workers is not None):
        parser.error("--all runs every database and worker count: drop --database and --workers")
    args.database = args.database or "sqlite"
    args.workers = 1 if args.workers is None else args.workers
    if unknown := set(args.only) - set(PHASES):
        parser.error(f"--only: unknown phase(s) {', '.join(sorted(unknown))}")
    if args.quick:
        args.duration, args.repetitions = 3.0, 1
    if args.stats_events is None:
        args.stats_events = 100_000 if args.quick else 1_000_000
    if args.workers < 1 or args.repetitions < 1 or args.duration <= 0:
        parser.error("--workers, --repetitions and --duration must be positive")
    return args


def load_estimate_s(args: argparse.Namespace) -> float:
    """Roughly how long one configuration's load phases take (seeding not counted)."""
    runs = 10 * ("feed" in args.only) + 2 * ("events" in args.only)
    return float(runs * args.repetitions * args.duration + 6 * min(2.0, args.duration) + 30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ms(seconds: float) -> float:
    return seconds * 1000


class DurabilityRow(TypedDict):
    run: str
    nonce: str
    acknowledged: int
    responses_202_x10: int
    counted: int
    ok: bool


class Failure(Exception):
    """A problem that ends the run (printed with the server's log tail)."""


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.started = time.monotonic()
        self.procs = Processes()
        self.tmp = Path(tempfile.mkdtemp(prefix="tidings-bench-"))
        self.pg_name: str | None = None
        self.server: Proc | None = None
        self.floor: Proc | None = None
        self.log_offsets: dict[str, int] = {}
        self.failures: list[str] = []
        self.anomalies: list[str] = []
        self.logged_errors: list[str] = []
        self.probes = 0
        self.runs: list[WrkRun] = []
        self.results: dict[str, Any] = {}
        self.pinned = args.workers == 1
        self.postgres = args.database == "postgresql"

    # --- output ------------------------------------------------------------------------

    def log(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", flush=True)

    # --- environment -------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
        env["TIDINGS_DATABASE_URL"] = self.database_url
        # Nothing per request in the logs: the access log is INFO. Errors still show.
        env["TIDINGS_LOG_LEVEL"] = "WARNING"
        # The rate limiter stays on (what it costs per request is part of the hot path) but
        # far above what one load generator on 127.0.0.1 with one key sends.
        env.update({name: RATE_LIMIT_OFF_THE_CHARTS for name in RATE_LIMIT_SETTINGS})
        if self.args.source:
            env["PYTHONPATH"] = os.pathsep.join(
                [str(self.args.source.resolve()), env.get("PYTHONPATH", "")]
            ).rstrip(os.pathsep)
        return env

    def tidings(self) -> str:
        candidate = Path(sys.executable).parent / "tidings"
        return str(candidate) if candidate.exists() else shutil.which("tidings") or "tidings"

    def cli(self, *argv: str) -> str:
        done = subprocess.run(
            [self.tidings(), *argv],
            env=self.env(),
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise Failure(f"tidings {' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
        return done.stdout

    # --- database ----------------------------------------------------------------------

    def create_database(self) -> None:
        if self.args.database == "sqlite":
            self.database_url = f"sqlite+aiosqlite:///{self.tmp / 'tidings.db'}"
            return
        import asyncpg

        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        name = f"tidings_bench_{stamp}_{secrets.token_hex(3)}"

        async def create() -> None:
            try:
                conn = await asyncpg.connect(self.args.pg_dsn, timeout=10)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                raise Failure(
                    f"PostgreSQL is not reachable at {without_password(self.args.pg_dsn)} "
                    f"(--pg-dsn): {exc}"
                ) from exc
            self.pg_name = name  # from here on, cleanup drops it
            try:
                await conn.execute(f'CREATE DATABASE "{self.pg_name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        base = self.args.pg_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        self.database_url = f"{base}/{self.pg_name}"
        self.log(f"created PostgreSQL database {self.pg_name}")

    def drop_database(self) -> None:
        if self.pg_name is None:
            return
        import asyncpg

        async def drop() -> None:
            conn = await asyncpg.connect(self.args.pg_dsn)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
            finally:
                await conn.close()

        try:
            asyncio.run(drop())
            self.log(f"dropped PostgreSQL database {self.pg_name}")
        except Exception as exc:
            print(f"could not drop database {self.pg_name}: {exc}", file=sys.stderr)

    def query(self, sql: str, **params: Any) -> list[Any]:
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import NullPool

        async def run() -> list[Any]:
            engine = create_async_engine(self.database_url, poolclass=NullPool)
            try:
                async with engine.connect() as conn:
                    return list((await conn.execute(text(sql), params)).all())
            finally:
                await engine.dispose()

        return asyncio.run(run())

    # --- servers -----------------------------------------------------------------------

    def pin(self, core: int) -> list[str]:
        return ["taskset", "-c", str(core)] if self.pinned else []

    def start_server(self, name: str, port: int, *, workers: int, pinned: bool) -> Proc:
        argv = ["taskset", "-c", str(SERVER_CORE)] if pinned else []
        argv += [self.tidings(), "serve", "--port", str(port), "--workers", str(workers)]
        if self.args.server != "uvicorn":  # a --source checkout may predate --server
            argv += ["--server", self.args.server]
        proc = self.procs.start(
            name, argv, env=self.env(), cwd=self.tmp, log=self.tmp / f"{name}.log"
        )
        wait_ready(proc, f"http://127.0.0.1:{port}/healthz")
        return proc

    def new_server_errors(self, proc: Proc | None) -> list[str]:
        """Error lines the process logged since the last look, grouped by what and where."""
        if proc is None:
            return []
        try:
            data = proc.log.read_bytes()
        except FileNotFoundError:
            return []
        start = self.log_offsets.get(proc.name, 0)
        self.log_offsets[proc.name] = len(data)
        kinds: Counter[str] = Counter()
        for line in data[start:].decode(errors="replace").splitlines():
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                if re.search(r"error|exception|traceback", line, re.IGNORECASE):
                    kinds[line.strip()[:300]] += 1
                continue
            if not isinstance(entry, dict) or entry.get("level") not in ("error", "critical"):
                continue
            kinds[describe_error(entry)] += 1
        return [f"{n}x {kind}" for kind, n in kinds.most_common(8)]

    # --- the run -----------------------------------------------------------------------

    def run(self) -> int:
        args = self.args
        mode = (
            f"{args.database}, {args.workers} worker{'s' if args.workers > 1 else ''}, "
            f"{args.server}, {CONNECTIONS} connections, {args.repetitions} x {args.duration:g} s"
        )
        self.log(f"Tidings benchmark: {mode}; temporary directory {self.tmp}")
        if self.pinned:
            self.log(f"server and floor pinned to core {SERVER_CORE}, wrk to core {WRK_CORE}")
        else:
            self.log(f"{args.workers} workers: server and floor not pinned; wrk on core {WRK_CORE}")
        self.log(f"load phases take about {load_estimate_s(args) / 60:.0f} min, plus seeding")
        ensure_wrk(self.log)
        self.create_database()
        if args.source:
            sys.path.insert(0, str(args.source.resolve()))
            SOURCE_ROOTS.insert(0, args.source.resolve())
        self.cli("migrate")
        workspace = orjson.loads(
            self.cli("workspace", "create", "Bench", "--json").splitlines()[-1]
        )
        self.workspace = workspace
        self.log(f"migrated; workspace {workspace['workspace_id']}")

        # Announcements through the admin API, on a short-lived server.
        port = free_port()
        seeder = self.start_server("seed-server", port, workers=1, pinned=False)
        content = seed.create_announcements(f"http://127.0.0.1:{port}", workspace["secret_key"])
        self.procs.stop(seeder)
        self.content = content
        html = content.html_bytes
        self.log(
            f"created {len(content.ids)} published announcements ({len(content.targeted)} "
            f"targeted), body_html {min(html):,}-{max(html):,} B (median "
            f"{statistics.median(html):,.0f} B)"
        )
        report = asyncio.run(
            seed.seed_database(
                self.database_url,
                workspace["workspace_id"],
                content,
                args.stats_events,
                self.log,
            )
        )
        self.seed_report = report
        self.log(
            f"seeded in {report.seconds:.0f} s ({report.write_seconds:.0f} s writing): "
            f"{report.users:,} users, {report.states:,} state "
            f"rows, {report.events:,} events ({report.stats_events:,} on the stats "
            f"announcement), {report.counter_rows:,} quarter-hour counter rows"
        )
        self.results["seed"] = {
            "announcements": len(content.ids),
            "targeted": len(content.targeted),
            "body_html_bytes": {"min": min(html), "median": statistics.median(html)},
            "users": report.users,
            "state_rows": report.states,
            "events": report.events,
            "stats_announcement": content.stats_announcement,
            "stats_announcement_events": report.stats_events,
            "counter_rows": report.counter_rows,
            "seconds": round(report.seconds, 1),
        }

        self.port = free_port()
        self.server = self.start_server(
            "server", self.port, workers=args.workers, pinned=self.pinned
        )
        self.base = f"http://127.0.0.1:{self.port}"
        self.log(
            f"tidings serve --workers {args.workers} --server {args.server} on :{self.port} "
            f"(TIDINGS_LOG_LEVEL=WARNING{', taskset -c 0' if self.pinned else ''})"
        )
        events_ok = self.preflight()
        only = set(args.only)
        (self.tmp / "announcements.lua").write_text(lua_table(content.seen_by_everyone))
        if "feed" in only:
            self.capture_feed()
            self.start_floor()
            self.load_feed()
        if "events" in only and events_ok:
            self.load_events()
        elif "events" in only:
            self.failures.append("event ingestion skipped: the preflight request failed")
        self.measure_memory()
        if "events" in only and events_ok:
            self.check_durability()
        self.check_counters()
        if "stats" in only:
            self.measure_stats()
        self.summarize()
        return 1 if self.failures or self.anomalies else 0

    def start_floor(self) -> None:
        self.floor_port = free_port()
        argv = [*self.pin(SERVER_CORE), sys.executable, str(BENCH / "floor_app.py")]
        argv += ["--port", str(self.floor_port), "--workers", str(self.args.workers)]
        argv += ["--data", str(self.tmp)]
        self.floor = self.procs.start(
            "floor", argv, env=self.env(), cwd=self.tmp, log=self.tmp / "floor.log"
        )
        self.floor_base = f"http://127.0.0.1:{self.floor_port}"
        wait_ready(self.floor, f"{self.floor_base}/v1/widget/announcements")
        floor_body = httpx.get(f"{self.floor_base}/v1/widget/announcements").content
        if floor_body != self.feed_body:
            raise Failure("the floor does not serve the captured feed bytes")
        self.log(f"floor (bare Starlette) on :{self.floor_port} serves the same bytes")

    # --- preflight and capture ---------------------------------------------------------

    def feed_url(self, base: str, user: str) -> str:
        return (
            f"{base}/v1/widget/announcements?key={self.workspace['publishable_key']}&user_id={user}"
        )

    def preflight(self) -> bool:
        """One feed, one 304, one event batch: the load is meaningless if these fail."""
        first = httpx.get(self.feed_url(self.base, seed.user_key(1)), timeout=30)
        if first.status_code != 200 or "etag" not in first.headers:
            raise Failure(f"feed preflight: {first.status_code} {first.text[:500]}")
        again = httpx.get(
            self.feed_url(self.base, seed.user_key(1)),
            headers={"If-None-Match": first.headers["etag"]},
            timeout=30,
        )
        if again.status_code != 304:
            raise Failure(f"feed preflight: If-None-Match answered {again.status_code}")
        events = self.batch("ffffffff", seed.user_key(2), self.content.seen_by_everyone[:10])
        response = httpx.post(
            f"{self.base}/v1/widget/events?key={self.workspace['publishable_key']}",
            content=events,
            headers={"Content-Type": "text/plain;charset=UTF-8"},
            timeout=30,
        )
        accepted = response.json().get("accepted") if response.status_code == 202 else None
        if accepted != 10:
            errors = self.new_server_errors(self.server)
            message = f"events preflight: {response.status_code} {response.text[:300]}"
            self.failures.append(message + "".join(f"\n    server: {e}" for e in errors))
            self.log(message)
            for line in errors:
                self.log(f"  server logged: {line}")
            return False
        self.log("preflight ok: feed 200 with ETag, 304 on If-None-Match, events 202 (10/10)")
        return True

    @staticmethod
    def batch(nonce: str, user: str, announcements: Sequence[str]) -> bytes:
        at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        kinds = ["impression"] * 7 + ["click", "dismiss", "reaction"]
        events = []
        for k, (kind, announcement) in enumerate(zip(kinds, announcements, strict=False)):
            event = {
                "id": f"{nonce}-0000-4000-8000-{k:012x}",
                "type": kind,
                "announcement_id": announcement,
                "occurred_at": at,
            }
            if kind == "impression":
                event["surface"] = "feed"
            if kind == "reaction":
                event["value"] = "positive"
            events.append(event)
        return orjson.dumps({"user_id": user, "events": events})

    def capture_feed(self) -> None:
        """ETags for the 304 run, and the bytes of a typical feed for the floor to serve."""
        step = seed.N_USERS // ETAG_USERS
        users = [seed.user_key(i) for i in range(1, seed.N_USERS + 1, step)]
        pairs, sizes, items = [], [], []
        with httpx.Client(timeout=30, headers={"User-Agent": USER_AGENT}) as client:
            for user in users:
                response = client.get(self.feed_url(self.base, user))
                if response.status_code != 200:
                    raise Failure(f"feed for {user}: {response.status_code} {response.text[:300]}")
                pairs.append((user, response.headers["etag"]))
                sizes.append((len(response.content), user))
                items.append(len(response.json()["announcements"]))
            sizes.sort()
            typical = sizes[len(sizes) // 2][1]
            client.get(self.feed_url(self.base, typical))
            response = client.get(self.feed_url(self.base, typical))
        self.feed_body = response.content
        keep = ("etag", "cache-control", "vary", "x-request-id", "x-content-type-options")
        meta = {
            "content_type": response.headers["content-type"],
            "headers": {k: v for k, v in response.headers.items() if k in keep and k != "etag"}
            | {"etag": response.headers["etag"]},
            "etags": [etag for _, etag in pairs],
            "user_etags": pairs,  # for bench/inprocess.py
            "user": typical,
        }
        (self.tmp / "feed_body.json").write_bytes(self.feed_body)
        (self.tmp / "feed_meta.json").write_bytes(orjson.dumps(meta))
        (self.tmp / "etags.lua").write_text(lua_table(pairs))
        byte_sizes = [size for size, _ in sizes]
        self.results["feed_response"] = {
            "captured_user": typical,
            "bytes": len(self.feed_body),
            "items": len(orjson.loads(self.feed_body)["announcements"]),
            "bytes_over_users": {
                "min": byte_sizes[0],
                "median": statistics.median(byte_sizes),
                "max": byte_sizes[-1],
            },
            "items_over_users": {"min": min(items), "max": max(items)},
            "headers": dict(response.headers),
        }
        self.log(
            f"fetched {len(pairs)} ETags; feed sizes {byte_sizes[0]:,}-{byte_sizes[-1]:,} B "
            f"({min(items)}-{max(items)} items); floor serves {typical}'s "
            f"{len(self.feed_body):,} B"
        )

    # --- load --------------------------------------------------------------------------

    def wrk(
        self,
        label: str,
        target: str,
        script: str,
        args: Sequence[str],
        *,
        connections: int = CONNECTIONS,
        threads: int = THREADS,
        duration: float | None = None,
        expect: int,
        record: bool = True,
    ) -> WrkRun:
        base = self.base if target == "tidings" else self.floor_base
        proc = self.server if target == "tidings" else self.floor
        if proc is None or not proc.alive():
            raise Failure(f"{target} is not running:\n{proc.log_tail() if proc else ''}")
        sessions = {p.pid for p in (self.server, self.floor) if p is not None}
        if record:
            self.wait_for_quiet(sessions)
        before = CpuSample.take(sessions)
        run = run_wrk(
            self.procs,
            self.tmp,
            label=label,
            target=target,
            url=base,
            script=script,
            args=args,
            connections=connections,
            threads=threads,
            duration_s=duration or self.args.duration,
            pin_core=WRK_CORE,
        )
        run.cpu = CpuSample.take(sessions).since(before)
        run.server_errors = self.new_server_errors(proc)  # what it logged during this run
        unexpected = {s: n for s, n in run.statuses.items() if s != str(expect)}
        socket_errors = {k: v for k, v in run.errors.items() if v and k != "status"}
        problems = []
        if unexpected:
            problems.append(f"statuses {unexpected}")
        if socket_errors:
            problems.append(f"socket errors {socket_errors}")
        if run.requests == 0:
            problems.append("not a single response")
        note = ""
        if problems and not proc.alive():
            problems.append(f"{target} died")
        elif problems:
            problems.append(self.probe(target, script))
        if problems or run.server_errors:
            note = "  !! " + "; ".join(problems or ["server logged errors"])
            for line in run.server_errors:
                note += f"\n      {target} logged: {line}"
        if problems:
            self.anomalies.append(f"{label} @ {target}: " + "; ".join(problems + run.server_errors))
            if not proc.alive():
                note += f"\n      {target} log tail:\n{proc.log_tail()}"
        elif run.server_errors:
            self.logged_errors.append(f"{label} @ {target}: " + "; ".join(run.server_errors))
        if record:
            self.runs.append(run)
        lat = run.latency_ms
        value = (
            f"{run.accepted / run.duration_s:,.0f} events/s ({run.rps:,.0f} req/s)"
            if script == "events.lua"
            else f"{run.rps:,.0f} req/s"
        )
        others = run.cpu.get("other_processes_cores", 0.0)
        steal = run.cpu.get("steal_cores", 0.0)
        if others > NOISY_CORES or steal > NOISY_CORES:
            note = f"  [other load: {others:.2f} cores, steal {steal:.2f}]" + note
        self.log(
            f"{label:<16} {target:<8} {value}  p50 {lat['p50']:.2f} ms  p99 {lat['p99']:.2f} ms"
            f"  cpu {run.cpu.get('servers_cores', 0):.2f}"
            + (f" (postgres {run.cpu.get('postgres_cores', 0):.2f})" if self.postgres else "")
            + f"{'' if record else '  (warm-up)'}{note}"
        )
        return run

    def probe(self, target: str, script: str) -> str:
        """After a bad run: does the target still answer one request, and how fast?"""
        base = self.base if target == "tidings" else self.floor_base
        key = self.workspace["publishable_key"]
        self.probes += 1
        started = time.perf_counter()
        try:
            if script == "events.lua":
                nonce = f"fffffe{self.probes % 256:02x}"
                response = httpx.post(
                    f"{base}/v1/widget/events?key={key}",
                    content=self.batch(nonce, seed.user_key(3), self.content.seen_by_everyone[:10]),
                    headers={"Content-Type": "text/plain;charset=UTF-8"},
                    timeout=PROBE_TIMEOUT_S,
                )
            else:
                response = httpx.get(self.feed_url(base, seed.user_key(1)), timeout=PROBE_TIMEOUT_S)
        except httpx.TimeoutException:
            return f"then one request got no answer within {PROBE_TIMEOUT_S:.0f} s (hung)"
        except httpx.HTTPError as exc:
            return f"then one request failed: {exc!r}"
        elapsed = time.perf_counter() - started
        return f"then one request answered {response.status_code} in {elapsed:.2f} s"

    def wait_for_quiet(self, sessions: set[int]) -> None:
        """On a shared machine: give other processes' bursts (tests, builds) time to end."""
        deadline = time.monotonic() + self.args.wait_quiet
        announced = False
        while self.args.wait_quiet > 0:
            before = CpuSample.take(sessions)
            time.sleep(1.0)
            others = CpuSample.take(sessions).since(before).get("other_processes_cores", 0.0)
            if others <= NOISY_CORES:
                return
            if time.monotonic() >= deadline:
                self.log(f"other processes still use {others:.2f} cores: measuring anyway")
                return
            if not announced:
                self.log(f"other processes use {others:.2f} cores: waiting for quiet")
                announced = True

    def series(
        self,
        label: str,
        script: str,
        args_of: Callable[[str], Sequence[str]],
        targets: Sequence[str],
        *,
        expect: int,
        connections: int = CONNECTIONS,
        threads: int = THREADS,
    ) -> dict[str, list[WrkRun]]:
        """Repetitions interleaved across targets, so drift hits both alike."""
        runs: dict[str, list[WrkRun]] = {target: [] for target in targets}
        for _ in range(self.args.repetitions):
            for target in targets:
                runs[target].append(
                    self.wrk(
                        label,
                        target,
                        script,
                        args_of(target),
                        connections=connections,
                        threads=threads,
                        expect=expect,
                    )
                )
        return runs

    def load_feed(self) -> None:
        key = self.workspace["publishable_key"]
        users = str(seed.N_USERS)
        warm = min(2.0, self.args.duration)

        def feed_args(target: str) -> list[str]:
            return [key, users, USER_AGENT]

        for target in ("tidings", "floor"):
            self.wrk(
                "warm-up feed",
                target,
                "feed.lua",
                feed_args(target),
                duration=warm,
                expect=200,
                record=False,
            )
        both = ("tidings", "floor")
        feed = self.series("feed 200 @64", "feed.lua", feed_args, both, expect=200)
        etags = str(self.tmp / "etags.lua")
        not_modified = self.series(
            "feed 304 @64", "feed_304.lua", lambda t: [key, etags, USER_AGENT], both, expect=304
        )
        p99 = self.series("feed @8", "feed.lua", feed_args, both, expect=200, connections=8)
        p50 = self.series(
            "feed @1", "feed.lua", feed_args, both, expect=200, connections=1, threads=1
        )
        # No target: what a returning visitor's poll costs one at a time (most polls).
        p50_304 = self.series(
            "feed 304 @1",
            "feed_304.lua",
            lambda t: [key, etags, USER_AGENT],
            both,
            expect=304,
            connections=1,
            threads=1,
        )
        self.feed_runs = {
            "feed_200": feed,
            "feed_304": not_modified,
            "feed_8": p99,
            "feed_1": p50,
            "feed_304_1": p50_304,
        }
        if any(r.count(200) for r in not_modified["tidings"]):
            self.anomalies.append(
                "feed 304 run got 200s: ETags changed since they were fetched (midnight UTC?)"
            )

    def load_events(self) -> None:
        key = self.workspace["publishable_key"]
        users = str(seed.N_USERS)
        announcements = str(self.tmp / "announcements.lua")
        self.nonces: list[tuple[str, WrkRun]] = []

        def args_of(_: str) -> list[str]:
            nonce = f"{random.getrandbits(32):08x}"
            while nonce in {n for n, _ in self.nonces} or nonce == "ffffffff":
                nonce = f"{random.getrandbits(32):08x}"
            self.pending_nonce = nonce
            return [key, users, nonce, announcements]

        def run(
            label: str, connections: int, duration: float | None = None, record: bool = True
        ) -> WrkRun:
            result = self.wrk(
                label,
                "tidings",
                "events.lua",
                args_of("tidings"),
                connections=connections,
                duration=duration,
                expect=202,
                record=record,
            )
            self.nonces.append((self.pending_nonce, result))
            return result

        run("warm-up events", CONNECTIONS, min(2.0, self.args.duration), record=False)
        saturated = [run("events @64", CONNECTIONS) for _ in range(self.args.repetitions)]
        below = [run("events @8", 8) for _ in range(self.args.repetitions)]
        self.event_runs = {"events_64": saturated, "events_8": below}

    # --- after the load ----------------------------------------------------------------

    def measure_memory(self) -> None:
        memory = {}
        for name, proc in (("tidings", self.server), ("floor", self.floor)):
            if proc is None or not proc.alive():
                continue
            memory[name] = [{"pid": pid, **memory_kb(pid)} for pid in worker_pids(proc)]
        self.results["memory_kb"] = memory
        for name, workers in memory.items():
            shown = ", ".join(
                f"pid {w['pid']}: RSS {w.get('VmRSS', 0) / 1024:.0f} MB "
                f"(peak {w.get('VmHWM', 0) / 1024:.0f} MB)"
                for w in workers
            )
            self.log(f"{name} worker memory after the load: {shown}")

    def count_events(self, nonce: str) -> int:
        rows = self.query(
            "SELECT count(*) FROM events WHERE workspace_id = :w AND id >= :lo AND id < :hi",
            w=self.workspace["workspace_id"],
            lo=f"{nonce}-",
            hi=f"{nonce}.",
        )
        return int(rows[0][0])

    def check_durability(self) -> None:
        """Every acknowledged event must be in the database once the server is idle."""
        previous, deadline = -1, time.monotonic() + 30
        while time.monotonic() < deadline:  # requests wrk gave up on may still commit
            counts = [self.count_events(nonce) for nonce, _ in self.nonces]
            if sum(counts) == previous:
                break
            previous = sum(counts)
            time.sleep(1.0)
        rows: list[DurabilityRow] = []
        for (nonce, run), counted in zip(self.nonces, counts, strict=True):
            rows.append(
                {
                    "run": run.label,
                    "nonce": nonce,
                    "acknowledged": run.accepted,
                    "responses_202_x10": run.count(202) * 10,
                    "counted": counted,
                    "ok": counted >= run.accepted,
                }
            )
        acknowledged = sum(r["acknowledged"] for r in rows)
        counted = sum(r["counted"] for r in rows)
        ok = all(r["ok"] for r in rows)
        self.results["durability"] = {
            "acknowledged": acknowledged,
            "counted": counted,
            "ok": ok,
            "runs": rows,
        }
        self.log(
            f"durability: {acknowledged:,} events acknowledged (sum of 'accepted' in 202s), "
            f"{counted:,} stored with those ids: {'ok' if ok else 'LOST EVENTS'}"
        )
        for row in rows:
            self.log(
                f"  {row['run']:<16} {row['nonce']}: acknowledged {row['acknowledged']:,} "
                f"(202s x 10 = {row['responses_202_x10']:,}), stored {row['counted']:,}"
            )
        if not ok:
            self.failures.append("acknowledged events missing from the database")

    def check_counters(self) -> None:
        """The quarter-hour counters must equal what the events and states say."""
        w = self.workspace["workspace_id"]
        by_type = dict(
            self.query(
                "SELECT type, count(*) FROM events WHERE workspace_id = :w GROUP BY type", w=w
            )
        )
        sums = self.query(
            "SELECT "
            + ", ".join(f"coalesce(sum({c}), 0)" for c in COUNTERS)
            + " FROM announcement_stats WHERE workspace_id = :w",
            w=w,
        )[0]
        counters = dict(zip(COUNTERS, (int(v) for v in sums), strict=True))
        states = self.query(
            "SELECT count(first_impression_at), count(clicked_at), count(dismissed_at), "
            "coalesce(sum(CASE WHEN reaction = 'positive' THEN 1 ELSE 0 END), 0), "
            "coalesce(sum(CASE WHEN reaction = 'neutral' THEN 1 ELSE 0 END), 0), "
            "coalesce(sum(CASE WHEN reaction = 'negative' THEN 1 ELSE 0 END), 0) "
            "FROM user_states WHERE workspace_id = :w",
            w=w,
        )[0]
        expected = {
            "impressions": by_type.get("impression", 0),
            "clicks": by_type.get("click", 0),
            "dismissals": by_type.get("dismiss", 0),
            "unique_viewers": states[0],
            "unique_clickers": states[1],
            "unique_dismissers": states[2],
            "reactions_positive": states[3],
            "reactions_neutral": states[4],
            "reactions_negative": states[5],
        }
        checks = {
            name: {"counters": counters[name], "expected": int(expected[name])} for name in expected
        }
        ok = all(c["counters"] == c["expected"] for c in checks.values())
        self.results["counters"] = {"ok": ok, "checks": checks}
        shown = []
        for name, check in checks.items():
            mismatch = check["counters"] != check["expected"]
            if name in ("impressions", "clicks", "unique_viewers") or mismatch:
                extra = f" ≠ {check['expected']:,} expected" if mismatch else ""
                shown.append(f"{name} {check['counters']:,}{extra}")
        self.log(
            f"counters vs events and states: {', '.join(shown)} → {'ok' if ok else 'MISMATCH'}"
        )
        if not ok:
            bad = [
                f"{n}: {c['counters']} ≠ {c['expected']}"
                for n, c in checks.items()
                if c["counters"] != c["expected"]
            ]
            self.failures.append("counters do not match events/states: " + "; ".join(bad))

    def measure_stats(self) -> None:
        today = datetime.now(UTC).date()
        window = {"from": (today - timedelta(days=30)).isoformat(), "to": today.isoformat()}
        announcement = self.content.stats_announcement
        calls = {
            "announcement_day": (f"/v1/announcements/{announcement}/stats", {"interval": "day"}),
            "announcement_hour": (f"/v1/announcements/{announcement}/stats", {"interval": "hour"}),
            "workspace": ("/v1/stats", {}),
        }
        headers = {"Authorization": f"Bearer {self.workspace['secret_key']}"}
        samples: dict[str, list[float]] = {name: [] for name in calls}
        sizes: dict[str, int] = {}
        failed: set[str] = set()
        with httpx.Client(base_url=self.base, headers=headers, timeout=60) as client:
            # Round-robin over the three, so that any noise on the machine hits them alike.
            for attempt in range(STATS_CALLS + 2):
                for name, (path, extra) in calls.items():
                    if name in failed:
                        continue
                    started = time.perf_counter()
                    response = client.get(path, params={**window, **extra})
                    elapsed = time.perf_counter() - started
                    if response.status_code != 200:
                        failed.add(name)
                        self.failures.append(
                            f"GET {path}: {response.status_code} {response.text[:300]}"
                        )
                        continue
                    if attempt == 0:
                        sizes[name] = len(response.content)
                        if name == "announcement_day":
                            self.check_stats_totals(response.json()["totals"])
                    if attempt >= 2:  # two warm-up calls
                        samples[name].append(ms(elapsed))
        timings = {
            name: {
                "median_ms": statistics.median(values),
                "min_ms": min(values),
                "max_ms": max(values),
                "bytes": sizes.get(name, 0),
            }
            for name, values in samples.items()
            if values
        }
        self.results["stats_latency"] = timings
        self.log(
            f"stats over {self.seed_report.stats_events:,} events (median of {STATS_CALLS}): "
            + ", ".join(f"{n} {t['median_ms']:.1f} ms" for n, t in timings.items())
        )

    def check_stats_totals(self, totals: dict[str, Any]) -> None:
        expected = self.seed_report.stats_totals
        got = {
            "impressions": totals["impressions"],
            "unique_viewers": totals["unique_viewers"],
            "clicks": totals["clicks"],
            "unique_clickers": totals["unique_clickers"],
            "dismissals": totals["dismissals"],
            "unique_dismissers": totals["unique_dismissers"],
            "reactions_positive": totals["reactions"]["positive"],
            "reactions_neutral": totals["reactions"]["neutral"],
            "reactions_negative": totals["reactions"]["negative"],
        }
        wrong = {k: (v, expected[k]) for k, v in got.items() if v != expected[k]}
        self.results["stats_totals_match_seed"] = not wrong
        if wrong:
            self.failures.append(f"stats totals differ from the seeded history: {wrong}")
        else:
            self.log(
                f"stats totals match the seeded history ({got['impressions']:,} impressions, "
                f"{got['unique_viewers']:,} viewers)"
            )

    # --- summary -----------------------------------------------------------------------

    def summarize(self) -> None:
        args = self.args
        graded = args.database == "sqlite" and args.workers == 1
        rows: list[dict[str, Any]] = []

        def add(
            name: str, tidings: str, floor: str, ratio: str, target: str, met: bool | None
        ) -> None:
            verdict = "" if met is None else ("ok" if met else "MISS")
            if not graded and met is not None:
                verdict = f"({verdict})"
            values = (name, tidings, floor, ratio, target, verdict)
            rows.append(dict(zip(COLUMNS, values, strict=True)))

        figures: dict[str, Any] = {}

        def versus(
            key: str, runs: dict[str, list[WrkRun]], metric: Callable[[WrkRun], float]
        ) -> tuple[Spread, Spread, float]:
            """Tidings against the floor: median (range) of each, and the ratio of medians."""
            latency = "_ms_at_" in key
            pick = answered if latency else list  # a run without answers has no latency
            server = Spread.of([metric(r) for r in pick(runs["tidings"])])
            floor = Spread.of([metric(r) for r in pick(runs["floor"])])
            ratio = server.median / floor.median if floor.median else float("inf")
            figures[key] = {"tidings": vars(server), "floor": vars(floor), "ratio": ratio}
            return server, floor, ratio

        if hasattr(self, "feed_runs"):
            for key, name, target in (
                ("feed_200", "feed 200 warm, req/s @64", "feed_200_ratio"),
                ("feed_304", "feed 304, req/s @64", "feed_304_ratio"),
            ):
                server, floor, ratio = versus(key, self.feed_runs[key], lambda r: r.rps)
                add(name, server.show(), floor.show(), f"{ratio:.2f}", TARGET_TEXTS[target],
                    meets(target, ratio))  # fmt: skip
            for key, name in (
                ("feed_200", "feed 200 p99 @64, ms"),
                ("feed_304", "feed 304 p99 @64, ms"),
            ):
                server, floor, ratio = versus(
                    f"{key}_p99_ms_at_64", self.feed_runs[key], lambda r: r.latency_ms["p99"]
                )
                add(name, server.show(".1f"), floor.show(".1f"), f"{ratio:.2f}",
                    TARGET_TEXTS["p99_ms_at_64"], meets("p99_ms_at_64", server.median))  # fmt: skip
            server, floor, ratio = versus(
                "feed_p99_ms_at_8", self.feed_runs["feed_8"], lambda r: r.latency_ms["p99"]
            )
            add("feed p99 @8, ms", server.show(".2f"), floor.show(".2f"), f"{ratio:.2f}",
                TARGET_TEXTS["p99_ms_at_8"], meets("p99_ms_at_8", server.median))  # fmt: skip
            server, floor, ratio = versus(
                "feed_p50_ms_at_1", self.feed_runs["feed_1"], lambda r: r.latency_ms["p50"]
            )
            add("feed p50 @1, ms", server.show(".3f"), floor.show(".3f"), f"{ratio:.2f}",
                TARGET_TEXTS["p50_ratio_at_1"], meets("p50_ratio_at_1", ratio))  # fmt: skip
            server, floor, ratio = versus(
                "feed_304_p50_ms_at_1", self.feed_runs["feed_304_1"], lambda r: r.latency_ms["p50"]
            )
            add("feed 304 p50 @1, ms", server.show(".3f"), floor.show(".3f"), f"{ratio:.2f}",
                "-", None)  # fmt: skip
        if hasattr(self, "event_runs"):
            saturated = self.event_runs["events_64"]
            rate = Spread.of([r.accepted / r.duration_s for r in saturated])
            figures["events_per_s"] = vars(rate)
            figures["events_rps"] = vars(Spread.of([r.rps for r in saturated]))
            add("events acked/s @64 (10/req)", rate.show(), "-", "-",
                TARGET_TEXTS["events_per_s"], meets("events_per_s", rate.median))  # fmt: skip
            p99 = Spread.of([r.latency_ms["p99"] for r in answered(self.event_runs["events_8"])])
            figures["events_p99_ms_at_8"] = vars(p99)
            add("events p99 @8, ms", p99.show(".2f"), "-", "-",
                TARGET_TEXTS["p99_ms_at_8"], meets("p99_ms_at_8", p99.median))  # fmt: skip
        memory = self.results.get("memory_kb", {})
        if memory.get("tidings"):
            rss = [w.get("VmRSS", 0) / 1024 for w in memory["tidings"]]
            floor_rss = [w.get("VmRSS", 0) / 1024 for w in memory.get("floor", [])]
            figures["worker_rss_mb"] = rss
            add(
                "worker RSS after load, MB",
                " / ".join(f"{v:.0f}" for v in rss),
                " / ".join(f"{v:.0f}" for v in floor_rss) or "-",
                "-",
                TARGET_TEXTS["rss_mb"],
                meets("rss_mb", max(rss)),
            )
        for name, label in (
            ("announcement_day", "stats 1 ann., day, ms"),
            ("announcement_hour", "stats 1 ann., hour, ms"),
            ("workspace", "GET /v1/stats, ms"),
        ):
            timing = self.results.get("stats_latency", {}).get(name)
            if timing:
                add(
                    label,
                    f"{timing['median_ms']:.1f} ({timing['min_ms']:.1f}-{timing['max_ms']:.1f})",
                    "-",
                    "-",
                    TARGET_TEXTS["stats_ms"],
                    meets("stats_ms", timing["median_ms"]),
                )
        durability = self.results.get("durability")
        if durability:
            add(
                "events acked / stored",
                f"{durability['acknowledged']:,} / {durability['counted']:,}",
                "-",
                "-",
                "stored ≥ acked",
                durability["ok"],
            )
        if "counters" in self.results:
            add(
                "counters = events, states",
                "equal" if self.results["counters"]["ok"] else "MISMATCH",
                "-",
                "-",
                "equal",
                self.results["counters"]["ok"],
            )

        print()
        title = (
            f"Tidings benchmark — {args.database}, {args.workers} worker"
            f"{'s' if args.workers > 1 else ''}, "
            f"{'server pinned to core 0, ' if self.pinned else 'not pinned, '}"
            f"wrk on core 1, {CONNECTIONS} connections, {args.repetitions} x {args.duration:g} s"
        )
        print(title)
        print("median (min-max) over repetitions; floor = bare Starlette serving the same bytes")
        if not graded:
            print("targets are for SQLite with 1 worker: verdicts in parentheses are for reference")
        print(format_table(HEADERS, [[row[c] for c in COLUMNS] for row in rows]))
        others = [r.cpu.get("other_processes_cores", 0.0) for r in self.runs if r.cpu]
        steal = [r.cpu.get("steal_cores", 0.0) for r in self.runs if r.cpu]
        if others:
            self.results["noise"] = {
                "other_processes_cores_median": statistics.median(others),
                "other_processes_cores_max": max(others),
                "steal_cores_max": max(steal),
            }
            print(
                "\nOther processes on the machine during the wrk runs: "
                f"{statistics.median(others):.2f} cores median, {max(others):.2f} max "
                f"(steal up to {max(steal):.2f})"
                + ("  <- figures are disturbed" if max(others) > NOISY_CORES else "")
            )
        if self.anomalies:
            print("\nAnomalies:")
            for anomaly in self.anomalies:
                print(f"  - {anomaly}")
        if self.logged_errors:
            print("\nErrors the server logged during otherwise clean runs:")
            for entry in self.logged_errors:
                print(f"  - {entry}")
        if self.failures:
            print("\nFailures:")
            for failure in self.failures:
                print(f"  - {failure}")

        self.results.update(
            {
                "figures": figures,
                "table": rows,
                "anomalies": self.anomalies,
                "logged_errors": self.logged_errors,
                "failures": self.failures,
                "runs": [run.to_json() for run in self.runs],
            }
        )
        self.write_results()

    def write_results(self) -> None:
        args = self.args
        RESULTS.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS / f"{stamp}-{args.database}-w{args.workers}{server_suffix(args)}.json"
        document = {
            "started_at": datetime.now(UTC).isoformat(),
            "config": {
                "database": args.database,
                "workers": args.workers,
                "server": args.server,
                "duration_s": args.duration,
                "repetitions": args.repetitions,
                "quick": args.quick,
                "connections": CONNECTIONS,
                "wrk_threads": THREADS,
                "server_pinned_core": SERVER_CORE if self.pinned else None,
                "wrk_core": WRK_CORE,
                "stats_events": args.stats_events,
                "log_level": "WARNING",
                "source": str(args.source.resolve()) if args.source else str(ROOT),
            },
            "environment": environment(args.source or ROOT),
            "targets": TARGETS,
            **self.results,
        }
        path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2, default=str))
        print(f"\nwritten to {shown_path(path)}")

    # --- cleanup -----------------------------------------------------------------------

    def cleanup(self, failed: bool) -> None:
        if failed:
            for proc in (self.server, self.floor):
                if proc is None:
                    continue
                self.log_offsets[proc.name] = 0
                summary = self.new_server_errors(proc)
                # The raw tail only when the summary cannot tell: a crash, a non-JSON line.
                tail = [] if summary and proc.alive() else proc.log_tail(12).splitlines()
                tail = [line[:300] for line in tail]
                if summary or tail:
                    print(f"\n--- {proc.log} ---", file=sys.stderr)
                for line in summary:
                    print(f"  logged in all: {line}", file=sys.stderr)
                if tail:
                    print("  last lines (cut at 300 characters):", file=sys.stderr)
                    print("\n".join(f"    {line}" for line in tail), file=sys.stderr)
        self.procs.stop_all()
        self.drop_database()
        if self.args.keep or failed:
            print(f"kept {self.tmp} (logs, database, generated scripts)", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Disconnect|Timeout\w*|Exit)\b(:|$)")


def answered(runs: Sequence[WrkRun]) -> list[WrkRun]:
    """Runs that got responses: a run the server did not answer at all has no latency."""
    return [run for run in runs if run.requests > 0] or list(runs)


def describe_error(entry: dict[str, Any]) -> str:
    """An error log entry as 'message: exception (file:line in function)'."""
    message = str(entry.get("msg", "")).strip()
    exc = str(entry.get("exc") or "")
    if not exc:
        return message[:300]
    lines = [line.strip() for line in exc.strip().splitlines() if line.strip()]
    # The exception's own line ("sqlalchemy.exc.OperationalError: ... database is locked"),
    # not the SQL or the "Background on this error" lines that follow it.
    raised = [line for line in lines if EXCEPTION_LINE.match(line)]
    last = raised[-1] if raised else (lines[-1] if lines else "")
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', exc)
    ours = [f for f in frames if "/site-packages/" not in f[0]] or frames
    where = ""
    if ours:
        path, line, function = ours[-1]
        for root in SOURCE_ROOTS:
            with contextlib.suppress(ValueError):
                path = str(Path(path).relative_to(root))
                break
        where = f" at {path}:{line} in {function}"
    return f"{message}: {last}{where}"[:400]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def shown_path(path: Path) -> str:
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def without_password(dsn: str) -> str:
    return re.sub(r"//([^/:@]*):[^/@]*@", r"//\1:***@", dsn)


def environment(source: Path) -> dict[str, Any]:
    def output(*argv: str) -> str:
        try:
            return subprocess.run(
                argv, capture_output=True, text=True, timeout=10, check=False, cwd=source
            ).stdout.strip()
        except OSError:
            return ""

    import sqlite3

    import uvicorn

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "",
    )
    digest = hashlib.sha256()
    for path in sorted((source / "app").rglob("*.py")):
        digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes())
    return {
        # The working tree may differ from the commit: this names the code that ran.
        "app_sources_sha256": digest.hexdigest(),
        "git_commit": output("git", "rev-parse", "HEAD"),
        "git_dirty_files": output("git", "status", "--porcelain", "--", "app").splitlines(),
        "python": platform.python_version(),
        "uvicorn": uvicorn.__version__,
        "sqlite": sqlite3.sqlite_version,
        "wrk": output("wrk", "-v").splitlines()[0] if output("wrk", "-v") else "",
        "kernel": platform.release(),
        "cpu": cpu,
        "cores": os.cpu_count(),
    }


# --- every configuration (--all) ---------------------------------------------------------

# The main figures of one configuration, as the combined summary shows them:
# label, key in Configuration.figures(), format, target (None: no target).
SUMMARY_ROWS = (
    ("feed 200, req/s @64", "feed_200_rps", ",.0f", None),
    ("  ratio to floor", "feed_200_ratio", ".2f", "feed_200_ratio"),
    ("feed 304, req/s @64", "feed_304_rps", ",.0f", None),
    ("  ratio to floor", "feed_304_ratio", ".2f", "feed_304_ratio"),
    ("feed 200 p99 @64, ms", "feed_200_p99_ms_at_64", ".1f", "p99_ms_at_64"),
    ("feed 304 p99 @64, ms", "feed_304_p99_ms_at_64", ".1f", "p99_ms_at_64"),
    ("feed p99 @8, ms", "feed_p99_ms_at_8", ".2f", "p99_ms_at_8"),
    ("feed p50 @1, ms", "feed_p50_ms_at_1", ".3f", None),
    ("  ratio to floor", "feed_p50_ratio_at_1", ".2f", "p50_ratio_at_1"),
    ("feed 304 p50 @1, ms", "feed_304_p50_ms_at_1", ".3f", None),
    ("  ratio to floor", "feed_304_p50_ratio_at_1", ".2f", None),
    ("events acked/s @64", "events_per_s", ",.0f", "events_per_s"),
    ("events p99 @8, ms", "events_p99_ms_at_8", ".2f", "p99_ms_at_8"),
    ("worker RSS, MB", "worker_rss_mb", ".0f", "rss_mb"),
    ("stats day / hour / all, ms", "stats_ms", ".0f", "stats_ms"),
)
STATS_CALLS_SHOWN = ("announcement_day", "announcement_hour", "workspace")


@dataclass
class Configuration:
    """One run of this script under --all, and what it left behind."""

    database: str
    workers: int
    status: int | None = None  # exit status; None: not run
    results_file: Path | None = None
    results: dict[str, Any] = field(default_factory=dict)
    stderr_tail: deque[str] = field(default_factory=lambda: deque(maxlen=40))

    @property
    def name(self) -> str:
        return f"{self.database} w{self.workers}"

    @property
    def is_graded(self) -> bool:
        """The targets are for SQLite with 1 worker."""
        return self.database == "sqlite" and self.workers == 1

    def figures(self) -> dict[str, Any]:
        """The figures of SUMMARY_ROWS from its results file (None where not measured)."""
        figures = self.results.get("figures", {})

        def pick(*path: str) -> Any:
            value: Any = figures
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            return value

        stats = self.results.get("stats_latency", {})
        return {
            "feed_200_rps": pick("feed_200", "tidings", "median"),
            "feed_200_ratio": pick("feed_200", "ratio"),
            "feed_304_rps": pick("feed_304", "tidings", "median"),
            "feed_304_ratio": pick("feed_304", "ratio"),
            "feed_200_p99_ms_at_64": pick("feed_200_p99_ms_at_64", "tidings", "median"),
            "feed_304_p99_ms_at_64": pick("feed_304_p99_ms_at_64", "tidings", "median"),
            "feed_p99_ms_at_8": pick("feed_p99_ms_at_8", "tidings", "median"),
            "feed_p50_ms_at_1": pick("feed_p50_ms_at_1", "tidings", "median"),
            "feed_p50_ratio_at_1": pick("feed_p50_ms_at_1", "ratio"),
            "feed_304_p50_ms_at_1": pick("feed_304_p50_ms_at_1", "tidings", "median"),
            "feed_304_p50_ratio_at_1": pick("feed_304_p50_ms_at_1", "ratio"),
            "events_per_s": pick("events_per_s", "median"),
            "events_p99_ms_at_8": pick("events_p99_ms_at_8", "median"),
            "worker_rss_mb": pick("worker_rss_mb"),
            "stats_ms": [stats[n]["median_ms"] for n in STATS_CALLS_SHOWN if n in stats] or None,
        }

    def verdicts(self) -> dict[str, bool]:
        figures = self.figures()
        verdicts = {}
        for _, key, _, target in SUMMARY_ROWS:
            value = figures[key]
            if target is None or value is None:
                continue
            # The lists (one RSS per worker, one time per stats call) are under ceilings.
            verdicts[key] = meets(target, max(value) if isinstance(value, list) else value)
        return verdicts

    def failed_checks(self) -> list[str]:
        """Its failures (checks) and anomalies (misbehaviour under load), as it reported them."""
        return [*self.results.get("failures", []), *self.results.get("anomalies", [])]

    def problems(self) -> list[str]:
        """What went wrong: its failed checks, or why it wrote no results."""
        if self.status is None:
            return ["not run"]
        if self.status == 130:
            return ["interrupted"]
        if self.results:
            return self.failed_checks() or ([f"exit status {self.status}"] if self.status else [])
        said = [line for line in self.stderr_tail if line.startswith("benchmark failed:")]
        last = said or [line for line in self.stderr_tail if line.strip()] or ["(nothing)"]
        return [f"exit status {self.status} before writing its results: {last[-1]}"]


def server_suffix(args: argparse.Namespace) -> str:
    """Of a results file's name: nothing for uvicorn (as before --server), else the server."""
    return "" if args.server == "uvicorn" else f"-{args.server}"


def child_argv(args: argparse.Namespace, configuration: Configuration) -> list[str]:
    """This script for one configuration, with the options --all was given."""
    argv = [sys.executable, str(BENCH / "run.py")]
    argv += ["--database", configuration.database, "--workers", str(configuration.workers)]
    argv += ["--server", args.server]
    if args.quick:
        argv.append("--quick")  # which sets the duration and repetitions itself
    else:
        argv += ["--duration", str(args.duration), "--repetitions", str(args.repetitions)]
    argv += ["--stats-events", str(args.stats_events), "--only", ",".join(args.only)]
    argv += ["--wait-quiet", str(args.wait_quiet), "--pg-dsn", args.pg_dsn]
    if args.source:
        argv += ["--source", str(args.source.resolve())]
    if args.keep:
        argv.append("--keep")
    return argv


def relay(stream: IO[bytes], tail: deque[str]) -> None:
    """Pass a child's stderr through as it comes, keeping its last lines."""
    for line in stream:
        sys.stderr.buffer.write(line)
        sys.stderr.flush()
        tail.append(line.decode(errors="replace").rstrip())


def stop_child(child: subprocess.Popen[bytes]) -> int:
    """SIGTERM: the child stops what it started and drops its database, as on Ctrl-C."""
    child.send_signal(signal.SIGTERM)
    try:
        return child.wait(CHILD_STOP_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        return child.wait()


def run_configuration(args: argparse.Namespace, configuration: Configuration) -> None:
    """Run this script for one configuration; its output streams through as it comes."""
    pattern = f"*-{configuration.database}-w{configuration.workers}{server_suffix(args)}.json"
    before = set(RESULTS.glob(pattern))
    argv = child_argv(args, configuration)
    shown = [shown_path(Path(argv[1])), *(without_password(arg) for arg in argv[2:])]
    print(f"\n=== {configuration.name}: {shlex.join(shown)}", flush=True)
    child: subprocess.Popen[bytes] | None = None
    relaying: threading.Thread | None = None
    try:
        # A session of its own, so that Ctrl-C at the terminal reaches only this process,
        # which passes it on once: a second signal would cut the child's cleanup short.
        child = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        assert child.stderr is not None
        relaying = threading.Thread(
            target=relay, args=(child.stderr, configuration.stderr_tail), daemon=True
        )
        relaying.start()
        configuration.status = child.wait()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if child is not None:
            print(f"\ninterrupted: stopping the {configuration.name} run", file=sys.stderr)
            configuration.status = stop_child(child)
        raise
    finally:
        if relaying is not None:
            relaying.join(5)  # a grandchild may hold the pipe: don't wait for it long
    written = sorted(set(RESULTS.glob(pattern)) - before)
    if written:
        configuration.results_file = written[-1]
        configuration.results = orjson.loads(written[-1].read_bytes())


def run_all(args: argparse.Namespace) -> int:
    """Every configuration, one after another, each as its own run; then one summary."""
    started, started_at = time.monotonic(), datetime.now(UTC)
    configurations = [Configuration(database, workers) for database, workers in CONFIGURATIONS]
    print(
        f"Tidings benchmark, every configuration: "
        f"{', '.join(c.name for c in configurations)}, one after another; the load takes "
        f"about {load_estimate_s(args) / 60:.0f} min each, plus seeding",
        flush=True,
    )
    is_interrupted = False
    try:
        for configuration in configurations:
            run_configuration(args, configuration)
            if configuration.status == 130:  # someone signalled the child itself
                is_interrupted = True
                break
    except KeyboardInterrupt:
        is_interrupted = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    summarize_all(args, configurations, started_at, time.monotonic() - started, is_interrupted)
    if is_interrupted:
        return 130
    return 0 if all(c.status == 0 for c in configurations) else 1


def combined_table(configurations: Sequence[Configuration]) -> list[list[str]]:
    def show(value: Any, fmt: str) -> str:
        if value is None:
            return "-"
        if isinstance(value, list):
            return " / ".join(f"{v:{fmt}}" for v in value)
        return f"{value:{fmt}}"

    rows = []
    for label, key, fmt, target in SUMMARY_ROWS:
        row = [label]
        for configuration in configurations:
            cell = show(configuration.figures()[key], fmt)
            verdicts = configuration.verdicts()
            if configuration.is_graded and key in verdicts:
                cell += "  ok" if verdicts[key] else "  MISS"
            row.append(cell)
        rows.append([*row, TARGET_TEXTS[target] if target else ""])
    checks = []
    for configuration in configurations:
        failed = configuration.failed_checks()
        checks.append(
            "-" if not configuration.results else f"{len(failed)} failed" if failed else "ok"
        )
    rows.append(["checks", *checks, "all ok"])
    statuses = ["not run" if c.status is None else str(c.status) for c in configurations]
    rows.append(["exit status", *statuses, "0"])
    return rows


def summarize_all(
    args: argparse.Namespace,
    configurations: Sequence[Configuration],
    started_at: datetime,
    seconds: float,
    is_interrupted: bool,
) -> None:
    headers = ["", *(c.name for c in configurations), "target"]
    rows = combined_table(configurations)
    graded = next(c.name for c in configurations if c.is_graded)
    print()
    print(
        f"Tidings benchmark, every configuration — {CONNECTIONS} connections, "
        f"{args.repetitions} x {args.duration:g} s, {seconds / 60:.1f} min in all"
        + (" (interrupted)" if is_interrupted else "")
    )
    print(f"medians over repetitions; the targets are for {graded}: its cells say ok or MISS")
    print(format_table(headers, rows))
    problems = [(c.name, p) for c in configurations for p in c.problems()]
    if problems:
        print("\nProblems:")
        for name, problem in problems:
            print(f"  - {name}: {problem.splitlines()[0][:300]}")
    print("\nResults of each run:")
    for configuration in configurations:
        where = configuration.results_file
        print(f"  {configuration.name}: {shown_path(where) if where else 'none'}")

    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{started_at.strftime('%Y%m%dT%H%M%SZ')}-all.json"
    document = {
        "started_at": started_at.isoformat(),
        "seconds": round(seconds, 1),
        "interrupted": is_interrupted,
        "config": {
            "configurations": [c.name for c in configurations],
            "server": args.server,
            "duration_s": args.duration,
            "repetitions": args.repetitions,
            "quick": args.quick,
            "only": args.only,
            "stats_events": args.stats_events,
            "wait_quiet_s": args.wait_quiet,
            "connections": CONNECTIONS,
            "source": str(args.source.resolve()) if args.source else str(ROOT),
        },
        "environment": environment(args.source or ROOT),
        "targets": TARGETS,
        "configurations": [
            {
                "name": c.name,
                "database": c.database,
                "workers": c.workers,
                "is_graded": c.is_graded,
                "exit_status": c.status,
                "results_file": shown_path(c.results_file) if c.results_file else None,
                "figures": c.figures(),
                "verdicts": c.verdicts(),
                "problems": c.problems(),
            }
            for c in configurations
        ],
        "table": {"headers": headers, "rows": rows},
    }
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2, default=str))
    print(f"\nwritten to {shown_path(path)}")


def main() -> int:
    args = parse_args()

    def interrupted(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)  # also when started with SIGINT ignored (nohup, &)
    if args.all:
        return run_all(args)
    bench = Bench(args)
    failed = True
    try:
        code = bench.run()
        failed = code != 0
        return code
    except Failure as exc:
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        for proc in (bench.server, bench.floor):
            for line in bench.new_server_errors(proc):
                print(f"  {proc.name if proc else ''} logged: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything that was started", file=sys.stderr)
        failed = False  # nothing to look into: no log summary, no kept directory
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        bench.cleanup(failed)


if __name__ == "__main__":
    sys.exit(main())
