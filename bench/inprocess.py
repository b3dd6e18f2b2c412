"""What the feed route itself costs: the app called in-process, with no server, no network.

    .venv/bin/python bench/inprocess.py DIR [--passes 7]

``DIR`` is a temporary directory kept by ``bench/run.py --keep`` on SQLite: its seeded
``tidings.db`` and the ETags captured from it (``feed_meta.json``). The app is built as
``tidings serve`` builds it (settings from the same ``TIDINGS_*`` variables as the
benchmark's server, the same lifespan, on uvloop) and called with the requests wrk sends:
the 1 000 captured users' polls with their ETags (304), then every seventh user's feed
(200). It prints the fastest pass of each, in µs per request.

Steadier than wrk (one process, no network), so it suits A/B comparisons of the
application's own code. It is not what a request costs in the server: there the same code
costs about twice as much (docs/performance.md, "What the targets leave the
application").
"""

import argparse
import gc
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import seed
import uvloop
from run import RATE_LIMIT_OFF_THE_CHARTS, RATE_LIMIT_SETTINGS, USER_AGENT
from starlette.types import Message

Scope = dict[str, Any]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="a directory kept by bench/run.py --keep")
    parser.add_argument("--passes", type=int, default=7, help="passes over the requests")
    args = parser.parse_args()
    database = args.directory / "tidings.db"
    meta_file = args.directory / "feed_meta.json"
    if not database.exists() or not meta_file.exists():
        parser.error(f"{args.directory} has no tidings.db and feed_meta.json: use run.py --keep")
    meta = orjson.loads(meta_file.read_bytes())
    if "user_etags" not in meta:
        parser.error(f"{meta_file} has no user_etags: it comes from an older bench/run.py")
    for name in [name for name in os.environ if name.startswith("TIDINGS_")]:
        del os.environ[name]
    os.environ["TIDINGS_DATABASE_URL"] = f"sqlite+aiosqlite:///{database.resolve()}"
    os.environ["TIDINGS_LOG_LEVEL"] = "WARNING"
    os.environ.update({name: RATE_LIMIT_OFF_THE_CHARTS for name in RATE_LIMIT_SETTINGS})
    created = subprocess.run(
        [str(Path(sys.executable).with_name("tidings")), "key", "create", "--kind", "publishable"],
        capture_output=True,
        text=True,
        check=True,
    )
    key = created.stdout.split()[-1]
    polls = [_request(key, user, etag) for user, etag in meta["user_etags"]]
    feeds = [_request(key, seed.user_key(i), None) for i in range(1, seed.N_USERS + 1, 7)]
    uvloop.run(_measure(polls, feeds, args.passes))


def _request(key: str, user: str, etag: str | None) -> Scope:
    headers = [(b"host", b"127.0.0.1"), (b"user-agent", USER_AGENT.encode())]
    if etag is not None:
        headers.append((b"if-none-match", etag.encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/v1/widget/announcements",
        "raw_path": b"/v1/widget/announcements",
        "query_string": f"key={key}&user_id={user}".encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


async def _measure(polls: list[Scope], feeds: list[Scope], passes: int) -> None:
    from app.config import Settings
    from app.logs import configure_logging
    from app.main import create_app

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    statuses: dict[int, int] = {}

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    async with app.router.lifespan_context(app):
        gc.freeze()  # as tidings serve does after start-up
        for label, requests, status in (("feed 304", polls, 304), ("feed 200", feeds, 200)):
            for scope in requests[:200]:  # warm the caches
                await app(dict(scope), receive, send)
            statuses.clear()
            fastest = float("inf")
            for _ in range(passes):
                started = time.perf_counter()
                for scope in requests:
                    await app(dict(scope), receive, send)
                fastest = min(fastest, (time.perf_counter() - started) / len(requests))
            if set(statuses) != {status}:
                sys.exit(f"{label}: expected only {status}s, got {statuses}")
            print(f"{label}: {fastest * 1e6:.1f} µs per request (fastest of {passes} passes)")


if __name__ == "__main__":
    main()
