"""The floor: bare Starlette answering the feed route with a captured real feed response.

It does no work beyond what any Python ASGI endpoint must do (parse the request, look at
``If-None-Match``, send bytes), so the real server's throughput divided by this one's says
how much of the budget Tidings itself spends. Served by uvicorn exactly as ``tidings serve``
serves the app (same ``uvicorn.run`` options, factory, logging at WARNING).

    python bench/floor_app.py --port 8001 --workers 1 --data DIR

``DIR`` holds what run.py captured from the real server: ``feed_body.json`` (the exact
bytes of a warm feed response) and ``feed_meta.json`` (its headers, and every ETag the
benchmark will send, so a request with a known ``If-None-Match`` gets 304 like the real
route would).

Two options for measuring what the floor leaves the application (not used by run.py;
docs/performance.md, "What the targets leave the application"): ``--bare`` answers with a
bare ASGI function instead of Starlette (uvicorn's own cost), and ``--busy-us N`` first
keeps the CPU busy for N µs in each request (what added work costs under load).
"""

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DATA_ENV = "TIDINGS_BENCH_FLOOR_DATA"
BARE_ENV = "TIDINGS_BENCH_FLOOR_BARE"
BUSY_ENV = "TIDINGS_BENCH_FLOOR_BUSY_US"


def create_app() -> Any:
    data = Path(os.environ[DATA_ENV])
    body = (data / "feed_body.json").read_bytes()
    meta = orjson.loads((data / "feed_meta.json").read_bytes())
    headers: dict[str, str] = meta["headers"]
    media_type: str = meta["content_type"]
    known_etags = frozenset(meta["etags"])
    busy_s = float(os.environ.get(BUSY_ENV, "0")) / 1e6

    def keep_busy() -> None:
        until = time.perf_counter() + busy_s
        while time.perf_counter() < until:
            pass

    if os.environ.get(BARE_ENV):
        return _bare_app(body, headers, media_type, known_etags, keep_busy if busy_s else None)

    async def feed(request: Request) -> Response:
        if busy_s:
            keep_busy()
        if_none_match = request.headers.get("if-none-match")
        if if_none_match is not None and if_none_match in known_etags:
            return Response(status_code=304, headers={**headers, "etag": if_none_match})
        return Response(body, media_type=media_type, headers=headers)

    return Starlette(routes=[Route("/v1/widget/announcements", feed)])


def _bare_app(
    body: bytes,
    headers: dict[str, str],
    media_type: str,
    known_etags: frozenset[str],
    keep_busy: Any,
) -> Any:
    """The same answers with no framework: what uvicorn alone costs."""
    common = [(name.encode(), value.encode()) for name, value in headers.items() if name != "etag"]
    full = [
        *common,
        (b"etag", headers["etag"].encode()),
        (b"content-type", media_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    known = frozenset(etag.encode() for etag in known_etags)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if keep_busy is not None:
            keep_busy()
        if_none_match = next((v for k, v in scope["headers"] if k == b"if-none-match"), None)
        if if_none_match in known:
            start = [*common, (b"etag", if_none_match)]
            await send({"type": "http.response.start", "status": 304, "headers": start})
            await send({"type": "http.response.body", "body": b""})
        else:
            await send({"type": "http.response.start", "status": 200, "headers": full})
            await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--data", required=True, help="Directory with the captured response.")
    parser.add_argument("--bare", action="store_true", help="no Starlette: a bare ASGI app")
    parser.add_argument("--busy-us", type=float, default=0, help="CPU µs spent per request")
    args = parser.parse_args()
    os.environ[DATA_ENV] = str(Path(args.data).resolve())
    os.environ[BUSY_ENV] = str(args.busy_us)
    if args.bare:
        os.environ[BARE_ENV] = "1"
    # As the app configures itself with TIDINGS_LOG_LEVEL=WARNING: nothing per request.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    uvicorn.run(
        "floor_app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=20,
        app_dir=str(Path(__file__).resolve().parent),
    )


if __name__ == "__main__":
    main()
