"""Operational endpoints: liveness, readiness, Prometheus metrics."""

import asyncio
import time

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.errors import ServiceUnavailable
from app.widget.runtime import WidgetRuntime

router = APIRouter(tags=["operations"])

READINESS_TIMEOUT_S = 2.0


@router.get("/healthz", response_class=PlainTextResponse)
async def healthz() -> str:
    """Liveness: the process answers. Says nothing about the database."""
    return "ok"


@router.get(
    "/readyz",
    response_class=PlainTextResponse,
    responses={503: {"description": "The database does not answer, or refuses writes."}},
)
async def readyz(request: Request) -> str:
    """Readiness: the database answers a query within two seconds, and events can be written.

    503 while the event writer's latest writes failed (a full disk, a read-only database),
    until one succeeds; a failure older than 30 s no longer counts, so a replica taken out
    of rotation gets traffic again to show whether it recovered.
    """
    engine: AsyncEngine = request.app.state.engine
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_S):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise ServiceUnavailable(f"The database does not answer ({type(exc).__name__}).") from exc
    runtime: WidgetRuntime = request.app.state.widget
    if not runtime.ingestor.is_running:
        raise ServiceUnavailable("The event writer is not running.")
    fault = runtime.ingestor.health.fault()
    if fault is not None:
        raise ServiceUnavailable(
            f"Event writes are failing: {fault.failed_writes} failed writes in "
            f"{time.monotonic() - fault.since:.0f} s, the latest with {fault.error}."
        )
    return "ready"


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics() -> Response:
    """Prometheus metrics: request counts and latencies by route template and status."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
