"""The ASGI application: ``create_app()`` wires settings, database, middleware and routers."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import Receive, Scope, Send

from app import __version__
from app.accounts.endpoints import router as accounts_router
from app.announcements.endpoints import audience_preview_router
from app.announcements.endpoints import router as announcements_router
from app.changelog.endpoints import CHANGELOG_HOT_ROUTES
from app.changelog.endpoints import router as changelog_router
from app.changelog.service import ChangelogRuntime
from app.config import Settings, get_settings
from app.console.endpoints import install_console
from app.db import create_engine, create_sessionmaker
from app.demo.page import router as demo_router
from app.end_users.endpoints import router as end_users_router
from app.engagement.endpoints import router as engagement_router
from app.errors import install_error_handlers
from app.kit.hot_routes import HotRoutes, document_hot_routes
from app.kit.openapi import install_problem_documentation
from app.logs import configure_logging, log_disabled_features
from app.middleware import RequestMiddleware
from app.ops.endpoints import router as ops_router
from app.ratelimit.policy import RateLimits
from app.targeting.endpoints import router as targeting_router
from app.webhooks.endpoints import router as webhooks_router
from app.webhooks.worker import DeliveryWorker
from app.widget.asset_endpoints import router as widget_asset_router
from app.widget.assets import find_widget_file, load_widget_asset
from app.widget.endpoints import router as widget_router
from app.widget.hot_path import WIDGET_HOT_ROUTES, shed_events_when_busy
from app.widget.runtime import start_runtime
from app.workspaces.endpoints import router as workspaces_router
from app.workspaces.key_cache import PublishableKeyCache


class TidingsApp(FastAPI):
    """FastAPI, with the hot routes taken before FastAPI's own layers (app/kit/hot_routes.py)."""

    hot_routes: HotRoutes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = await self.route_by_host(scope)
        if scope["type"] == "http" and self.hot_routes is not None:
            route = self.hot_routes.route_for(scope)
            if route is not None:
                scope["app"] = self
                await self.hot_routes(scope, receive, send, route)
                return
        await super().__call__(scope, receive, send)

    async def route_by_host(self, scope: Scope) -> Scope:
        """Host-name routing, before any route is matched (a route for ``/`` included): a
        workspace's own changelog host (changelog.example.com) is answered with its
        changelog at ``/`` (app/changelog/hosts.py). Other host-based rules go here too."""
        changelog: ChangelogRuntime | None = getattr(self.state, "changelog", None)
        if changelog is None:
            return scope
        return await changelog.hosts.rewrite(scope)


def request_middleware(settings: Settings, rate_limits: RateLimits) -> list[Middleware]:
    """What every request passes through (the hot routes too): see app/middleware.py."""
    return [
        Middleware(RequestMiddleware, rate_limits=rate_limits, timeout_s=settings.request_timeout_s)
    ]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    rate_limits = RateLimits(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log_disabled_features(settings.disabled_features())
        await rate_limits.start()
        engine = create_engine(settings)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.publishable_keys = PublishableKeyCache(ttl_s=settings.widget_cache_recheck_s)
        app.state.widget = start_runtime(settings, engine, app.state.sessionmaker)
        stop_shedding = shed_events_when_busy(app.state.widget)
        app.state.webhooks = DeliveryWorker(settings, app.state.sessionmaker)
        app.state.webhooks.start()
        app.state.changelog = ChangelogRuntime(
            app.state.sessionmaker, recheck_s=settings.widget_cache_recheck_s
        )
        # What start-up built (modules, routes, schemas, the ORM's registries) lives as long
        # as the process. Frozen, it is out of the garbage collector's reach: otherwise each
        # full collection under load walks all of it (pauses of 50-100 ms were measured).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            # Queued events are written before the engine goes: a 202 is never lost.
            await app.state.webhooks.stop()
            await app.state.publishable_keys.aclose()
            stop_shedding()
            await app.state.widget.stop()
            await app.state.changelog.stop()
            await engine.dispose()
            await rate_limits.stop()

    middleware = request_middleware(settings, rate_limits)
    app = TidingsApp(
        title="Tidings",
        version=__version__,
        description="Self-hosted in-app announcements: authoring, targeting, widget, engagement.",
        lifespan=lifespan,
        middleware=middleware,
        docs_url=None,  # served from local files by app/console/api_docs.py, never a CDN
        redoc_url=None,
    )
    hot_routes = (*WIDGET_HOT_ROUTES, *CHANGELOG_HOT_ROUTES)
    app.hot_routes = HotRoutes(hot_routes, middleware)
    app.state.settings = settings
    widget_file = find_widget_file(settings.widget_path)
    app.state.widget_asset = load_widget_asset(widget_file) if widget_file else None
    app.state.rate_limits = rate_limits
    install_error_handlers(app)
    document_hot_routes(app, hot_routes)  # first: their errors are documented too
    install_problem_documentation(app)
    app.include_router(changelog_router)  # the stylesheet; the pages are hot routes
    app.include_router(ops_router)
    app.include_router(workspaces_router)
    app.include_router(announcements_router)
    app.include_router(widget_router)
    app.include_router(widget_asset_router)
    app.include_router(engagement_router)
    app.include_router(end_users_router)
    app.include_router(targeting_router)
    app.include_router(audience_preview_router)
    app.include_router(demo_router)
    app.include_router(webhooks_router)
    app.include_router(accounts_router)
    install_console(app)
    return app


def create_configured_app() -> FastAPI:
    """Entry point for uvicorn workers (``--factory``): logging first, then the app."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
