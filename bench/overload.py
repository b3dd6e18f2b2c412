"""Event goodput under overload: clients that resend at once vs clients that back off.

    .venv/bin/python bench/overload.py                        # SQLite, 800 vs 16, 2 x 20 s
    .venv/bin/python bench/overload.py --database postgresql --duration 30
    .venv/bin/python bench/overload.py --connections 200 --duration 5   # a smoke run

Starts ``tidings serve`` on a fresh database (a SQLite file, or a throwaway PostgreSQL
database at 127.0.0.1:5432), then runs two phases of ``--duration`` seconds each:

- **polite**: ``--polite`` connections; a client whose batch is answered 503 waits the
  ``Retry-After`` (with jitter) before resending it, as the widget does;
- **resend-at-once**: ``--connections`` connections; a 503 is followed by the same batch
  at once, as the reviewer's overload did.

Goodput is what was durably written: the events of the 202 answers, checked in the
database afterwards. It also counts the events of batches answered 503 that were written
anyway (must be 0: "503 means not written") and answers later than the request deadline.
The target (issue 17): resend-at-once goodput within 25% of the polite figure.

Bounded: each phase stops itself after ``--duration`` seconds (at most 120), and the
server and its database are removed at the end. All clients run in this one process:
with hundreds of connections on a small machine the client competes with the server for
CPU, so compare figures from the same machine only, and run it on a quiet one.
"""

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.migrate import upgrade_database
from tests.fixtures.databases import fresh_database, in_thread
from tests.fixtures.live_server import live_server
from tests.fixtures.seeding import events_found, seed_workspace

DEADLINE_S = 4.5  # the server's default request_timeout_s


@dataclass
class Phase:
    name: str
    connections: int
    duration_s: float
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    acknowledged: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)  # event ids of batches answered 503
    late: int = 0
    errors: Counter[str] = field(default_factory=Counter)


def _batch(announcement_id: str, size: int, worker: int) -> dict[str, Any]:
    at = datetime.now(UTC).isoformat()
    kinds = ("impression", "click", "dismiss")
    return {
        "user_id": f"load-{worker}-{random.randrange(1000)}",
        "events": [
            {
                "id": str(uuid.uuid4()),
                "type": kinds[n % 3],
                "announcement_id": announcement_id,
                "occurred_at": at,
            }
            for n in range(size)
        ],
    }


async def _client(
    phase: Phase,
    client: httpx.AsyncClient,
    key: str,
    announcement_id: str,
    batch_size: int,
    worker: int,
    until: float,
    *,
    polite: bool,
) -> None:
    body = _batch(announcement_id, batch_size, worker)
    while time.monotonic() < until:
        started = time.monotonic()
        try:
            response = await client.post(
                "/v1/widget/events", params={"key": key}, json=body, timeout=30
            )
        except httpx.HTTPError as exc:
            phase.errors[type(exc).__name__] += 1
            await asyncio.sleep(0.1)
            continue
        elapsed = time.monotonic() - started
        phase.latencies.append(elapsed)
        phase.statuses[response.status_code] += 1
        phase.late += elapsed > DEADLINE_S + 0.2
        ids = {event["id"] for event in body["events"]}
        if response.status_code == 202:
            phase.acknowledged |= ids
            body = _batch(announcement_id, batch_size, worker)
            continue
        if response.status_code == 503:
            phase.refused |= ids
            if polite:
                retry_after = float(response.headers.get("retry-after", "1"))
                await asyncio.sleep(retry_after * random.uniform(0.5, 1.5))
            continue
        phase.errors[f"status {response.status_code}"] += 1
        body = _batch(announcement_id, batch_size, worker)


async def _run_phase(
    phase: Phase, base_url: str, key: str, announcement_id: str, batch_size: int, polite: bool
) -> None:
    limits = httpx.Limits(max_connections=phase.connections, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=base_url, limits=limits) as client:
        until = time.monotonic() + phase.duration_s
        await asyncio.gather(
            *(
                _client(phase, client, key, announcement_id, batch_size, n, until, polite=polite)
                for n in range(phase.connections)
            )
        )


async def _report(phase: Phase, database_url: str) -> dict[str, Any]:
    durable = await events_found(database_url, phase.acknowledged)
    # Ids of a batch refused, then resent and acknowledged, are the acknowledged ones.
    written_after_503 = await events_found(database_url, phase.refused - phase.acknowledged)
    latencies = sorted(phase.latencies) or [0.0]
    return {
        "phase": phase.name,
        "connections": phase.connections,
        "duration_s": phase.duration_s,
        "statuses": dict(phase.statuses),
        "errors": dict(phase.errors),
        "acknowledged_events": len(phase.acknowledged),
        "durable_events": len(durable),
        "lost_events": len(phase.acknowledged - durable),
        "written_after_503": len(written_after_503),
        "goodput_events_per_s": round(len(durable) / phase.duration_s, 1),
        "latency_s": {
            "p50": round(statistics.median(latencies), 3),
            "p99": round(latencies[int(len(latencies) * 0.99) - 1], 3),
            "max": round(latencies[-1], 3),
        },
        "answers_past_deadline": phase.late,
    }


async def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="tidings-overload-") as directory:
        workdir = Path(directory)
        with fresh_database(args.database, workdir) as database_url:
            in_thread(upgrade_database, database_url)
            seeded = await seed_workspace(database_url)
            with live_server(database_url, workdir) as server:
                reports = []
                for name, connections, polite in (
                    ("polite", args.polite, True),
                    ("resend-at-once", args.connections, False),
                ):
                    phase = Phase(name, connections, args.duration)
                    await _run_phase(
                        phase,
                        server.base_url,
                        seeded.publishable_key,
                        seeded.announcement_id,
                        args.batch,
                        polite,
                    )
                    reports.append(await _report(phase, database_url))
                    print(json.dumps(reports[-1]), flush=True)
    polite_rate, rude_rate = (r["goodput_events_per_s"] for r in reports)
    ratio = rude_rate / polite_rate if polite_rate else 0.0
    print(
        f"goodput: polite {polite_rate}/s, resend-at-once {rude_rate}/s "
        f"({ratio:.0%} of polite; target >= 75%)"
    )
    broken = any(r["lost_events"] or r["written_after_503"] for r in reports)
    return 1 if broken or ratio < 0.75 else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--connections", type=int, default=800, help="resend-at-once clients")
    parser.add_argument("--polite", type=int, default=16, help="clients that back off")
    parser.add_argument("--batch", type=int, default=20, help="events per request")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    arguments = parser.parse_args()
    arguments.duration = min(arguments.duration, 120.0)
    sys.exit(asyncio.run(main(arguments)))
