"""``/api/v1/tenants/{tenant_id}/re100``: renewable share against the tenant's RE100 target."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from fastapi import APIRouter

from bitgaram.account.re100 import COMPANY_TARGET, Target, cfe_score, progress
from bitgaram.api.deps import LatestDep, ScopeDep, StoreDep
from bitgaram.api.errors import InsufficientDataError
from bitgaram.api.period import Period
from bitgaram.api.schemas.bills import Re100Public
from bitgaram.api.series import axis, native_step, net_kw
from bitgaram.site.model import Unit

router = APIRouter(prefix="/tenants", tags=["re100"])


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


@router.get("/{tenant_id}/re100")
def tenant_re100(
    tenant_id: str, scope: ScopeDep, store: StoreDep, latest: LatestDep
) -> Re100Public:
    """Year-to-date renewable share and the pace needed to reach the tenant's RE100 target.

    Counts the tenant's own PV generation as renewable (certificates and PPAs
    are not in the store); the target is the tenant's ``re100_target_year``
    or, without one, the regional plan's company target.
    """
    tenant = scope.tenant(tenant_id)
    target = (
        Target(f"{tenant.name} RE100", tenant.re100_target_year)
        if tenant.re100_target_year is not None
        else COMPANY_TARGET
    )
    meters = [m for m in scope.meters() if m.tenant == tenant_id]
    step = native_step([m for m in meters if m.unit is Unit.KWH], "1h")
    end = latest.get(store, meters)
    tz = scope.site.site.timezone
    local_end = end.tz_convert(tz)
    year_start = pd.Timestamp(year=local_end.year, month=1, day=1, tz=tz).tz_convert("UTC")
    period = Period(year_start, end.ceil(step))
    index = axis(period, step)
    load, pv, _, _ = net_kw(store, meters, period, step, index)
    if load is None or not np.isfinite(load).any():
        raise InsufficientDataError(f"tenant {tenant_id!r} has no consumption this year")
    ok = np.isfinite(load)
    hours = pd.Timedelta(step).total_seconds() / 3600.0
    load_kwh = np.clip(load[ok], 0.0, None) * hours
    pv_kwh = (
        np.clip(np.nan_to_num(pv[ok]), 0.0, None) if pv is not None else np.zeros_like(load_kwh)
    )
    result = progress(target, local_end.year, float(load_kwh.sum()), float(pv_kwh.sum()))
    return Re100Public(
        tenant_id=tenant.id,
        target_name=target.name,
        target_year=target.year,
        target_share=target.share,
        year=result.year,
        start=period.start.to_pydatetime(),
        end=period.end.to_pydatetime(),
        consumption_kwh=result.consumption_kwh,
        renewable_kwh=result.renewable_kwh,
        re_share=_finite(result.re_share),
        cfe_score=_finite(cfe_score(load_kwh, pv_kwh)),
        gap_kwh=result.gap_kwh,
        years_left=result.years_left,
        required_pp_per_year=_finite(result.required_pp_per_year),
        k_re100_eligible=result.k_re100_eligible,
        met=result.met,
    )
