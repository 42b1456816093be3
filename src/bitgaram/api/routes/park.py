"""``/api/v1/park``: park-wide views (operator and park-wide viewers only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query, Response

from bitgaram.api.deps import LatestDep, PageDep, ScopeDep, StoreDep
from bitgaram.api.period import Period, resolve_period
from bitgaram.api.schemas.common import Paged, paged_points, paginate
from bitgaram.api.schemas.park import OverviewPublic, TenantEnergyPublic
from bitgaram.api.schemas.readings import EnergyPointPublic
from bitgaram.api.series import (
    axis,
    cached_json,
    chart,
    energy_meters,
    flows_and_means,
    forecast_kw,
    last_finite,
    native_step,
    net_of_flows,
    require_data,
)
from bitgaram.site.model import MeterKind, Unit
from bitgaram.store.base import Store
from bitgaram.store.sql import SqlStore

router = APIRouter(prefix="/park", tags=["park"])


def _overview(
    scope: ScopeDep,
    store: StoreDep,
    latest: LatestDep,
    hours: Annotated[float, Query(gt=0, le=24 * 31, description="Window length [h].")] = 24,
) -> OverviewPublic:
    """Net load, PV, battery power and state of charge at 15 minutes; latest demand vs target."""
    scope.require_park()
    site = scope.site
    meters = list(site.meters)
    flow_meters = [
        m
        for m in meters
        if m.unit is Unit.KWH
        and m.kind in (MeterKind.LOAD, MeterKind.PV, MeterKind.GRID_NET, MeterKind.GRID_IMPORT)
    ]
    step = native_step(flow_meters, "15min")
    end = latest.get(store, flow_meters)
    period = Period(end.floor(step) - pd.Timedelta(hours=hours).round("s"), end.ceil(step))
    index = axis(period, step)
    soc_meters = [m for m in meters if m.kind is MeterKind.BATTERY and m.unit is Unit.PERCENT]
    flows, soc = flows_and_means(store, meters, soc_meters, period, step, index)
    load, pv, battery, net = net_of_flows(flows)
    require_data([load, pv, net])
    forecast = forecast_kw(store, energy_meters(meters, MeterKind.LOAD), period, step, index)
    latest_ts = None
    if net is not None and np.isfinite(net).any():
        latest_ts = index[np.flatnonzero(np.isfinite(net))[-1]].to_pydatetime()
    tariff = site.site.tariff
    target = site.site.connection_limit_kw or (tariff.contract_kw if tariff else None)

    tenant_rows = _tenant_rows(store, [(t.id, t.name) for t in site.tenants], period)
    return OverviewPublic(
        site_id=site.site.id,
        start=period.start.to_pydatetime(),
        end=period.end.to_pydatetime(),
        latest_ts=latest_ts,
        latest_demand_kw=last_finite(net),
        demand_target_kw=target,
        latest_soc_percent=last_finite(soc),
        chart=chart(
            index,
            [
                ("net", "kW", net),
                ("load", "kW", load),
                ("pv", "kW", pv),
                ("battery", "kW", battery),
                ("forecast", "kW", forecast),
                ("soc", "%", soc),
            ],
        ),
        tenants=tenant_rows,
    )


def _tenant_hourly(store: Store, period: Period) -> dict[str, np.ndarray]:
    """Each tenant's hourly load energy [kWh] in ``period``, oldest first."""
    kind = MeterKind.LOAD.value
    if not isinstance(store, SqlStore):
        totals = store.tenant_totals(kind, start=period.start, end=period.end, resolution="1h")
        return {
            str(tid): values.to_numpy(dtype=float)
            for tid, values in totals.groupby("tenant_id")["value"]
        }
    table = store.tenant_totals_arrow(kind, start=period.start, end=period.end, resolution="1h")
    tenants = table.column("tenant_id").to_pylist()
    values = np.asarray(table.column("value").to_numpy(zero_copy_only=False), dtype=float)
    out: dict[str, np.ndarray] = {}
    start = 0
    for i in range(1, len(tenants) + 1):  # rows are sorted by tenant
        if i == len(tenants) or tenants[i] != tenants[start]:
            out[str(tenants[start])] = values[start:i]
            start = i
    return out


