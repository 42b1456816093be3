"""Typed dependency aliases shared by every route.

``SettingsDep``, ``StoreDep``, ``TokensDep``, ``PrincipalDep``, ``ScopeDep``
and ``PageDep`` are :data:`typing.Annotated` aliases, so a route declares what
it needs in its signature and tests swap the objects behind them through
:func:`bitgaram.api.create_app`'s arguments, never by patching globals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bitgaram.api.auth import Principal, TokenStore
from bitgaram.api.core.config import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Settings
from bitgaram.api.errors import NotAuthenticatedError
from bitgaram.api.ratelimit import FailureLimiter, authenticate_limited, client_key
from bitgaram.api.scope import TenantScope
from bitgaram.api.series import ViewCache
from bitgaram.site import Site
from bitgaram.store.base import Store

_bearer = HTTPBearer(auto_error=False, description="An API token: `bg_<id>_<secret>`.")


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


async def get_store(request: Request) -> Store:
    """The app's store."""
    store: Store = request.app.state.store
    return store


async def get_tokens(request: Request) -> TokenStore:
    """The app's token store."""
    tokens: TokenStore = request.app.state.tokens
    return tokens


async def get_latest(request: Request) -> ViewCache:
    """The app's memory of where each meter set's data ends."""
    latest: ViewCache = request.app.state.latest
    return latest


SettingsDep = Annotated[Settings, Depends(get_settings)]
LatestDep = Annotated[ViewCache, Depends(get_latest)]
StoreDep = Annotated[Store, Depends(get_store)]
TokensDep = Annotated[TokenStore, Depends(get_tokens)]


async def current_principal(
    request: Request,
    settings: SettingsDep,
    tokens: TokensDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from ``Authorization: Bearer`` or the browser's session cookie."""
    token = credentials.credentials if credentials is not None else None
    if token is None:
        token = request.cookies.get(settings.session_cookie)
    if not token:
        raise NotAuthenticatedError(
            "authentication required: send 'Authorization: Bearer <token>' or log in"
        )
    known = tokens.cached(token)
    if known is not None:  # no database, no hash: answered on the event loop
        return known
    limiter: FailureLimiter = request.app.state.login_limiter
    return await run_in_threadpool(
        authenticate_limited, limiter, tokens, token, client_key(request)
    )


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def tenant_scope(
    principal: PrincipalDep, store: StoreDep, settings: SettingsDep, views: LatestDep
) -> TenantScope:
    """The caller's :class:`TenantScope` over the served site.

    The site is reused until the next write through the app's store (or, for
    stores without a write counter, for ``view_cache_seconds``); a reused site
    is answered on the event loop, a load runs in a worker thread.
    """
    key = ("site", settings.site_id)
    site = views.peek(key)
    if isinstance(site, Site):
        return TenantScope(principal, site)

    def load() -> Site:
        return views.get_or_compute(key, lambda: store.load_site(settings.site_id), True)

    return TenantScope(principal, await run_in_threadpool(load))


ScopeDep = Annotated[TenantScope, Depends(tenant_scope)]


@dataclass(frozen=True)
class Page:
    """Which slice of a list to return."""

    limit: int
    offset: int


async def pagination(
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="Rows per page (at most 10000).")
    ] = DEFAULT_PAGE_SIZE,
    offset: Annotated[int, Query(ge=0, le=10**9, description="Rows to skip.")] = 0,
) -> Page:
    """Limit/offset pagination with a maximum page size."""
    return Page(limit, offset)


PageDep = Annotated[Page, Depends(pagination)]
