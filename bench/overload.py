"""Event goodput under overload: clients that resend at once vs clients that back off.

    .venv/bin/python bench/overload.py                          # SQLite, 800 vs 16, 2 x 20 s
    .venv/bin/python bench/overload.py --database postgresql --repetitions 2
    .venv/bin/python bench/overload.py --duration 5             # a smoke run

Starts ``tidings serve`` (pinned to core 0) on a fresh database (a SQLite file, or a
throwaway PostgreSQL database at 127.0.0.1:5432) and drives it with wrk (pinned to core 1)
in two phases of ``--duration`` seconds each, per repetition:

- **polite** (``overload_polite.lua``): ``--polite`` connections; a batch answered 503 is
  sent again, same events, after ``Retry-After`` x a random 0.5-1.5, as the widget does;
- **resend-at-once** (``overload_resend.lua``): ``--connections`` connections; a batch
  answered 503 is sent again, same events, at once, as the reviewer's overload did.

Every request carries a batch number in ``X-Request-Id`` (echoed on every answer) and wrk
logs each answer: the script then checks the database batch by batch. Goodput is the
events of 202 answers found in the database, per second of the phase; it also counts
acknowledged events missing (lost), events of batches answered 503 that were written
anyway (by a count in the database, and by ``duplicates`` in the 202 that answered a
resend: both must be 0, "503 means not written"), and answers past the 4.5 s deadline.
The target (issue 17): resend-at-once goodput within 25% of the polite figure.

Bounded: each phase stops itself after ``--duration`` seconds (at most 120); the server,
wrk and the database are stopped and removed at the end, also on Ctrl-C or SIGTERM.
127.0.0.1 only. Run it on a quiet machine (``flock -o /tmp/bench.lock ...``).
"""

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import orjson
from load import WrkRun, ensure_wrk, run_wrk
from procs import CpuSample, Proc, Processes, memory_kb, wait_ready
from run import (
    RATE_LIMIT_OFF_THE_CHARTS,
    RATE_LIMIT_SETTINGS,
    RESULTS,
    SERVER_CORE,
    WRK_CORE,
    describe_error,
    format_table,
    free_port,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.migrate import upgrade_database
from tests.fixtures.databases import fresh_database
from tests.fixtures.seeding import seed_workspace

DEADLINE_S = 4.5  # the server's default request_timeout_s
TICK_S = 0.1  # how often the server looks for overdue requests (app/middleware.py)
SETTLE_S = DEADLINE_S + 1.5  # after a phase, until every request the server holds is answered
WARM_UP_S = 3.0
MAX_PHASE_S = 120.0
TARGET_RATIO = 0.75
PHASES = {"polite": "overload_polite.lua", "resend-at-once": "overload_resend.lua"}
# <nonce>-<thread>-4<event>-8000-<batch>, as overload_common.lua makes them
EVENT_ID = re.compile(r"^([0-9a-f]{8})-([0-9a-f]{4})-4([0-9a-f]{3})-8000-([0-9a-f]{12})$")


@dataclass
class Batch:
    sent: int = 0  # attempts written by wrk
    answers: list[tuple[int, int]] = field(default_factory=list)  # (attempt, status)
    acknowledged: int = 0  # events of its 202 answer (accepted + duplicates)
    rejected: int = 0  # events its 202 answer rejected
    duplicates_after_503: int = 0  # events a 503'd attempt wrote, as the 202 of a resend says
    acknowledged_attempt: int = 0  # which attempt got the 202 (> 1: after 503s)

    @property
    def state(self) -> str:
        statuses = [status for _, status in self.answers]
        if 202 in statuses:
            return "acknowledged"
        if not self.answers or max(attempt for attempt, _ in self.answers) < self.sent:
            return "unanswered"  # its last attempt was in flight when wrk stopped
        return "refused" if statuses[-1] == 503 else f"answered {statuses[-1]}"


@dataclass
class WrkLog:
    """What the per-thread logs of one wrk run say, batch by batch."""

    batches: dict[tuple[int, int], Batch]
    latencies_ms: dict[int, list[float]]  # by status
    closed: int  # answers that closed their connection
    strangers: int  # answers without a request id of ours

    @classmethod
    def read(cls, directory: Path) -> "WrkLog":
        batches: dict[tuple[int, int], Batch] = {}
        latencies: dict[int, list[float]] = {}
        closed = strangers = 0
        for path in sorted(directory.glob("thread-*.log")):
            thread = int(path.stem.removeprefix("thread-"))
            for line in path.read_text().splitlines():
                kind, *fields = line.split()
                if len(fields) != {"S": 2, "R": 8}.get(kind):
                    continue  # a line cut short (wrk stopped mid-write)
                if kind == "S":
                    key = (thread, int(fields[0]))
                    batch = batches.setdefault(key, Batch())
                    batch.sent = max(batch.sent, int(fields[1]))
                    continue
                n, attempt, status = int(fields[0]), int(fields[1]), int(fields[2])
                if n == 0:
                    strangers += 1
                    continue
                ms, ok, duplicates, rejected, close = fields[3:8]
                latencies.setdefault(status, []).append(float(ms))
                closed += int(close)
                batch = batches.setdefault((thread, n), Batch())
                if status == 202:
                    batch.acknowledged = int(ok) + int(duplicates)
                    batch.rejected = int(rejected)
                    batch.acknowledged_attempt = attempt
                    if attempt > 1:  # every attempt before it was answered 503
                        batch.duplicates_after_503 = int(duplicates)
                batch.answers.append((attempt, status))
        return cls(batches, latencies, closed, strangers)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


@dataclass
class PhaseResult:
    name: str
    connections: int
    repetition: int
    wrk: WrkRun
    log: WrkLog
    stored: Counter[tuple[int, int]]  # events in the database per (thread, batch)
    batch_size: int
    cpu: dict[str, float]
    server_errors: list[str]

    def figures(self) -> dict[str, Any]:
        states: Counter[str] = Counter()
        durable = lost = written_after_503 = written_after_other = unanswered_written = 0
        rejected = 0
        duplicates_after_503 = 0
        for key, batch in self.log.batches.items():
            state = batch.state
            states[state] += 1
            stored = self.stored.get(key, 0)
            if state == "acknowledged":
                durable += stored
                lost += max(0, self.batch_size - batch.rejected - stored)
                rejected += batch.rejected
                duplicates_after_503 += batch.duplicates_after_503
            elif state == "unanswered":
                unanswered_written += stored
            elif state == "refused":
                written_after_503 += stored
            else:
                written_after_other += stored
        strays = sum(n for key, n in self.stored.items() if key not in self.log.batches)
        every = [ms for values in self.log.latencies_ms.values() for ms in values]
        duration = self.wrk.duration_s
        statuses = Counter({str(k): len(v) for k, v in self.log.latencies_ms.items()})

        def latency(values: list[float]) -> dict[str, float]:
            return {
                "p50": round(percentile(values, 0.5), 1),
                "p99": round(percentile(values, 0.99), 1),
                "max": round(max(values, default=0.0), 1),
            }

        return {
            "phase": self.name,
            "repetition": self.repetition,
            "connections": self.connections,
            "batch_events": self.batch_size,
            "duration_s": round(duration, 2),
            "goodput_events_per_s": round(durable / duration, 1) if duration else 0.0,
            "durable_events": durable,
            "requests": sum(b.sent for b in self.log.batches.values()),
            "answers": dict(sorted(statuses.items())),
            "answers_per_s": round(len(every) / duration, 1) if duration else 0.0,
            "batches": dict(states),
            "latency_ms": latency(every),
            "latency_ms_202": latency(self.log.latencies_ms.get(202, [])),
            "latency_ms_503": latency(self.log.latencies_ms.get(503, [])),
            "answers_past_deadline": sum(ms > DEADLINE_S * 1000 for ms in every),
            "answers_past_deadline_and_tick": sum(
                ms > (DEADLINE_S + 2 * TICK_S) * 1000 for ms in every
            ),
            "lost_events": lost,
            "rejected_events": rejected,
            "written_after_503": written_after_503,
            "duplicates_after_503": duplicates_after_503,
            "acknowledged_after_503": sum(
                b.acknowledged_attempt > 1 for b in self.log.batches.values()
            ),
            "written_after_other_refusal": written_after_other,
            "in_flight_at_stop_written": unanswered_written,
            "stray_events": strays,
            "socket_errors": {k: v for k, v in self.wrk.errors.items() if k != "status" and v},
            "connections_closed_by_server": self.log.closed,
            "answers_not_ours": self.log.strangers,
            "cpu": self.cpu,
            "server_errors": self.server_errors,
        }

    def broken(self) -> list[str]:
        figures = self.figures()
        problems = [
            f"{figures[name]} {name.replace('_', ' ')}"
            for name in (
                "lost_events",
                "written_after_503",
                "duplicates_after_503",
                "written_after_other_refusal",
            )
            if figures[name]
        ]
        if figures["stray_events"]:
            problems.append(f"{figures['stray_events']} events in the database never sent")
        return problems


class Overload:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.procs = Processes()
        self.started = time.monotonic()
        self.server: Proc | None = None
        self.log_offset = 0

    def log(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", flush=True)

    def env(self, database_url: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
        env["TIDINGS_DATABASE_URL"] = database_url
        env["TIDINGS_LOG_LEVEL"] = "WARNING"  # no access log line per request
        env["TIDINGS_LOG_FORMAT"] = "json"
        # The rate limiter stays on (its cost is part of every request) but far above what
        # one load generator on 127.0.0.1 with one key sends: the overload is the queue's.
        env.update({name: RATE_LIMIT_OFF_THE_CHARTS for name in RATE_LIMIT_SETTINGS})
        return env

    def start_server(self, database_url: str) -> str:
        port = free_port()
        tidings = Path(sys.executable).parent / "tidings"
        argv = ["taskset", "-c", str(SERVER_CORE), str(tidings), "serve", "--port", str(port)]
        self.server = self.procs.start(
            "server",
            argv,
            env=self.env(database_url),
            cwd=self.workdir,
            log=self.workdir / "server.log",
        )
        base = f"http://127.0.0.1:{port}"
        wait_ready(self.server, f"{base}/healthz")
        return base

    def new_server_errors(self) -> list[str]:
        """Error lines the server logged since the last look, grouped."""
        assert self.server is not None
        data = self.server.log.read_bytes()
        fresh, self.log_offset = data[self.log_offset :], len(data)
        kinds: Counter[str] = Counter()
        for line in fresh.decode(errors="replace").splitlines():
            with contextlib.suppress(orjson.JSONDecodeError):
                entry = orjson.loads(line)
                if isinstance(entry, dict) and entry.get("level") in ("error", "critical"):
                    kinds[describe_error(entry)] += 1
        return [f"{n}x {kind}" for kind, n in kinds.most_common(8)]

    def wrk(
        self,
        label: str,
        base: str,
        seeded: Any,
        script: str,
        connections: int,
        duration_s: float,
    ) -> tuple[WrkRun, str, Path, dict[str, float]]:
        nonce = secrets.token_hex(4)
        logs = self.workdir / label
        logs.mkdir()
        assert self.server is not None
        before = CpuSample.take({self.server.pid})
        run = run_wrk(
            self.procs,
            self.workdir,
            label=label,
            target="tidings",
            url=base,
            script=script,
            args=[
                seeded.publishable_key,
                seeded.announcement_id,
                nonce,
                str(self.args.batch),
                str(logs),
            ],
            connections=connections,
            threads=self.args.threads,
            duration_s=duration_s,
            pin_core=WRK_CORE,
        )
        cpu = CpuSample.take({self.server.pid}).since(before)
        return run, nonce, logs, cpu

    def phase(
        self, name: str, repetition: int, base: str, seeded: Any, database_url: str
    ) -> PhaseResult:
        connections = self.args.polite if name == "polite" else self.args.connections
        label = f"{name}-{repetition}"
        profiler = self.profile(label) if self.args.profile and repetition == 1 else None
        with profiler or contextlib.nullcontext():
            run, nonce, logs, cpu = self.wrk(
                label, base, seeded, PHASES[name], connections, self.args.duration
            )
        self.log(f"{label}: wrk done; {SETTLE_S:.0f} s for the server to answer what it holds")
        time.sleep(SETTLE_S)
        stored = asyncio.run(stored_per_batch(database_url, nonce))
        result = PhaseResult(
            name,
            connections,
            repetition,
            run,
            WrkLog.read(logs),
            stored,
            self.args.batch,
            cpu,
            self.new_server_errors(),
        )
        if not self.args.keep:
            shutil.rmtree(logs)
        return result

    @contextlib.contextmanager
    def profile(self, label: str) -> Iterator[None]:
        """py-spy on the server (pinned with wrk) for the phase; its top functions after."""
        assert self.server is not None
        out = RESULTS / f"overload-{self.args.database}-{label}.pyspy.txt"
        py_spy = Path(sys.executable).parent / "py-spy"
        command = ["taskset", "-c", str(WRK_CORE), str(py_spy), "record", "--pid"]
        command += [str(self.server.pid), "--format", "raw", "--rate", "100", "--nonblocking"]
        command += ["--function", "--threads", "--duration", str(int(self.args.duration))]
        command += ["--output", str(out)]
        log = self.workdir / "py-spy.log"
        recorder = self.procs.start(
            "py-spy", command, env=dict(os.environ), cwd=self.workdir, log=log
        )
        try:
            yield
        finally:
            with contextlib.suppress(subprocess.TimeoutExpired):
                recorder.popen.wait(30)
            self.procs.stop(recorder)
        if out.exists():
            self.log(f"{label}: py-spy profile in {out}")
            print(summarize_profile(out.read_text()), flush=True)
        else:
            self.log(f"{label}: py-spy wrote nothing:\n{recorder.log_tail()}")

    def run(self) -> int:
        args = self.args
        RESULTS.mkdir(exist_ok=True)
        ensure_wrk(self.log)
        self.log(
            f"overload: {args.database}, polite {args.polite} vs resend-at-once "
            f"{args.connections} connections, {args.batch} events per batch, "
            f"{args.repetitions} x 2 phases of {args.duration:g} s; server on core "
            f"{SERVER_CORE}, wrk ({args.threads} threads) on core {WRK_CORE}"
        )
        results: list[PhaseResult] = []
        with fresh_database(args.database, self.workdir) as database_url:
            try:
                peak = self.phases(database_url, results)
            finally:
                self.procs.stop_all()  # before the database is dropped
        return self.report(results, peak)

    def phases(self, database_url: str, results: list["PhaseResult"]) -> int:
        """Warm-up, then the repetitions; the server's peak RSS in kB."""
        args = self.args
        upgrade_database(database_url)
        seeded = asyncio.run(seed_workspace(database_url))
        base = self.start_server(database_url)
        self.log(f"server up at {base} (pid {self.server.pid if self.server else '?'})")
        warm, _, _, _ = self.wrk("warm-up", base, seeded, PHASES["polite"], args.polite, WARM_UP_S)
        self.log(f"warm-up: {warm.requests} requests, statuses {warm.statuses}")
        time.sleep(1.0)
        for repetition in range(1, args.repetitions + 1):
            # ABBA: the database grows during the run; alternating the order keeps
            # that drift out of the ratio.
            order = list(PHASES) if repetition % 2 else list(reversed(PHASES))
            for name in order:
                result = self.phase(name, repetition, base, seeded, database_url)
                results.append(result)
                print(json.dumps(result.figures()), flush=True)
        assert self.server is not None
        return memory_kb(self.server.pid).get("VmHWM", 0)

    def report(self, results: list[PhaseResult], peak_kb: int) -> int:
        figures = [r.figures() for r in results]
        rows = []
        for f in figures:
            rows.append(
                [
                    f"{f['phase']} #{f['repetition']}",
                    str(f["connections"]),
                    f"{f['goodput_events_per_s']:,.0f}",
                    f"{f['answers'].get('202', 0):,}",
                    f"{f['answers'].get('503', 0):,}",
                    f"{f['latency_ms']['p50']:,.0f}",
                    f"{f['latency_ms']['p99']:,.0f}",
                    f"{f['latency_ms']['max']:,.0f}",
                    str(f["answers_past_deadline_and_tick"]),
                    str(f["written_after_503"] + f["duplicates_after_503"]),
                    str(f["lost_events"]),
                    f"{f['cpu'].get('cpu0_busy', 0):.2f}/{f['cpu'].get('cpu1_busy', 0):.2f}",
                ]
            )
        headers = [
            "phase",
            "conns",
            "goodput/s",
            "202s",
            "503s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "> 4.7 s",
            "written after 503",
            "lost",
            "core0/core1",
        ]
        print(format_table(headers, rows))
        goodput = {
            name: statistics.median(
                f["goodput_events_per_s"] for f in figures if f["phase"] == name
            )
            for name in PHASES
        }
        ratio = goodput["resend-at-once"] / goodput["polite"] if goodput["polite"] else 0.0
        refusals = sum(f["answers"].get("503", 0) for f in figures if f["phase"] != "polite")
        print(
            f"goodput (median): polite {goodput['polite']:,.0f}/s, resend-at-once "
            f"{goodput['resend-at-once']:,.0f}/s: {ratio:.0%} of polite (target "
            f">= {TARGET_RATIO:.0%}); {refusals:,} answers 503 to the resend-at-once "
            f"clients; server peak RSS {peak_kb / 1024:.0f} MB"
        )
        problems = [f"{r.name} #{r.repetition}: {p}" for r in results for p in r.broken()]
        if not refusals:
            problems.append("the resend-at-once phase got no 503: it did not overload the server")
        for problem in problems:
            print(f"FAILED: {problem}")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS / f"overload-{self.args.database}-{stamp}.json"
        summary = {
            "settings": {k: str(v) for k, v in vars(self.args).items()},
            "phases": figures,
            "goodput_median": goodput,
            "ratio": round(ratio, 3),
            "server_peak_rss_kb": peak_kb,
            "problems": problems,
        }
        path.write_text(json.dumps(summary, indent=2))
        print(f"written to {path}")
        return 1 if problems or ratio < TARGET_RATIO else 0


async def stored_per_batch(database_url: str, nonce: str) -> Counter[tuple[int, int]]:
    """Events of this phase in the database, counted per (wrk thread, batch)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(database_url, poolclass=NullPool)
    found: Counter[tuple[int, int]] = Counter()
    try:
        async with engine.connect() as conn:
            # '.' sorts right after '-': every id that starts with "<nonce>-".
            rows = await conn.execute(
                text("SELECT id FROM events WHERE id > :low AND id < :high"),
                {"low": f"{nonce}-", "high": f"{nonce}."},
            )
            for (event_id,) in rows:
                match = EVENT_ID.match(event_id)
                if match:
                    found[(int(match[2], 16), int(match[4], 16))] += 1
    finally:
        await engine.dispose()
    return found


def summarize_profile(raw: str, top: int = 20) -> str:
    """The functions py-spy saw most, by own samples and with callees (collapsed stacks)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    lines = [f"{samples} samples; own time:"]
    lines += [f"  {n / samples:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines.append("with callees:")
    lines += [f"  {n / samples:6.1%}  {frame}" for frame, n in total.most_common(top)]
    return "\n".join(lines)


def _interrupted(signum: int, _frame: object) -> NoReturn:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--connections", type=int, default=800, help="resend-at-once clients")
    parser.add_argument("--polite", type=int, default=16, help="clients that back off")
    parser.add_argument(
        "--batch", type=int, default=100, help="events per request (at most 100, the server's)"
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase (<= 120)")
    parser.add_argument("--repetitions", type=int, default=1, help="polite + resend pairs")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (on one core)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="record the server with py-spy during the first repetition's phases "
        "(figures of profiled phases are not measurements)",
    )
    parser.add_argument("--keep", action="store_true", help="keep wrk's per-request logs")
    args = parser.parse_args()
    if not 0 < args.duration <= MAX_PHASE_S:
        parser.error(f"--duration must be in (0, {MAX_PHASE_S:g}] seconds")
    if not 1 <= args.batch <= 100 or args.repetitions < 1:
        parser.error("--batch must be 1-100 and --repetitions at least 1")
    signal.signal(signal.SIGTERM, _interrupted)
    with tempfile.TemporaryDirectory(prefix="tidings-overload-") as directory:
        bench = Overload(args, Path(directory))
        try:
            return bench.run()
        finally:
            bench.procs.stop_all()
            if args.keep:
                kept = RESULTS / f"overload-logs-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
                shutil.copytree(directory, kept, ignore=shutil.ignore_patterns("*.db*"))
                print(f"logs kept in {kept}")


if __name__ == "__main__":
    sys.exit(main())
