"""``/api/v1/tenants``: tenant companies, their energy, dashboard and anonymised benchmark."""

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
    energy_accounts,
    is_flow_meter,
    read_flows,
)
from bitgaram.api.benchmark import benchmark, tenant_indicators
from bitgaram.api.deps import LatestDep, PageDep, ScopeDep, SettingsDep, StoreDep
from bitgaram.api.errors import InsufficientDataError
from bitgaram.api.period import Period, resolve_period
from bitgaram.api.schemas.benchmark import BenchmarkPublic, IndicatorPublic
from bitgaram.api.schemas.common import Paged, paged_points, paginate
from bitgaram.api.schemas.park import TenantSummaryPublic
from bitgaram.api.schemas.readings import EnergyPointPublic
from bitgaram.api.schemas.site import MeterPublic, TenantPublic
from bitgaram.api.series import (
    cached_json,
    chart,
    energy_meters,
    forecast_kw,
    require_data,
)
from bitgaram.site.model import MeterKind, Unit

router = APIRouter(prefix="/tenants", tags=["tenants"])

EnergyResolution = Literal["15min", "1h", "1D"]

_UNITS = {"energy_intensity": "kWh/m2", "load_factor": "-", "re_share": "-", "peak": "kW"}


@router.get("")
def list_tenants(scope: ScopeDep, page: PageDep) -> Paged[TenantPublic]:
    """Tenants the caller may see (its own only, for a tenant manager)."""
    return paginate([TenantPublic.of(t) for t in scope.tenants()], page)


@router.get("/{tenant_id}")
def get_tenant(tenant_id: str, scope: ScopeDep) -> TenantPublic:
    """One tenant."""
    return TenantPublic.of(scope.tenant(tenant_id))


@router.get("/{tenant_id}/meters")
def tenant_meters(tenant_id: str, scope: ScopeDep, page: PageDep) -> Paged[MeterPublic]:
    """The tenant's own meters."""
    scope.tenant(tenant_id)
    return paginate([MeterPublic.of(m) for m in scope.meters() if m.tenant == tenant_id], page)


@router.get("/{tenant_id}/energy", response_model=Paged[EnergyPointPublic])
def tenant_energy(
    tenant_id: str,
    scope: ScopeDep,
    store: StoreDep,
    page: PageDep,
    kind: Annotated[MeterKind, Query(description="Meter kind to sum.")] = MeterKind.LOAD,
    resolution: EnergyResolution = "1h",
    start: Annotated[datetime | None, Query(description="Default: last 7 days of data.")] = None,
    end: Annotated[datetime | None, Query(description="Exclusive end.")] = None,
) -> Response:
    """Energy of one meter kind summed over the tenant's meters [kWh] and its average power [kW]."""
    scope.tenant(tenant_id)
    meters = energy_meters([m for m in scope.meters() if m.tenant == tenant_id], kind)
    if not meters:
        return paged_points(pd.DatetimeIndex([], tz="UTC"), {"kwh": np.array([])}, 0, page)
    period = resolve_period(store, [m.id for m in meters], start, end, default_days=7)
    frame = store.tenant_totals(
        kind.value,
        start=period.start,
        end=period.end,
        resolution=resolution,
        tenant_ids=[tenant_id],
        site_id=scope.site.site.id,
    )
    frame = frame[frame["tenant_id"] == tenant_id]
    hours = pd.Timedelta(resolution).total_seconds() / 3600.0
    lo, hi = page.offset, page.offset + page.limit
    ts = pd.DatetimeIndex(frame["ts"]).tz_convert("UTC")[lo:hi]
    kwh = frame["value"].to_numpy(dtype=float)[lo:hi]
    return paged_points(ts, {"kwh": kwh, "kw": kwh / hours}, len(frame), page)


