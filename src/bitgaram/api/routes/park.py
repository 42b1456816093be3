"""``/api/v1/park``: park-wide views (operator and park-wide viewers only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query, Response

from bitgaram.account.energy import (
    CONSUMPTION_KINDS,
    GENERATION_KINDS,
    account_step,
    is_flow_meter,
    read_flows,
)
from bitgaram.api.deps import LatestDep, PageDep, ScopeDep, StoreDep
from bitgaram.api.errors import InsufficientDataError
from bitgaram.api.period import Period, resolve_period
from bitgaram.api.schemas.common import Paged, paged_points, paginate
from bitgaram.api.schemas.park import OverviewPublic, TenantEnergyPublic
from bitgaram.api.schemas.readings import EnergyPointPublic
from bitgaram.api.series import (
    cached_json,
    chart,
    energy_meters,
    forecast_kw,
    last_finite,
    mean_value,
    require_data,
)
from bitgaram.site import Site
from bitgaram.site.model import MeterKind, Unit
from bitgaram.store.base import Store

router = APIRouter(prefix="/park", tags=["park"])


def _overview(
    scope: ScopeDep,
    store: StoreDep,
    latest: LatestDep,
    hours: Annotated[float, Query(gt=0, le=24 * 31, description="Window length [h].")] = 24,
) -> OverviewPublic:
    """Net load, PV, battery power and state of charge; latest demand vs target.

    Power series [kW] are averages over the park's account step (``chart.step``,
    15 minutes for 15-minute meters), from the park's and tenants' energy flows
    (:func:`bitgaram.account.energy.read_flows`): one set of numbers with the
    accounts.
    """
    scope.require_park()
    site = scope.site
    meters = [m for m in site.meters if is_flow_meter(m)]
    if not meters:
        raise InsufficientDataError("the site has no energy meters")
    step = account_step(meters)
    end = latest.get(store, meters)
    period = Period(end.floor(step) - pd.Timedelta(hours=hours).round("s"), end.ceil(step))
    flows = read_flows(store, site, period.start, period.end)
    own = flows[None]
    index = pd.DatetimeIndex(own.frame.index)
    kinds = {m.kind for m in meters}
    load = own.power_kw("consumption_kwh")
    pv = own.power_kw("generation_kwh") if kinds & set(GENERATION_KINDS) else None
    battery = own.power_kw("battery_kwh") if MeterKind.BATTERY in kinds else None
    net = own.power_kw("import_kwh") - np.nan_to_num(own.power_kw("export_kwh"))
    require_data([load, pv, net])
    soc_meters = [m for m in site.meters if m.kind is MeterKind.BATTERY and m.unit is Unit.PERCENT]
    soc = mean_value(store, soc_meters, period, step, index)
    consumption = [m for m in meters if m.kind in CONSUMPTION_KINDS and m.unit is Unit.KWH]
    forecast = forecast_kw(store, consumption, period, step, index)
    latest_ts = None
    if np.isfinite(net).any():
        latest_ts = index[np.flatnonzero(np.isfinite(net))[-1]].to_pydatetime()
    tariff = site.site.tariff
    target = site.site.connection_limit_kw or (tariff.contract_kw if tariff else None)
    tenant_rows = []
    for tenant in site.tenants:
        mine = flows[tenant.id]
        kw = mine.power_kw("consumption_kwh")
        tenant_rows.append(
            TenantEnergyPublic(
                tenant_id=tenant.id,
                name=tenant.name,
                energy_kwh=float(mine.frame["consumption_kwh"].sum()),
                peak_kw=float(np.nanmax(kw)) if np.isfinite(kw).any() else None,
            )
        )
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
            step,
        ),
        tenants=tenant_rows,
    )


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
            kind.value,
            start=period.start,
            end=period.end,
            resolution=resolution,
            site_id=scope.site.site.id,
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
    store: Store, site: Site, tenants: list[tuple[str, str]], period: Period
) -> list[TenantEnergyPublic]:
    """Each tenant's load energy [kWh] and hourly peak [kW] in ``period`` (one store query).

    The same load-meter series as ``/tenants/{id}/energy`` and ``/park/energy``,
    so the table adds up to the park chart it sits under.
    """
    table = store.tenant_totals_arrow(
        MeterKind.LOAD.value,
        start=period.start,
        end=period.end,
        resolution="1h",
        site_id=site.site.id,
    )
    ids = table.column("tenant_id").to_pylist()
    values = np.asarray(table.column("value").to_numpy(zero_copy_only=False), dtype=float)
    by_tenant: dict[str, list[float]] = {}
    for tid, v in zip(ids, values, strict=True):
        if np.isfinite(v):
            by_tenant.setdefault(str(tid), []).append(float(v))
    rows = []
    for tenant_id, name in tenants:
        own = np.asarray(by_tenant.get(tenant_id, []), dtype=float)
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
    """Every tenant's consumption [kWh] and peak demand [kW] in ``[start, end)``.

    The dashboard's tenant table and top-N chart for the chosen period; the
    peak is the highest hourly mean power of the load meters. Tenants keep the site's order.
    """
    scope.require_park()
    meters = energy_meters(scope.site.meters, MeterKind.LOAD)
    period = resolve_period(store, [m.id for m in meters], start, end, default_days=7)
    tenants = [(t.id, t.name) for t in scope.tenants()]

    def build() -> Response:
        rows = _tenant_rows(store, scope.site, tenants, period)
        return Response(paginate(rows, page).model_dump_json(), media_type="application/json")

    key = ("park_tenants", scope.site.site.id, period.start, period.end, page.limit, page.offset)
    return cached_json(latest, key, build)
