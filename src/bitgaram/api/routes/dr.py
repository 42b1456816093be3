"""Demand-response events and their customer-baseline-load (CBL) performance.

- ``/api/v1/park/dr/events`` and ``/api/v1/park/dr/events/{event_id}/cbl``: every tenant and
  the park (park-wide callers only);
- ``/api/v1/tenants/{tenant_id}/dr/events`` and ``.../{event_id}/cbl``: one visible tenant's
  own rows (no park row, no other tenant).

The events are those the device service's VEN received (``bitgaram devices run`` keeps them
in the store); the figures come from :func:`bitgaram.verify.dr.event_report`, the same
function as ``bitgaram devices cbl``. Like every site-scoped route, ``?site_id=`` picks the
site.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Query, Response

from bitgaram.api.deps import LatestDep, PageDep, ScopeDep, StoreDep
from bitgaram.api.errors import NotFoundError
from bitgaram.api.schemas.common import Paged, paginate
from bitgaram.api.schemas.dr import CblUnavailablePublic, DrCblPublic, DrEventPublic, cbl_row
from bitgaram.api.scope import TenantScope
from bitgaram.api.series import ViewCache, cached_json
from bitgaram.store.base import Store
from bitgaram.verify.dr import DEFAULT_METHODS, event_report, find_event, parse_method

router = APIRouter(tags=["dr"])

MethodsQuery = Annotated[
    list[str],
    Query(
        alias="method",
        description="mid (KPX Mid(6/10)), max (KPX Max(4/5)) or high:X/Y; repeatable.",
        max_length=8,
    ),
]
ExcludeQuery = Annotated[
    list[date], Query(alias="exclude", description="Days left out of the baselines; repeatable.")
]


def _events(scope: TenantScope, store: Store) -> list[DrEventPublic]:
    return [DrEventPublic.of(e) for e in store.read_dr_events(scope.site.site.id)]


def _cbl(
    scope: TenantScope,
    store: Store,
    event_id: str,
    methods: list[str],
    exclude: list[date],
    tenant_id: str | None,
) -> DrCblPublic:
    site = scope.site
    event = find_event(store, site.site.id, event_id)
    if event is None:
        raise NotFoundError(f"no DR event {event_id!r}")
    rep = event_report(
        store,
        site,
        pd.Timestamp(event.start_at),
        pd.Timestamp(event.end_at),
        [parse_method(m) for m in dict.fromkeys(methods)],
        set(exclude),
        tenant_ids=None if tenant_id is None else [tenant_id],
    )
    names = {t.id: t.name for t in site.tenants}
    rows = []
    for _, r in rep.rows.iterrows():
        member = str(r["member"])
        if tenant_id is None and member == "park":
            rows.append(cbl_row(None, site.site.name, r))
        elif member in names and (tenant_id is None or member == tenant_id):
            rows.append(cbl_row(member, names[member], r))
    return DrCblPublic(
        site_id=site.site.id,
        event=DrEventPublic.of(event),
        rows=rows,
        unavailable=[CblUnavailablePublic(method=m, reason=w) for m, w in rep.unavailable.items()],
    )


@router.get("/park/dr/events")
def park_dr_events(scope: ScopeDep, store: StoreDep, page: PageDep) -> Paged[DrEventPublic]:
    """The site's DR events, newest start first."""
    scope.require_park()
    return paginate(_events(scope, store), page)


def _cached_cbl(
    scope: TenantScope,
    store: Store,
    views: ViewCache,
    event_id: str,
    methods: list[str],
    exclude: list[date],
    tenant_id: str | None,
) -> Response:
    # called after the scope check; the key names everything the body depends on
    key = ("dr-cbl", tenant_id, event_id, tuple(dict.fromkeys(methods)), tuple(sorted(exclude)))
    return cached_json(
        views, key, lambda: _cbl(scope, store, event_id, methods, exclude, tenant_id)
    )


@router.get("/park/dr/events/{event_id}/cbl", response_model=DrCblPublic)
def park_dr_cbl(
    event_id: str,
    scope: ScopeDep,
    store: StoreDep,
    views: LatestDep,
    method: MethodsQuery = list(DEFAULT_METHODS),  # noqa: B006 (FastAPI copies defaults)
    exclude: ExcludeQuery = [],  # noqa: B006
) -> Response:
    """An event's CBL, metered energy and reduction per tenant and for the park.

    Computed once per event, methods and excluded days while the data stays the same (the
    API's view cache): a park of 1,000 tenants takes seconds (BENCHMARKS.md).
    """
    scope.require_park()
    return _cached_cbl(scope, store, views, event_id, method, exclude, None)


@router.get("/tenants/{tenant_id}/dr/events")
def tenant_dr_events(
    tenant_id: str, scope: ScopeDep, store: StoreDep, page: PageDep
) -> Paged[DrEventPublic]:
    """The site's DR events (park-wide signals), for a visible tenant."""
    scope.tenant(tenant_id)
    return paginate(_events(scope, store), page)


@router.get("/tenants/{tenant_id}/dr/events/{event_id}/cbl", response_model=DrCblPublic)
def tenant_dr_cbl(
    tenant_id: str,
    event_id: str,
    scope: ScopeDep,
    store: StoreDep,
    views: LatestDep,
    method: MethodsQuery = list(DEFAULT_METHODS),  # noqa: B006
    exclude: ExcludeQuery = [],  # noqa: B006
) -> Response:
    """An event's CBL, metered energy and reduction of one tenant (its own rows only)."""
    scope.tenant(tenant_id)
    return _cached_cbl(scope, store, views, event_id, method, exclude, tenant_id)
