"""``/api/v1/tenants/{tenant_id}/accounts`` and ``/api/v1/park/accounts``: energy accounts.

Parse, call :func:`bitgaram.account.energy.energy_account`, format: every figure
is the domain core's (``docs/accounts.md``).
"""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Query

from bitgaram.account.energy import energy_account, is_flow_meter, local_bound
from bitgaram.api.deps import LatestDep, ScopeDep, StoreDep
from bitgaram.api.period import MAX_PERIOD_DAYS
from bitgaram.api.schemas.accounts import EnergyAccountPublic
from bitgaram.api.scope import TenantScope
from bitgaram.api.series import ViewCache
from bitgaram.errors import DataError
from bitgaram.site.model import Meter
from bitgaram.store.base import Store

router = APIRouter(tags=["accounts"])

StartQuery = Annotated[
    str | None,
    Query(
        description="First instant, ISO date or time; without an offset it is the site's local "
        "time (default: the start of the local month of the newest data)."
    ),
]
EndQuery = Annotated[
    str | None,
    Query(description="End, exclusive; local time without an offset (default: newest data)."),
]


def account_period(
    scope: TenantScope,
    store: Store,
    latest: ViewCache,
    meters: list[Meter],
    start: str | None,
    end: str | None,
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The ``[start, end)`` asked for, as UTC; defaults from the newest data of ``meters``."""
    tz = scope.site.site.timezone
    e = local_bound(end, tz) if end is not None else None
    s = local_bound(start, tz) if start is not None else None
    if e is None:
        e = latest.get(store, meters) if s is None or meters else s + pd.Timedelta(days=31)
    if s is None:
        local = e.tz_convert(tz) - pd.Timedelta(microseconds=1)
        s = local_bound(pd.Timestamp(year=local.year, month=local.month, day=1), tz)
    if s >= e:
        raise DataError(f"start {s.isoformat()} must be before end {e.isoformat()}")
    if e - s > pd.Timedelta(days=MAX_PERIOD_DAYS):
        raise DataError(f"period longer than {MAX_PERIOD_DAYS} days: ask for less")
    return s, e


@router.get("/tenants/{tenant_id}/accounts")
def tenant_account(
    tenant_id: str,
    scope: ScopeDep,
    store: StoreDep,
    latest: LatestDep,
    start: StartQuery = None,
    end: EndQuery = None,
) -> EnergyAccountPublic:
    """The tenant's energy account: consumption, generation, grid, demand, bill, carbon, RE."""
    scope.tenant(tenant_id)
    meters = [m for m in scope.meters() if m.tenant == tenant_id and is_flow_meter(m)]
    s, e = account_period(scope, store, latest, meters, start, end)
    return EnergyAccountPublic.of(energy_account(store, scope.site, s, e, tenant_id))


@router.get("/park/accounts")
def park_account(
    scope: ScopeDep,
    store: StoreDep,
    latest: LatestDep,
    start: StartQuery = None,
    end: EndQuery = None,
) -> EnergyAccountPublic:
    """The park's energy account (one grid connection; operator and park-wide viewers only)."""
    scope.require_park()
    meters = [m for m in scope.site.meters if is_flow_meter(m)]
    s, e = account_period(scope, store, latest, meters, start, end)
    return EnergyAccountPublic.of(energy_account(store, scope.site, s, e, None))
