"""``/api/v1/sites``: the park served by this API."""

from __future__ import annotations

from fastapi import APIRouter

from bitgaram.api.deps import PageDep, ScopeDep
from bitgaram.api.errors import NotFoundError
from bitgaram.api.schemas.common import Paged, paginate
from bitgaram.api.schemas.site import SitePublic

router = APIRouter(prefix="/sites", tags=["sites"])


def _public(scope: ScopeDep) -> SitePublic:
    return SitePublic.of(scope.site.site, len(scope.tenants()), len(scope.meters()))


@router.get("")
def list_sites(scope: ScopeDep, page: PageDep) -> Paged[SitePublic]:
    """Sites the caller may see (counts include only visible tenants and meters)."""
    return paginate([_public(scope)], page)


@router.get("/{site_id}")
def get_site(site_id: str, scope: ScopeDep) -> SitePublic:
    """One site."""
    if site_id != scope.site.site.id:
        raise NotFoundError(f"no site {site_id!r}")
    return _public(scope)
