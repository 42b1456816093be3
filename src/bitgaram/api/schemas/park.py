"""Schemas of the park overview and tenant dashboards."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from bitgaram.api.schemas.series import ChartPublic


class TenantEnergyPublic(BaseModel):
    """One tenant's consumption over the overview period."""

    tenant_id: str
    name: str
    energy_kwh: float
    peak_kw: float | None


class OverviewPublic(BaseModel):
    """The park at a glance: power series at 15 minutes and the latest demand."""

    site_id: str
    start: datetime
    end: datetime
    latest_ts: datetime | None
    latest_demand_kw: float | None
    demand_target_kw: float | None
    latest_soc_percent: float | None
    chart: ChartPublic
    tenants: list[TenantEnergyPublic]


class TenantSummaryPublic(BaseModel):
    """One tenant's dashboard: hourly power, forecast vs actual, totals."""

    tenant_id: str
    name: str
    start: datetime
    end: datetime
    energy_kwh: float | None
    pv_kwh: float | None
    peak_kw: float | None
    has_forecast: bool
    forecast_mape_percent: float | None
    chart: ChartPublic
