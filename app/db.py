"""Engine and session factories, and the request session (commit on success)."""

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from app.config import Settings
from app.kit.database import configure_sqlite

# A connection idle for longer may have been closed by the server, a proxy or a firewall.
PING_AFTER_IDLE_S = 10.0


def create_engine(
    settings: Settings,
    *,
    pool_size: int | None = None,
    ping_after_idle_s: float = PING_AFTER_IDLE_S,
) -> AsyncEngine:
    """The engine every session uses; with ``pool_size``, one for a single busy user (the
    event writer on PostgreSQL): that many connections, each pinged only when it has been
    idle for ``ping_after_idle_s``."""
    url = settings.database_url
    if settings.is_sqlite:
        engine = create_async_engine(
            url,
            connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000},
            hide_parameters=True,  # parameters hold key lookups and secrets: never in errors
        )
        busy_timeout_ms = settings.sqlite_busy_timeout_ms

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
            configure_sqlite(dbapi_connection, busy_timeout_ms)

        return engine

    engine = create_async_engine(
        url,
        pool_size=pool_size or settings.db_pool_size,
        max_overflow=0 if pool_size else settings.db_pool_size,
        pool_timeout=settings.db_pool_timeout_s,
        pool_pre_ping=pool_size is None,
        hide_parameters=True,
        connect_args={
            "timeout": settings.db_pool_timeout_s,
            "command_timeout": settings.db_statement_timeout_ms / 1000,
            "server_settings": {"statement_timeout": str(settings.db_statement_timeout_ms)},
        },
    )
    if pool_size is not None:
        _ping_when_idle(engine, ping_after_idle_s)
    return engine


def _ping_when_idle(engine: AsyncEngine, idle_s: float) -> None:
    """Ping a connection at checkout only if it has not been used for ``idle_s``.

    The pool's own ``pre_ping`` costs three round trips (asyncpg's ping is a transaction)
    before every checkout: a fifth of an event group's time under load. A busy writer's
    connections are never idle that long, so they go unpinged; one that broke while in use
    fails its group (503, which the widget retries) and the pool replaces every connection
    as old as it.
    """
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _note_idle(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_idle(
        dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < idle_s:
            return  # new, or in use moments ago
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError() from exc  # the pool connects afresh and retries


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: committed before the response is sent, rolled back on error."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


# scope="function": the commit runs before the response goes out, so a 2xx means committed.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
