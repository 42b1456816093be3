"""Park summary: energy, PV, self-sufficiency and peaks per tenant and for the park.

Every figure comes from the energy accounts' flows
(:func:`bitgaram.account.energy.read_flows`, definitions in ``docs/accounts.md``):
:func:`summary_of` is pure (flows in, a typed summary out);
:func:`read_park_summary` reads the flows of all stored data first.

- *load* is consumption of every load-like kind (load, data centre, EV chargers);
  *PV* is on-site generation (PV and wind, site-level meters in the park's);
- *self-consumed PV* = generation - export per interval, behind each tenant's own
  meters, and for the park behind its one connection (PV shared inside the park);
- *self-sufficiency* = self-consumed PV / load;
- *peak* = the largest average consumption over one account interval (tenants) or
  the largest grid import (park) [kW].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bitgaram.account.energy import Flows, data_bounds, read_flows
from bitgaram.site import Site
from bitgaram.store.base import Store


@dataclass(frozen=True)
class TenantSummary:
    """Energy figures of one tenant over the period."""

    tenant_id: str
    name: str
    load_kwh: float
    pv_kwh: float
    self_consumed_kwh: float
    peak_load_kw: float
    peak_at: pd.Timestamp | None

    @property
    def self_sufficiency(self) -> float:
        """Share of the load met by own PV [-]."""
        return self.self_consumed_kwh / self.load_kwh if self.load_kwh > 0 else 0.0


@dataclass(frozen=True)
class ParkSummary:
    """Energy figures of the park over the period.

    Attributes
    ----------
    hourly : pandas.DataFrame
        Index ``ts`` (UTC hour start); columns ``load`` and ``pv`` [kWh per hour].
    """

    site_id: str
    name: str
    timezone: str
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    tenants: tuple[TenantSummary, ...]
    load_kwh: float
    pv_kwh: float
    self_consumed_kwh: float
    grid_import_kwh: float
    export_kwh: float
    peak_import_kw: float
    peak_at: pd.Timestamp | None
    hourly: pd.DataFrame = field(repr=False, compare=False)

    @property
    def self_sufficiency(self) -> float:
        """Share of the park's load met by the park's PV [-]."""
        return self.self_consumed_kwh / self.load_kwh if self.load_kwh > 0 else 0.0

    @property
    def hours(self) -> int:
        """Hours covered."""
        return len(self.hourly)


def summary_of(site: Site, flows: Mapping[str | None, Flows]) -> ParkSummary:
    """Summarise the energy flows of every tenant and of the park (key ``None``).

    Parameters
    ----------
    site : Site
        Names and timezone.
    flows : mapping
        :func:`bitgaram.account.energy.read_flows` of the period.

    Returns
    -------
    ParkSummary
    """
    tenants = []
    for tenant in site.tenants:
        own = flows[tenant.id]
        kw = np.nan_to_num(own.power_kw("consumption_kwh"))
        pos = int(np.argmax(kw)) if kw.size else -1
        tenants.append(
            TenantSummary(
                tenant_id=tenant.id,
                name=tenant.name,
                load_kwh=float(own.frame["consumption_kwh"].sum()),
                pv_kwh=float(own.frame["generation_kwh"].sum()),
                self_consumed_kwh=float(own.frame["self_consumed_kwh"].sum()),
                peak_load_kw=float(kw[pos]) if pos >= 0 else 0.0,
                peak_at=pd.Timestamp(own.frame.index[pos]) if pos >= 0 else None,
            )
        )
    park = flows[None]
    frame = park.frame[park.frame["has_data"]]
    index = pd.DatetimeIndex(frame.index)
    imp = frame["import_kwh"].to_numpy(dtype=float) / park.step_hours
    pos = int(np.argmax(imp)) if imp.size else -1
    hourly = frame[["consumption_kwh", "generation_kwh"]].groupby(index.floor("h")).sum()
    hourly.columns = pd.Index(["load", "pv"])
    hourly.index.name = "ts"
    return ParkSummary(
        site_id=site.site.id,
        name=site.site.name,
        timezone=site.site.timezone,
        start=pd.Timestamp(index[0]) if len(index) else None,
        end=pd.Timestamp(index[-1]) + pd.Timedelta(park.step) if len(index) else None,
        tenants=tuple(tenants),
        load_kwh=float(frame["consumption_kwh"].sum()),
        pv_kwh=float(frame["generation_kwh"].sum()),
        self_consumed_kwh=float(frame["self_consumed_kwh"].sum()),
        grid_import_kwh=float(frame["import_kwh"].sum()),
        export_kwh=float(frame["export_kwh"].sum()),
        peak_import_kw=float(imp[pos]) if pos >= 0 else 0.0,
        peak_at=pd.Timestamp(index[pos]) if pos >= 0 else None,
        hourly=hourly,
    )


def read_park_summary(store: Store, site: Site) -> ParkSummary:
    """Read the flows of all of the site's stored energy data and summarise them."""
    start, end = data_bounds(store, site)
    return summary_of(site, read_flows(store, site, start, end))