def _tenant_summary(
    tenant_id: str,
    scope: ScopeDep,
    store: StoreDep,
    latest: LatestDep,
    days: Annotated[float, Query(gt=0, le=62, description="Window length [days].")] = 7,
) -> TenantSummaryPublic:
    """The tenant dashboard: consumption, generation, battery, net power and forecast vs actual.

    Power series [kW] are averages over the tenant's account step (``chart.step``),
    from the tenant's energy flows (:func:`bitgaram.account.energy.read_flows`).
    """
    tenant = scope.tenant(tenant_id)
    meters = [m for m in scope.meters() if m.tenant == tenant_id and is_flow_meter(m)]
    if not meters:
        raise InsufficientDataError(f"tenant {tenant_id!r} has no energy meters")
    step = account_step(meters)
    end = latest.get(store, meters)
    period = Period(end.floor(step) - pd.Timedelta(days=days).round("s"), end.ceil(step))
    flows = read_flows(store, scope.site, period.start, period.end, [tenant_id], park=False)
    own = flows[tenant_id]
    index = pd.DatetimeIndex(own.frame.index)
    kinds = {m.kind for m in meters}
    load = own.power_kw("consumption_kwh")
    pv = own.power_kw("generation_kwh") if kinds & set(GENERATION_KINDS) else None
    battery = own.power_kw("battery_kwh") if MeterKind.BATTERY in kinds else None
    net = own.power_kw("import_kwh") - np.nan_to_num(own.power_kw("export_kwh"))
    require_data([load, pv, net])
    consumption = [m for m in meters if m.kind in CONSUMPTION_KINDS and m.unit is Unit.KWH]
    forecast = forecast_kw(store, consumption, period, step, index)
    mape = None
    if forecast is not None:
        ok = np.isfinite(forecast) & np.isfinite(load) & (np.abs(load) > 1e-9)
        if ok.any():
            mape = float(np.mean(np.abs(forecast[ok] - load[ok]) / np.abs(load[ok])) * 100.0)
    has = own.frame["has_data"].to_numpy(dtype=bool)
    return TenantSummaryPublic(
        tenant_id=tenant.id,
        name=tenant.name,
        start=period.start.to_pydatetime(),
        end=period.end.to_pydatetime(),
        energy_kwh=float(own.frame["consumption_kwh"].sum()),
        pv_kwh=float(own.frame["generation_kwh"].sum()) if pv is not None else None,
        peak_kw=float(np.nanmax(load)) if has.any() else None,
        has_forecast=forecast is not None,
        forecast_mape_percent=mape,
        chart=chart(
            index,
            [
                ("load", "kW", load),
                ("pv", "kW", pv),
                ("battery", "kW", battery),
                ("net", "kW", net),
                ("forecast", "kW", forecast),
            ],
            step,
        ),
    )


def _tenant_benchmark(
    tenant_id: str,
    scope: ScopeDep,
    store: StoreDep,
    latest: LatestDep,
    settings: SettingsDep,
    days: Annotated[float, Query(gt=0, le=366, description="Period length [days].")] = 30,
) -> BenchmarkPublic:
    """Where the tenant stands among comparable tenants, as percentiles only.

    Peers are the tenants of the same sector (or the whole park when the
    sector is smaller than the minimum group). No peer's id or value is
    returned, and no percentile is shown for groups below the minimum size.
    """
    tenant = scope.tenant(tenant_id)
    site = scope.site  # peers are read here and only aggregated, never returned
    mine = [m for m in site.meters if m.tenant == tenant.id and is_flow_meter(m)]
    if not mine:
        raise InsufficientDataError(f"tenant {tenant_id!r} has no energy meters")
    end = latest.get(store, mine)
    period = Period(end - pd.Timedelta(days=days).round("s"), end)
    accounts = energy_accounts(store, site, period.start, period.end, park=False, bills=False)
    indicators = tenant_indicators(
        {str(t): a for t, a in accounts.items()}, {t.id: t.floor_area_m2 for t in site.tenants}
    )
    result = benchmark(
        tenant.id,
        indicators,
        {t.id: t.sector for t in site.tenants},
        min_group=settings.benchmark_min_group,
    )
    return BenchmarkPublic(
        tenant_id=tenant.id,
        start=period.start.to_pydatetime(),
        end=period.end.to_pydatetime(),
        group=result.group,
        min_group_size=result.min_group,
        indicators=[
            IndicatorPublic(
                name=r.name,
                unit=_UNITS[r.name],
                value=r.value,
                percentile=r.percentile,
                better=r.better,
                group_size=r.group_size,
                reason=r.reason,
            )
            for r in result.indicators
        ],
    )


@router.get("/{tenant_id}/summary", response_model=TenantSummaryPublic)
def tenant_summary(
    tenant_id: str,
    scope: ScopeDep,
    store: StoreDep,
    latest: LatestDep,
    days: Annotated[float, Query(gt=0, le=62, description="Window length [days].")] = 7,
) -> Response:
    """The tenant dashboard: hourly load, PV, net power and forecast vs actual."""
    scope.tenant(tenant_id)
    return cached_json(
        latest,
        ("summary", tenant_id, days),
        lambda: _tenant_summary(tenant_id, scope, store, latest, days),
    )


@router.get("/{tenant_id}/benchmark", response_model=BenchmarkPublic)
def tenant_benchmark(
    tenant_id: str,
    scope: ScopeDep,
    store: StoreDep,
    latest: LatestDep,
    settings: SettingsDep,
    days: Annotated[float, Query(gt=0, le=366, description="Period length [days].")] = 30,
) -> Response:
    """Where the tenant stands among comparable tenants, as percentiles only.

    Peers are the tenants of the same sector (or the whole park when the
    sector is smaller than the minimum group). No peer's id or value is
    returned, and no percentile is shown for groups below the minimum size.
    """
    scope.tenant(tenant_id)
    return cached_json(
        latest,
        ("benchmark", tenant_id, days, settings.benchmark_min_group),
        lambda: _tenant_benchmark(tenant_id, scope, store, latest, settings, days),
    )