@router.get("/energy", response_model=Paged[EnergyPointPublic])
def park_energy(
    scope: ScopeDep,
    store: StoreDep,
    latest: LatestDep,
    page: PageDep,
    kind: Annotated[MeterKind, Query(description="Meter kind to sum.")] = MeterKind.LOAD,
    resolution: Literal["15min", "1h", "1D"] = "1h",
    start: Annotated[datetime | None, Query(description="Default: last 7 days of data.")] = None,
    end: Annotated[datetime | None, Query(description="Exclusive end.")] = None,
) -> Response:
    """Energy of one meter kind summed over the park [kWh] and its average power [kW]."""
    scope.require_park()
    meters = energy_meters(scope.site.meters, kind)
    if not meters:
        return paged_points(pd.DatetimeIndex([], tz="UTC"), {"kwh": np.array([])}, 0, page)

    def build() -> Response:
        period = resolve_period(store, [m.id for m in meters], start, end, default_days=7)
        frame = store.park_totals(
            kind.value, start=period.start, end=period.end, resolution=resolution
        )
        hours = pd.Timedelta(resolution).total_seconds() / 3600.0
        lo, hi = page.offset, page.offset + page.limit
        ts = pd.DatetimeIndex(frame["ts"]).tz_convert("UTC")[lo:hi]
        kwh = frame["value"].to_numpy(dtype=float)[lo:hi]
        return paged_points(ts, {"kwh": kwh, "kw": kwh / hours}, len(frame), page)

    # dashboards ask for the same period again and again: reused for a few seconds (until a write)
    key = ("park_energy", scope.site.site.id, kind.value, resolution, start, end, page)
    return cached_json(latest, key, build)


@router.get("/overview", response_model=OverviewPublic)
def overview(
    scope: ScopeDep,
    store: StoreDep,
    latest: LatestDep,
    hours: Annotated[float, Query(gt=0, le=24 * 31, description="Window length [h].")] = 24,
) -> Response:
    """Net load, PV, battery power and state of charge at 15 minutes; latest demand vs target."""
    scope.require_park()
    return cached_json(
        latest,
        ("overview", scope.site.site.id, hours),
        lambda: _overview(scope, store, latest, hours),
    )


def _tenant_rows(
    store: Store, tenants: list[tuple[str, str]], period: Period
) -> list[TenantEnergyPublic]:
    """Each tenant's load energy [kWh] and hourly peak [kW] in ``period`` (one store query)."""
    by_tenant = _tenant_hourly(store, period)
    rows = []
    for tenant_id, name in tenants:
        own = by_tenant.get(tenant_id, np.array([], dtype=float))
        own = own[np.isfinite(own)]
        rows.append(
            TenantEnergyPublic(
                tenant_id=tenant_id,
                name=name,
                energy_kwh=float(own.sum()),
                peak_kw=float(own.max()) if own.size else None,
            )
        )
    return rows


@router.get("/tenants", response_model=Paged[TenantEnergyPublic])
def park_tenants(
    scope: ScopeDep,
    store: StoreDep,
    latest: LatestDep,
    page: PageDep,
    start: Annotated[datetime | None, Query(description="Default: last 7 days of data.")] = None,
    end: Annotated[datetime | None, Query(description="Exclusive end.")] = None,
) -> Response:
    """Every tenant's consumption [kWh] and hourly peak demand [kW] in ``[start, end)``.

    The dashboard's tenant table and top-N chart for the chosen period; the
    peak is the highest hourly mean power. Tenants keep the site's order.
    """
    scope.require_park()
    meters = energy_meters(scope.site.meters, MeterKind.LOAD)
    period = resolve_period(store, [m.id for m in meters], start, end, default_days=7)
    tenants = [(t.id, t.name) for t in scope.tenants()]

    def build() -> Response:
        rows = _tenant_rows(store, tenants, period)
        return Response(paginate(rows, page).model_dump_json(), media_type="application/json")

    key = ("park_tenants", scope.site.site.id, period.start, period.end, page.limit, page.offset)
    return cached_json(latest, key, build)
