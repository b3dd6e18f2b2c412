"""The public changelog's cost next to the widget feed's, on one `tidings serve`.

    .venv/bin/python bench/changelog.py [--duration 10] [--connections 1,16] [--database URL]

Seeds a workspace with 30 public announcements (markdown bodies, images, calls to action,
a German translation each) on a fresh SQLite file (or the database given), starts
`tidings serve` with the rate limits off, and measures with wrk, for each connection count:
the changelog page (200, and 304 with its ETag), a permalink, the Atom feed, and the
widget feed of an anonymous visitor (200, and 304) for comparison. Prints requests per
second and latency percentiles per scenario; the issue asks that the page answer at least
as fast as the widget feed. Nothing here is a pass/fail check: run it on a quiet machine.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
from load import ensure_wrk, run_wrk
from procs import Processes, wait_ready
from run import RATE_LIMIT_OFF_THE_CHARTS, RATE_LIMIT_SETTINGS, USER_AGENT, free_port

ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"
ANNOUNCEMENTS = 30
LANGUAGE = "en-US,en;q=0.9"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--connections", default="1,16", help="comma-separated counts")
    parser.add_argument("--database", help="TIDINGS_DATABASE_URL (default: a new SQLite file)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args()


def seed(base_url: str) -> tuple[str, str]:
    """A workspace full of public announcements: its slug and publishable key."""
    with httpx.Client(base_url=base_url, timeout=30) as api:
        created = api.post(
            "/v1/workspaces",
            json={"name": "Bench"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ).json()
        auth = {"Authorization": f"Bearer {created['secret_key']}"}
        api.patch(
            "/v1/workspace",
            json={"changelog_accent": "#0b5fff", "changelog_product_url": "https://x.test/"},
            headers=auth,
        ).raise_for_status()
        for number in range(ANNOUNCEMENTS):
            body = {
                "title": f"Update number {number}",
                "body": f"What changed in **update {number}**:\n\n- faster\n"
                f"- [docs](https://x.test/{number})",
                "category": ("new", "improvement", "fix")[number % 3],
                "image_url": f"https://x.test/{number}.png",
                "cta": {"label": "Try it", "url": "https://x.test/try"},
                "translations": {"de": {"title": f"Neuigkeit {number}", "body": "Schneller."}},
                "status": "published",
                "public": True,
            }
            api.post("/v1/announcements", json=body, headers=auth).raise_for_status()
        return str(created["slug"]), str(created["publishable_key"])


def etag_of(base_url: str, path: str, headers: dict[str, str]) -> str:
    response = httpx.get(base_url + path, headers=headers, timeout=10)
    response.raise_for_status()
    return response.headers["etag"]


def warm_up(base_url: str, paths: list[str], headers: dict[str, str]) -> None:
    """Every path asked a few hundred times before anything is measured: the first
    scenario otherwise ran while the server was still settling after the seeding (it
    measured at half the rate of the same scenario later)."""
    with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
        for path in paths:
            for _ in range(300):
                client.get(path).raise_for_status()
    time.sleep(2)


def main() -> int:
    args = parse_args()
    connections = [int(part) for part in args.connections.split(",")]
    ensure_wrk(print)
    procs = Processes()
    workdir = Path(tempfile.mkdtemp(prefix="tidings-changelog-bench-"))
    database = args.database or f"sqlite+aiosqlite:///{workdir / 'tidings.db'}"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "TIDINGS_DATABASE_URL": database,
        "TIDINGS_ADMIN_TOKEN": ADMIN_TOKEN,
        "TIDINGS_LOG_LEVEL": "WARNING",
        **{name: RATE_LIMIT_OFF_THE_CHARTS for name in RATE_LIMIT_SETTINGS},
    }
    tidings = str(Path(sys.executable).with_name("tidings"))
    try:
        server = procs.start(
            "tidings",
            [tidings, "serve", "--port", str(port)],
            env=env,
            cwd=workdir,
            log=workdir / "server.log",
        )
        wait_ready(server, f"{base_url}/healthz")
        slug, key = seed(base_url)
        page = f"/changelog/{slug}"
        feed = f"/v1/widget/announcements?key={key}&anonymous_id=bench-visitor"
        agent = {"User-Agent": USER_AGENT, "Accept-Language": LANGUAGE}
        scenarios = [
            ("changelog page", page, "-"),
            ("changelog page 304", page, etag_of(base_url, page, agent)),
            ("permalink", f"{page}/update-number-7", "-"),
            ("feed.atom", f"{page}/feed.atom", "-"),
            ("widget feed", feed, "-"),
            ("widget feed 304", feed, etag_of(base_url, feed, agent)),
        ]
        warm_up(base_url, [path for _, path, _ in scenarios], agent)
        rows = []
        for count in connections:
            for label, path, etag in scenarios:
                time.sleep(0.5)
                run = run_wrk(
                    procs,
                    workdir,
                    label=label,
                    target="tidings",
                    url=base_url,
                    script="changelog.lua",
                    args=[path, etag, LANGUAGE, USER_AGENT],
                    connections=count,
                    threads=min(count, 2),
                    duration_s=args.duration,
                    pin_core=None,
                )
                statuses = ", ".join(f"{k}: {v}" for k, v in sorted(run.statuses.items()))
                rows.append(
                    f"{label:<20} {count:>4} {run.rps:>10.0f} {run.latency_ms['p50']:>8.2f}"
                    f" {run.latency_ms['p99']:>8.2f}  {statuses}"
                )
        print(f"{'scenario':<20} {'conn':>4} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}  statuses")
        print("\n".join(rows))
        return 0
    finally:
        procs.stop_all()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}")


if __name__ == "__main__":
    sys.exit(main())
