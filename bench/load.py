"""Running wrk with the bench Lua scripts, and reading what it measured."""

import json
import shutil
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
WRK_TIMEOUT = "10s"  # well past any healthy latency: slow answers show up as slow, not lost


@dataclass
class WrkRun:
    label: str
    target: str
    connections: int
    duration_s: float
    requests: int
    rps: float
    statuses: dict[str, int]
    errors: dict[str, int]
    accepted: int
    latency_ms: dict[str, float]
    bytes: int
    command: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    output: str = ""

    @property
    def ok_statuses(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("2"))

    def count(self, status: int) -> int:
        return self.statuses.get(str(status), 0)

    @property
    def socket_errors(self) -> int:
        return sum(v for k, v in self.errors.items() if k != "status")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("output")
        return data


def ensure_wrk(log: Any) -> str:
    found = shutil.which("wrk")
    if found:
        return found
    log("wrk not found: installing it with apt-get (Debian package 'wrk')")
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], check=True)
        subprocess.run(install, check=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is still missing after apt-get install wrk")
    return found


def run_wrk(
    procs: Any,
    workdir: Path,
    *,
    label: str,
    target: str,
    url: str,
    script: str,
    args: Sequence[str],
    connections: int,
    threads: int,
    duration_s: float,
    pin_core: int | None,
) -> WrkRun:
    """One wrk run in its own process group (stopped on Ctrl-C), parsed from BENCH_RESULT."""
    threads = min(threads, connections)
    command = [] if pin_core is None else ["taskset", "-c", str(pin_core)]
    command += [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s:g}s",
        f"--timeout={WRK_TIMEOUT}",
        "--latency",
        "-s",
        str(BENCH / script),
        url,
        "--",
        *args,
    ]
    log = workdir / "wrk.log"
    with log.open("ab") as out:
        out.write(f"\n==== {label} @ {target}: {' '.join(command)}\n".encode())
    proc = procs.start(f"wrk {label}", command, env=None, cwd=workdir, log=workdir / "wrk.out")
    try:
        proc.popen.wait(duration_s + 60)
    finally:
        procs.stop(proc, timeout=5)
    output = (workdir / "wrk.out").read_text(errors="replace")
    (workdir / "wrk.out").unlink()
    with log.open("a") as out:
        out.write(output)
    line = next((x for x in output.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result for {label} @ {target}:\n{output[-3000:]}")
    data = json.loads(line.removeprefix("BENCH_RESULT "))
    duration = data["duration_us"] / 1e6
    return WrkRun(
        label=label,
        target=target,
        connections=connections,
        duration_s=duration,
        requests=data["requests"],
        rps=data["requests"] / duration if duration else 0.0,
        statuses={str(k): int(v) for k, v in data["statuses"].items()},
        errors=data["errors"],
        accepted=data["accepted"],
        latency_ms={k: v / 1000 for k, v in data["latency_us"].items()},
        bytes=data["bytes"],
        command=command,
        output=output,
    )


def lua_table(rows: Sequence[Any]) -> str:
    """A Lua file returning ``rows`` (strings, or lists of strings)."""

    def literal(value: Any) -> str:
        if isinstance(value, str):
            return json.dumps(value)  # a JSON string is a valid Lua string here (ASCII)
        return "{" + ", ".join(literal(item) for item in value) + "}"

    return "return {\n" + ",\n".join(literal(row) for row in rows) + "\n}\n"


@dataclass
class Spread:
    median: float
    low: float
    high: float
    values: list[float]

    @classmethod
    def of(cls, values: Sequence[float]) -> "Spread":
        return cls(statistics.median(values), min(values), max(values), list(values))

    def show(self, fmt: str = ",.0f", unit: str = "") -> str:
        if len(self.values) == 1:
            return f"{self.median:{fmt}}{unit}"
        return f"{self.median:{fmt}}{unit} ({self.low:{fmt}}-{self.high:{fmt}})"
