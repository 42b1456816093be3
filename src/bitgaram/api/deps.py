"""Typed dependency aliases shared by every route.

Every site-scoped route takes the optional query parameter ``site_id``
through :data:`ScopeDep` (:func:`tenant_scope`): the site named, else the only
one the caller sees, else 400 naming the ids to choose from. Routes never
pick a site themselves.

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
from bitgaram.api.errors import NotAuthenticatedError, NotFoundError, PermissionDeniedError
from bitgaram.api.ratelimit import FailureLimiter, authenticate_limited, client_key
from bitgaram.api.scope import TenantScope
from bitgaram.api.series import ViewCache
from bitgaram.errors import StoreError
from bitgaram.site import Site, SiteChoiceError, choose_site_id
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


SettingsDep = Annotated[Settings, Depends(get_settings)]
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


def _app_views(request: Request) -> ViewCache:
    """The app-wide cache (stored site ids and site documents)."""
    views: ViewCache = request.app.state.latest
    return views


def served_site_ids(store: Store, settings: Settings, views: ViewCache) -> list[str]:
    """Ids of the sites the app serves: ``settings.site_id`` if set, else every stored site."""
    if settings.site_id is not None:
        return [settings.site_id]
    return views.get_or_compute(("site_ids",), store.list_sites, True)


def visible_site_ids(principal: Principal, served: list[str]) -> list[str]:
    """The served sites a caller may see: its own site when bound to one, else all served.

    Raises
    ------
    PermissionDeniedError
        For a tenant-limited caller bound to no site while several are served:
        tenant ids repeat across sites, so such a token could read another
        site's tenant of the same name.
    """
    if principal.site_id is not None:
        return [principal.site_id] if principal.site_id in served else []
    if principal.tenant_id is not None and len(served) > 1:
        raise PermissionDeniedError(
            f"user {principal.user!r} is limited to tenant {principal.tenant_id!r} but bound to "
            "no site while this store holds several; re-create it with `bitgaram users add "
            "--site ID`"
        )
    return served


def _site(store: Store, views: ViewCache, site_id: str) -> Site | None:
    """A site from the cache only (None when it must be loaded)."""
    site = views.peek(("site", site_id))
    return site if isinstance(site, Site) else None


def _load_site(store: Store, views: ViewCache, site_id: str) -> Site:
    return views.get_or_compute(("site", site_id), lambda: store.load_site(site_id), True)


async def scope_for_site(
    request: Request, principal: Principal, site_id: str | None, *, how: str
) -> TenantScope:
    """The caller's :class:`TenantScope` over one site, chosen by the shared rule.

    ``site_id`` names the site (else the only visible one); a site the caller
    may not see answers 404 like a missing one. Sites are reused until the
    next write through the app's store (or ``view_cache_seconds`` for stores
    without a write counter); a reused site is answered on the event loop.

    Raises
    ------
    NotFoundError
        If the named site is not stored or not visible to the caller.
    bitgaram.site.SiteChoiceError
        If none was named and the caller sees several (400, lists the ids).
    """
    store: Store = request.app.state.store
    settings: Settings = request.app.state.settings
    views = _app_views(request)
    cached = views.peek(("site_ids",)) if settings.site_id is None else [settings.site_id]
    if isinstance(cached, list):
        served: list[str] = cached
    else:
        served = await run_in_threadpool(served_site_ids, store, settings, views)
    visible = visible_site_ids(principal, served)
    try:
        chosen = choose_site_id(visible, site_id, how=how, where="this API")
    except SiteChoiceError as exc:
        if exc.unknown is not None:
            raise NotFoundError(f"no site {exc.unknown!r}") from exc
        raise
    except StoreError as exc:
        raise NotFoundError("no site stored yet") from exc
    site = _site(store, views, chosen)
    if site is None:
        site = await run_in_threadpool(_load_site, store, views, chosen)
    return TenantScope(principal, site)


async def tenant_scope(
    request: Request,
    principal: PrincipalDep,
    site_id: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Site to read (default: the only site the caller sees; "
            "`GET /api/v1/sites` lists them).",
        ),
    ] = None,
) -> TenantScope:
    """The caller's :class:`TenantScope` over the site named by ``?site_id=``.

    The one place that picks the site of a request (see :func:`scope_for_site`).
    """
    return await scope_for_site(request, principal, site_id, how="?site_id=")


ScopeDep = Annotated[TenantScope, Depends(tenant_scope)]


async def get_latest(request: Request, scope: ScopeDep) -> ViewCache:
    """The memory of computed views and of where each meter set's data ends, per site.

    One cache per site, so a view keyed by a tenant id is never shared with a
    tenant of the same id on another site.
    """
    caches: dict[str, ViewCache] = request.app.state.site_views
    site_id = scope.site.site.id
    views = caches.get(site_id)
    if views is None:
        base = _app_views(request)
        views = caches.setdefault(
            site_id, ViewCache(seconds=base.seconds, version=base.version_function)
        )
    return views


LatestDep = Annotated[ViewCache, Depends(get_latest)]


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
