"""Child processes the benchmark starts, each in its own process group, all stopped at exit."""

import contextlib
import os
import resource
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Processes:
    """Starts processes in new sessions (own process group); ``stop_all`` ends them all."""

    def __init__(self) -> None:
        self.running: list[Proc] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str],
        cwd: Path,
        log: Path,
    ) -> Proc:
        with log.open("ab") as out:
            popen = subprocess.Popen(
                list(argv),
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(name, popen, log)
        self.running.append(proc)
        return proc

    def stop(self, proc: Proc, timeout: float = 25.0) -> int | None:
        """SIGTERM to the whole group (graceful for uvicorn), SIGKILL if it lingers."""
        if proc in self.running:
            self.running.remove(proc)
        if proc.alive():
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.popen.wait(5)
        # Workers left behind by a dead supervisor are in the same group.
        _signal_group(proc.pid, signal.SIGKILL)
        return proc.popen.returncode

    def stop_all(self) -> None:
        for proc in reversed(list(self.running)):
            with contextlib.suppress(Exception):
                self.stop(proc)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def wait_ready(proc: Proc, url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(
                f"{proc.name} exited with {proc.popen.returncode} before answering; "
                f"log ({proc.log}):\n{proc.log_tail()}"
            )
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"{proc.name} did not answer {url} within {timeout:.0f} s:\n{proc.log_tail()}"
    )


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command may hold spaces and parentheses: the ppid follows the last ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) in kB, from /proc/<pid>/status."""
    values = {}
    try:
        for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
    except OSError:
        pass
    return values


def worker_pids(proc: Proc) -> list[int]:
    """The processes that serve requests: the server itself, or its workers (uvicorn's,
    granian's)."""
    workers = [
        pid
        for pid in children(proc.pid)
        if "multiprocessing" in cmdline(pid) and "resource_tracker" not in cmdline(pid)
    ]
    return workers or [proc.pid]


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_lines() -> dict[str, list[int]]:
    lines = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu"):
            name, *values = line.split()
            lines[name] = [int(v) for v in values]
    return lines


def _process_ticks(sessions: set[int]) -> tuple[int, int]:
    """CPU ticks (user + system) of the processes in these sessions, and of PostgreSQL's."""
    ours = database = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command, rest = (entry / "stat").read_text().rsplit(")", 1)
        except (OSError, ValueError):
            continue
        fields = rest.split()
        # After the command: state ppid pgrp session ... utime(12) stime(13).
        ticks = int(fields[11]) + int(fields[12])
        if int(fields[3]) in sessions:
            ours += ticks
        elif command.endswith("(postgres"):
            database += ticks
    return ours, database


@dataclass
class CpuSample:
    """Where the machine's CPU went, to tell our load from someone else's."""

    at: float
    cores: dict[str, list[int]]
    ours: int
    database: int
    children: float

    @classmethod
    def take(cls, sessions: set[int]) -> "CpuSample":
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        ours, database = _process_ticks(sessions)
        children = usage.ru_utime + usage.ru_stime
        return cls(time.monotonic(), _cpu_lines(), ours, database, children)

    def since(self, before: "CpuSample") -> dict[str, float]:
        """Per second of wall time: busy cores; servers, PostgreSQL, wrk; the rest; steal."""
        wall = self.at - before.at
        if wall <= 0:
            return {}

        def delta(core: str, *columns: int) -> float:
            now, then = self.cores.get(core), before.cores.get(core)
            if not now or not then:
                return 0.0
            return sum(now[c] - then[c] for c in columns if c < len(now)) / _TICK / wall

        # /proc/stat columns: user nice system idle iowait irq softirq steal
        busy = delta("cpu", 0, 1, 2)
        servers = (self.ours - before.ours) / _TICK / wall
        database = (self.database - before.database) / _TICK / wall  # PostgreSQL's backends
        load = self.children - before.children  # wrk, reaped since `before`
        others = max(busy - servers - database - load / wall, 0.0)
        result = {
            "busy_cores": busy,
            "servers_cores": servers,
            "postgres_cores": database,
            "wrk_cores": load / wall,
            "other_processes_cores": others,
            "irq_cores": delta("cpu", 5, 6),
            "steal_cores": delta("cpu", 7),
        }
        for core in sorted(c for c in self.cores if c != "cpu"):
            result[f"{core}_busy"] = delta(core, 0, 1, 2, 5, 6)
        return {key: round(value, 3) for key, value in result.items()}
