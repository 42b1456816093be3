"""``/api/v1/alerts``: what needs attention now, within the caller's scope.

Alerts are derived from the stored data on request (no alert table):

- ``demand_over_target`` (park-wide callers): 15-minute net demand of the last
  24 h of data above the site's connection limit or contract power;
- ``data_gap``: a visible meter whose newest reading is more than two of its
  intervals older than the newest data of the park;
- ``quarantine``: recently rejected readings of visible meters, per meter and reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter
from pydantic import BaseModel

from bitgaram.api.deps import LatestDep, PageDep, ScopeDep, StoreDep
from bitgaram.api.errors import InsufficientDataError
from bitgaram.api.period import Period
from bitgaram.api.schemas.common import Paged, paginate
from bitgaram.api.series import axis, native_step, net_kw
from bitgaram.site.model import Unit

router = APIRouter(prefix="/alerts", tags=["alerts"])

#: Quarantined rows looked at (newest first).
QUARANTINE_WINDOW = 1000


class AlertPublic(BaseModel):
    """One alert."""

    kind: Literal["demand_over_target", "data_gap", "quarantine"]
    severity: Literal["warning", "critical"]
    meter_id: str | None
    ts: datetime | None
    value: float | None
    message: str


@router.get("")
def list_alerts(
    scope: ScopeDep, store: StoreDep, latest: LatestDep, page: PageDep
) -> Paged[AlertPublic]:
    """Current alerts, most severe first."""
    # Gaps are judged against the newest data of the whole park (used only as a
    # reference time, never returned), so a tenant whose only meter stopped is told.
    park_meters = [m for m in scope.site.meters if m.unit is Unit.KWH]
    alerts: list[AlertPublic] = []
    try:
        end = latest.get(store, park_meters) if park_meters else None
    except InsufficientDataError:
        end = None
    if end is not None:
        alerts += _gaps(scope, store, end)
        if scope.is_park_wide:
            alerts += _over_target(scope, store, end)
    alerts += _quarantine(scope, store)
    order = {"critical": 0, "warning": 1}
    alerts.sort(key=lambda a: order[a.severity])
    return paginate(alerts, page)


def _gaps(scope: ScopeDep, store: StoreDep, end: pd.Timestamp) -> list[AlertPublic]:
    meters = [m for m in scope.meters() if m.unit is Unit.KWH]
    recent = store.read_readings([m.id for m in meters], start=end - pd.Timedelta(days=1), end=end)
    newest = recent.groupby("meter_id")["ts"].max() if not recent.empty else pd.Series()
    out = []
    for meter in meters:
        step = pd.Timedelta(meter.resolution)
        last = newest.get(meter.id)
        if last is not None and pd.Timestamp(last) + 3 * step >= end:
            continue
        since = "more than a day" if last is None else f"since {pd.Timestamp(last).isoformat()}"
        out.append(
            AlertPublic(
                kind="data_gap",
                severity="warning",
                meter_id=meter.id,
                ts=None if last is None else pd.Timestamp(last).to_pydatetime(),
                value=None,
                message=f"meter {meter.id!r} has sent no reading {since}",
            )
        )
    return out


def _over_target(scope: ScopeDep, store: StoreDep, end: pd.Timestamp) -> list[AlertPublic]:
    info = scope.site.site
    target = info.connection_limit_kw or (info.tariff.contract_kw if info.tariff else None)
    if target is None:
        return []
    step = native_step([m for m in scope.site.meters if m.unit is Unit.KWH], "15min")
    period = Period(end.floor(step) - pd.Timedelta(days=1), end.ceil(step))
    index = axis(period, step)
    _, _, _, net = net_kw(store, scope.site.meters, period, step, index)
    if net is None:
        return []
    over = np.flatnonzero(np.nan_to_num(net, nan=-np.inf) > target)
    if over.size == 0:
        return []
    worst = int(over[np.argmax(net[over])])
    return [
        AlertPublic(
            kind="demand_over_target",
            severity="critical",
            meter_id=None,
            ts=index[worst].to_pydatetime(),
            value=float(net[worst]),
            message=(
                f"net demand above the {target:g} kW target in {over.size} intervals "
                f"of the last day; highest {net[worst]:.0f} kW"
            ),
        )
    ]


def _quarantine(scope: ScopeDep, store: StoreDep) -> list[AlertPublic]:
    rows = store.list_quarantine(limit=QUARANTINE_WINDOW)
    if rows.empty:
        return []
    visible = {m.id for m in scope.meters()}
    rows = rows[rows["meter_id"].isin(visible)]
    out = []
    for (meter_id, reason), group in rows.groupby(["meter_id", "reason"], sort=True):
        out.append(
            AlertPublic(
                kind="quarantine",
                severity="warning",
                meter_id=str(meter_id),
                ts=pd.Timestamp(group["received_at"].max()).to_pydatetime(),
                value=float(len(group)),
                message=f"{len(group)} readings of {meter_id!r} quarantined: {reason}",
            )
        )
    return out
