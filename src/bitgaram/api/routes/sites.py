"""``/api/v1/sites``: the sites served by this API that the caller may see.

A store may hold several sites; ``GET /sites`` lists those visible to the
caller (a user bound to a site sees that one only), and every site-scoped
route takes ``?site_id=`` (see :mod:`bitgaram.api.deps`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from bitgaram.api.deps import PageDep, PrincipalDep, scope_for_site, served_site_ids
from bitgaram.api.deps import visible_site_ids as _visible
from bitgaram.api.schemas.common import Paged
from bitgaram.api.schemas.site import SitePublic
from bitgaram.api.scope import TenantScope

router = APIRouter(prefix="/sites", tags=["sites"])


def _public(scope: TenantScope) -> SitePublic:
    return SitePublic.of(scope.site.site, len(scope.tenants()), len(scope.meters()))


@router.get("")
async def list_sites(request: Request, principal: PrincipalDep, page: PageDep) -> Paged[SitePublic]:
    """Sites the caller may see, by id (counts include only visible tenants and meters)."""
    app = request.app
    served = await run_in_threadpool(
        served_site_ids, app.state.store, app.state.settings, app.state.latest
    )
    visible = _visible(principal, served)
    items = [
        _public(await scope_for_site(request, principal, sid, how="?site_id="))
        for sid in visible[page.offset : page.offset + page.limit]
    ]
    return Paged[SitePublic](items=items, total=len(visible), limit=page.limit, offset=page.offset)


@router.get("/{site_id}")
async def get_site(site_id: str, request: Request, principal: PrincipalDep) -> SitePublic:
    """One site (404 if not stored or not visible to the caller)."""
    return _public(await scope_for_site(request, principal, site_id, how="?site_id="))
