"""Schema of an energy account (:class:`bitgaram.account.energy.EnergyAccount`)."""

from __future__ import annotations

import math
from datetime import datetime

from pydantic import BaseModel, Field

from bitgaram.account.energy import EnergyAccount


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


class EnergyAccountPublic(BaseModel):
    """A tenant's or the park's energy, demand, bill and carbon over ``[start, end)``.

    Every figure comes from :mod:`bitgaram.account.energy`; ``docs/accounts.md``
    gives each one's definition.
    """

    site_id: str
    tenant_id: str | None = Field(description="None for the park.")
    start: datetime
    end: datetime
    timezone: str
    step: str = Field(description="Interval the balance is computed at, e.g. '15min'.")
    intervals: int
    intervals_with_data: int
    consumption_kwh: dict[str, float] = Field(description="Consumption per meter kind [kWh].")
    consumption_total_kwh: float
    generation_kwh: float
    self_consumed_kwh: float
    exported_kwh: float = Field(description="On-site generation not used on site [kWh].")
    import_kwh: float
    export_kwh: float
    battery_net_kwh: float
    peak_demand_kw: float | None
    peak_demand_at: datetime | None
    billing_demand_kw: float | None
    bill_energy: float | None
    bill_demand: float | None
    bill_total: float | None
    currency: str | None
    tariff: str | None
    renewable_kwh: float
    scope2_location_kgco2: float
    scope2_market_kgco2: float
    scope2_location_basis: str
    re_share: float | None
    cfe_share: float | None
    self_sufficiency: float | None

    @classmethod
    def of(cls, acc: EnergyAccount) -> EnergyAccountPublic:
        """From the domain account."""
        return cls(
            site_id=acc.site_id,
            tenant_id=acc.tenant_id,
            start=acc.start.to_pydatetime(),
            end=acc.end.to_pydatetime(),
            timezone=acc.timezone,
            step=acc.step,
            intervals=acc.intervals,
            intervals_with_data=acc.intervals_with_data,
            consumption_kwh=dict(acc.consumption_kwh),
            consumption_total_kwh=acc.consumption_total_kwh,
            generation_kwh=acc.generation_kwh,
            self_consumed_kwh=acc.self_consumed_kwh,
            exported_kwh=acc.exported_kwh,
            import_kwh=acc.import_kwh,
            export_kwh=acc.export_kwh,
            battery_net_kwh=acc.battery_net_kwh,
            peak_demand_kw=_finite(acc.peak_demand_kw),
            peak_demand_at=acc.peak_demand_at.to_pydatetime() if acc.peak_demand_at else None,
            billing_demand_kw=acc.billing_demand_kw,
            bill_energy=acc.bill_energy,
            bill_demand=acc.bill_demand,
            bill_total=acc.bill_total,
            currency=acc.currency,
            tariff=acc.tariff,
            renewable_kwh=acc.renewable_kwh,
            scope2_location_kgco2=acc.scope2_location_kgco2,
            scope2_market_kgco2=acc.scope2_market_kgco2,
            scope2_location_basis=acc.scope2_location_basis,
            re_share=_finite(acc.re_share),
            cfe_share=_finite(acc.cfe_share),
            self_sufficiency=_finite(acc.self_sufficiency),
        )
