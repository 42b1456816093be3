"""The application factory: :func:`create_app` builds one FastAPI app from settings and a store."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI

from bitgaram import __version__
from bitgaram.api.auth import Principal, TokenStore, connect_tokens
from bitgaram.api.core.config import Settings
from bitgaram.api.errors import install_error_handlers
from bitgaram.api.hardening import HardeningMiddleware
from bitgaram.api.ingest import guard_readings_push
from bitgaram.api.ratelimit import FailureLimiter, authenticate_limited
from bitgaram.api.routes import (
    accounts,
    alerts,
    assets,
    auth,
    bills,
    dr,
    health,
    meters,
    park,
    re100,
    sites,
    tenants,
)
from bitgaram.api.schemas.common import ERROR_RESPONSES, PUSH_RESPONSES
from bitgaram.api.series import ViewCache, data_version
from bitgaram.errors import BitgaramError
from bitgaram.store.base import Store
from bitgaram.web.pages import install_web

API_PREFIX = "/api/v1"

_DESCRIPTION = """\
bitgaram: the energy platform of an industrial park.

Authenticate with `Authorization: Bearer bg_<id>_<secret>` (an API token) or
the browser session cookie set by `POST /api/v1/auth/login`. Operators see
every tenant; tenant managers and tenant viewers only their own tenant
(anything else answers 404). Errors are JSON: `{"error": kind, "message": text}`.
Every list is paginated with `limit` (at most 10000) and `offset`.

The API serves every site of the store. `GET /api/v1/sites` lists the sites the
caller sees; every other site-scoped route takes `?site_id=` (default: the only
site the caller sees; with several and none named it answers 400
`{"error": "site_required", ...}` naming the ids). A user bound to one site
reads that site only; another site's id answers 404.
"""


def token_store_for(store: Store, settings: Settings) -> TokenStore:
    """A migrated :class:`TokenStore` in the same database as ``store``.

    See :func:`bitgaram.api.auth.connect_tokens` for how the database is reached.
    """
    tokens = connect_tokens(store.url, cache_seconds=settings.auth_cache_seconds)
    tokens.migrate()
    return tokens


def _collector_router() -> APIRouter | None:
    """The live collector's ``POST /api/v1/readings`` router, when that capability is installed."""
    try:
        module = importlib.import_module("bitgaram.collect.http")
    except ImportError:
        return None
    factory: Any = getattr(module, "readings_router", None)
    return factory() if callable(factory) else None


def _lifespan(settings: Settings, store: Store) -> Any:
    """Start the collector's batch writer (for ``POST /api/v1/readings``) with the app."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            from bitgaram.collect.writer import BatchWriter
        except ImportError:
            yield
            return
        try:
            ids = [settings.site_id] if settings.site_id else store.list_sites()
            sites = [store.load_site(sid) for sid in ids]
        except BitgaramError:
            sites = []
        if not sites:
            yield  # no site stored yet: pushes answer 503 until the app restarts
            return
        from bitgaram.collect.validate import rules_from_settings

        # One writer per served site: readings are validated against their own site.
        rules = rules_from_settings(settings)
        writers = {site.site.id: BatchWriter(store, site, rules=rules) for site in sites}
        tasks = [asyncio.create_task(w.run()) for w in writers.values()]
        app.state.collect_writers = writers
        if len(writers) == 1:
            app.state.collect_writer = next(iter(writers.values()))
        try:
            yield
        finally:
            for writer in writers.values():
                await writer.close()
            await asyncio.gather(*tasks)

    return lifespan


def create_app(settings: Settings, store: Store, tokens: TokenStore | None = None) -> FastAPI:
    """Build the API and dashboard application.

    Parameters
    ----------
    settings : Settings
        API settings (see :meth:`Settings.from_env`).
    store : Store
        The store to serve; it must already be migrated.
    tokens : TokenStore, optional
        Users and tokens (default: tables on the store's connection).

    Returns
    -------
    fastapi.FastAPI
        The application; OpenAPI docs at ``/docs``, dashboard at ``/dashboard``.
    """
    app = FastAPI(
        title="bitgaram",
        version=__version__,
        description=_DESCRIPTION,
        docs_url=None,  # /docs and /redoc: offline pages of bitgaram.web.pages
        openapi_url="/openapi.json",
        redoc_url=None,
        lifespan=_lifespan(settings, store),
    )
    app.state.settings = settings
    app.state.store = store
    app.state.tokens = tokens if tokens is not None else token_store_for(store, settings)
    app.state.latest = ViewCache(seconds=settings.view_cache_seconds, version=data_version(store))
    app.state.site_views = {}  # site id -> ViewCache (see bitgaram.api.deps.get_latest)
    app.state.login_limiter = FailureLimiter(
        settings.login_max_failures, settings.login_window_seconds
    )
    install_error_handlers(app)

    def check_token(token: str, address: str) -> Principal:
        # Read at call time: tests swap the limiter after the app is built.
        return authenticate_limited(app.state.login_limiter, app.state.tokens, token, address)

    app.state.check_token = check_token  # the dashboard pages' cookie check

    api = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)
    api.include_router(health.router)
    api.include_router(auth.router)
    api.include_router(sites.router)
    api.include_router(tenants.router)
    api.include_router(meters.router)
    api.include_router(park.router)
    api.include_router(bills.router)
    api.include_router(re100.router)
    api.include_router(accounts.router)
    api.include_router(alerts.router)
    api.include_router(assets.router)
    api.include_router(dr.router)
    app.include_router(api)
    collector = _collector_router()
    if collector is not None:  # its paths already start with /api/v1
        app.include_router(
            collector,
            dependencies=[Depends(guard_readings_push)],
            responses={**ERROR_RESPONSES, **PUSH_RESPONSES},
        )
    install_web(app)
    app.add_middleware(HardeningMiddleware)
    return app
