"""``/api/v1/tenants/{tenant_id}/re100``: renewable share against the tenant's RE100 target."""

from __future__ import annotations

import math

import pandas as pd
from fastapi import APIRouter

from bitgaram.account.energy import energy_account, is_flow_meter, local_bound
from bitgaram.account.re100 import COMPANY_TARGET, Target, progress
from bitgaram.api.deps import LatestDep, ScopeDep, StoreDep
from bitgaram.api.errors import InsufficientDataError
from bitgaram.api.schemas.bills import Re100Public

router = APIRouter(prefix="/tenants", tags=["re100"])


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


@router.get("/{tenant_id}/re100")
def tenant_re100(
    tenant_id: str, scope: ScopeDep, store: StoreDep, latest: LatestDep
) -> Re100Public:
    """Year-to-date renewable share and the pace needed to reach the tenant's RE100 target.

    The RE share and CFE of the tenant's energy account for the local year to
    date (``docs/accounts.md``): self-consumed on-site generation over
    consumption (certificates and PPAs are not in the store). The target is the
    tenant's ``re100_target_year`` or, without one, the regional plan's.
    """
    tenant = scope.tenant(tenant_id)
    target = (
        Target(f"{tenant.name} RE100", tenant.re100_target_year)
        if tenant.re100_target_year is not None
        else COMPANY_TARGET
    )
    meters = [m for m in scope.meters() if m.tenant == tenant_id and is_flow_meter(m)]
    if not meters:
        raise InsufficientDataError(f"tenant {tenant_id!r} has no consumption this year")
    end = latest.get(store, meters)
    tz = scope.site.site.timezone
    local_end = (end - pd.Timedelta(microseconds=1)).tz_convert(tz)
    start = local_bound(pd.Timestamp(year=local_end.year, month=1, day=1), tz)
    acc = energy_account(store, scope.site, start, end, tenant_id)
    if acc.consumption_total_kwh <= 0:
        raise InsufficientDataError(f"tenant {tenant_id!r} has no consumption this year")
    result = progress(target, local_end.year, acc.consumption_total_kwh, acc.renewable_kwh)
    return Re100Public(
        tenant_id=tenant.id,
        target_name=target.name,
        target_year=target.year,
        target_share=target.share,
        year=result.year,
        start=acc.start.to_pydatetime(),
        end=acc.end.to_pydatetime(),
        consumption_kwh=result.consumption_kwh,
        renewable_kwh=result.renewable_kwh,
        re_share=_finite(acc.re_share),
        cfe_score=_finite(acc.cfe_share),
        gap_kwh=result.gap_kwh,
        years_left=result.years_left,
        required_pp_per_year=_finite(result.required_pp_per_year),
        k_re100_eligible=result.k_re100_eligible,
        met=result.met,
    )
