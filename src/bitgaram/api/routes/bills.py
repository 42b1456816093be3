"""``/api/v1/tenants/{tenant_id}/bills``: monthly electricity bills of a tenant's grid import."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Query

from bitgaram.account.energy import energy_account, is_flow_meter, local_bound
from bitgaram.api.deps import LatestDep, PageDep, ScopeDep, StoreDep
from bitgaram.api.errors import InsufficientDataError
from bitgaram.api.schemas.bills import BillPublic
from bitgaram.api.schemas.common import Paged, paginate
from bitgaram.errors import ConfigError

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

    The bills of the tenant's energy account (``docs/accounts.md``): its grid
    import per interval [kWh], on its own tariff, else the site's (without the
    site's contract power), else the site's price series. Months before the
    period are not read, so the demand ratchet sees only the months shown.
    """
    scope.tenant(tenant_id)
    meters = [m for m in scope.meters() if m.tenant == tenant_id and is_flow_meter(m)]
    if not meters:
        raise InsufficientDataError(f"tenant {tenant_id!r} has no energy meter to bill")
    tz = scope.site.site.timezone
    end = latest.get(store, meters)
    back = end.tz_convert(tz) - pd.DateOffset(months=months)
    start = local_bound(pd.Timestamp(year=back.year, month=back.month, day=1), tz)
    acc = energy_account(store, scope.site, start, end, tenant_id)
    if acc.tariff is None and acc.intervals_with_data:
        raise ConfigError(
            f"no tariff for tenant {tenant_id!r} or its site: add one to the site file"
        )
    if not acc.bills:
        raise InsufficientDataError("no readings in this period")
    return paginate([BillPublic.of(b) for b in acc.bills], page)
