"""``/api/v1/tenants/{tenant_id}/bills``: monthly electricity bills of a tenant's grid import."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query

from bitgaram.api.deps import LatestDep, PageDep, ScopeDep, StoreDep
from bitgaram.api.errors import InsufficientDataError
from bitgaram.api.period import Period
from bitgaram.api.schemas.bills import BillPublic
from bitgaram.api.schemas.common import Paged, paginate
from bitgaram.api.series import axis, native_step, net_kw
from bitgaram.errors import ConfigError
from bitgaram.site.model import Unit
from bitgaram.tariff import compute_bills, load_tariff

router = APIRouter(prefix="/tenants", tags=["bills"])


@router.get("/{tenant_id}/bills")
def tenant_bills(
    tenant_id: str,
    scope: ScopeDep,
    store: StoreDep,
    latest: LatestDep,
    page: PageDep,
    months: Annotated[int, Query(ge=1, le=13, description="Months back from the newest data.")] = 2,
) -> Paged[BillPublic]:
    """Bills from the start of the local month ``months`` back to the newest data, oldest first.

    The tenant is billed for its grid import, ``max(load - own PV, 0)`` per
    15 minutes (or per native interval of coarser meters) [kWh], on its own
    tariff (or the site's tariff without the site's contract power). Months
    before the stored data are unknown, so the demand ratchet sees only the
    months shown.
    """
    tenant = scope.tenant(tenant_id)
    ref = tenant.tariff or scope.site.site.tariff
    if ref is None:
        raise ConfigError(
            f"no tariff for tenant {tenant_id!r} or its site: add one to the site file"
        )
    contract_kw = tenant.tariff.contract_kw if tenant.tariff is not None else None
    tariff = load_tariff(ref.name, ref.option)
    meters = [m for m in scope.meters() if m.tenant == tenant_id]
    step = native_step([m for m in meters if m.unit is Unit.KWH], "15min")
    end = latest.get(store, meters)
    back = end.tz_convert(scope.site.site.timezone) - pd.DateOffset(months=months)
    month_start = pd.Timestamp(year=back.year, month=back.month, day=1, tz=back.tz)
    period = Period(month_start.tz_convert("UTC"), end.ceil(step))
    index = axis(period, step)
    load, pv, _, _ = net_kw(store, meters, period, step, index)
    if load is None:
        raise InsufficientDataError(f"tenant {tenant_id!r} has no load meter to bill")
    imports_kw = np.clip(load - (np.nan_to_num(pv) if pv is not None else 0.0), 0.0, None)
    hours = pd.Timedelta(step).total_seconds() / 3600.0
    energy = pd.Series(imports_kw * hours, index=index).dropna()
    if energy.empty:
        raise InsufficientDataError("no readings in this period")
    bills = compute_bills(
        tariff,
        energy,
        contract_kw=contract_kw,
        meter=tenant_id,
        # hourly meters: demand is approximated from hourly energy (the tariff's is 15 min)
        allow_hourly_demand=pd.Timedelta(step) > pd.Timedelta("15min"),
    )
    return paginate([BillPublic.of(b) for b in bills], page)
