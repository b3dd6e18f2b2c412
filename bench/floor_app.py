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
"""

import argparse
import logging
import os
import sys
from pathlib import Path

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DATA_ENV = "TIDINGS_BENCH_FLOOR_DATA"


def create_app() -> Starlette:
    data = Path(os.environ[DATA_ENV])
    body = (data / "feed_body.json").read_bytes()
    meta = orjson.loads((data / "feed_meta.json").read_bytes())
    headers: dict[str, str] = meta["headers"]
    media_type: str = meta["content_type"]
    known_etags = frozenset(meta["etags"])

    async def feed(request: Request) -> Response:
        if_none_match = request.headers.get("if-none-match")
        if if_none_match is not None and if_none_match in known_etags:
            return Response(status_code=304, headers={**headers, "etag": if_none_match})
        return Response(body, media_type=media_type, headers=headers)

    return Starlette(routes=[Route("/v1/widget/announcements", feed)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--data", required=True, help="Directory with the captured response.")
    args = parser.parse_args()
    os.environ[DATA_ENV] = str(Path(args.data).resolve())
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
