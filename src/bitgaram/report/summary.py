"""Park summary: energy, PV, self-sufficiency and peaks per tenant and for the park.

:func:`summarize_park` is pure (frames in, a typed summary out);
:func:`read_park_summary` fetches the frames from a store first.

Definitions (hourly resolution, energies [kWh], powers [kW] as hourly averages):

- *self-consumed PV* of a tenant = sum over hours of min(load, PV) behind its
  own meter; for the park the same with park-level sums (PV shared inside the
  park, as a park-wide energy community would);
- *self-sufficiency* = self-consumed PV / load;
- *grid import* = sum of max(load - PV, 0), *export* = sum of max(PV - load, 0);
- *peak* = the largest hourly load (tenants) or net grid import (park) [kW].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bitgaram.site import Site
from bitgaram.store.base import Resolution, Store


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
        Index ``ts`` (UTC interval start); columns ``load`` and ``pv`` [kWh].
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


def _pivot(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="ts"))
    return frame.pivot_table(index="ts", columns="tenant_id", values="value", aggfunc="sum")


def summarize_park(site: Site, load: pd.DataFrame, pv: pd.DataFrame) -> ParkSummary:
    """Summarise hourly tenant energies.

    Parameters
    ----------
    site : Site
        Names and timezone.
    load, pv : pandas.DataFrame
        Columns ``tenant_id``, ``ts``, ``value`` [kWh per hour], as returned by
        :meth:`~bitgaram.store.base.Store.tenant_totals`. Missing hours count as 0.

    Returns
    -------
    ParkSummary

    Examples
    --------
    >>> from bitgaram.site import parse_site
    >>> site = parse_site({"site": {"id": "p", "name": "P"}, "tenants": [{"id": "t", "name": "T"}]})
    >>> ts = pd.date_range("2024-01-01", periods=2, freq="h", tz="UTC")
    >>> load = pd.DataFrame({"tenant_id": "t", "ts": ts, "value": [2.0, 1.0]})
    >>> pv = pd.DataFrame({"tenant_id": "t", "ts": ts, "value": [0.5, 3.0]})
    >>> s = summarize_park(site, load, pv)
    >>> s.load_kwh, s.self_consumed_kwh, s.grid_import_kwh, s.export_kwh
    (3.0, 1.5, 1.5, 2.0)
    """
    load_w = _pivot(load)
    pv_w = _pivot(pv)
    index = load_w.index.union(pv_w.index)
    tenant_ids = [t.id for t in site.tenants]
    load_w = load_w.reindex(index=index, columns=tenant_ids, fill_value=0.0).fillna(0.0)
    pv_w = pv_w.reindex(index=index, columns=tenant_ids, fill_value=0.0).fillna(0.0)
    tenants = []
    for tenant in site.tenants:
        l_t = load_w[tenant.id].to_numpy(dtype=float)
        p_t = pv_w[tenant.id].to_numpy(dtype=float)
        peak_pos = int(np.argmax(l_t)) if l_t.size else -1
        tenants.append(
            TenantSummary(
                tenant_id=tenant.id,
                name=tenant.name,
                load_kwh=float(l_t.sum()),
                pv_kwh=float(p_t.sum()),
                self_consumed_kwh=float(np.minimum(l_t, p_t).sum()),
                peak_load_kw=float(l_t[peak_pos]) if peak_pos >= 0 else 0.0,
                peak_at=pd.Timestamp(index[peak_pos]) if peak_pos >= 0 else None,
            )
        )
    park_load = load_w.sum(axis=1).to_numpy(dtype=float)
    park_pv = pv_w.sum(axis=1).to_numpy(dtype=float)
    net = park_load - park_pv
    peak_pos = int(np.argmax(net)) if net.size else -1
    hourly = pd.DataFrame({"load": park_load, "pv": park_pv}, index=index)
    hourly.index.name = "ts"
    return ParkSummary(
        site_id=site.site.id,
        name=site.site.name,
        timezone=site.site.timezone,
        start=pd.Timestamp(index[0]) if len(index) else None,
        end=pd.Timestamp(index[-1]) + pd.Timedelta(hours=1) if len(index) else None,
        tenants=tuple(tenants),
        load_kwh=float(park_load.sum()),
        pv_kwh=float(park_pv.sum()),
        self_consumed_kwh=float(np.minimum(park_load, park_pv).sum()),
        grid_import_kwh=float(np.clip(net, 0, None).sum()),
        export_kwh=float(np.clip(-net, 0, None).sum()),
        peak_import_kw=float(max(net[peak_pos], 0.0)) if peak_pos >= 0 else 0.0,
        peak_at=pd.Timestamp(index[peak_pos]) if peak_pos >= 0 else None,
        hourly=hourly,
    )


def read_park_summary(store: Store, site: Site) -> ParkSummary:
    """Fetch hourly tenant load and PV from ``store`` and summarise them."""
    load = store.tenant_totals("load", resolution=Resolution.HOUR)
    pv = store.tenant_totals("pv", resolution=Resolution.HOUR)
    known = {t.id for t in site.tenants}
    return summarize_park(
        site, load[load["tenant_id"].isin(known)], pv[pv["tenant_id"].isin(known)]
    )
