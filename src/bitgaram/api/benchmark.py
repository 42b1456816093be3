"""Anonymised peer benchmarks: where a tenant stands among comparable tenants.

Pure functions: per-tenant energy series in, per-tenant indicators and one
tenant's percentiles out. A result never carries another tenant's id or value,
and no percentile is given when fewer than ``min_group`` comparable tenants
have the indicator (the asking tenant included).

Indicators (over one period, from the tenants' energy accounts):

- ``energy_intensity`` [kWh/m2]: consumption per floor area (needs ``floor_area_m2``);
  lower is better.
- ``load_factor`` [-]: mean over peak hourly load; higher is better (flatter load).
- ``re_share`` [-]: the energy account's RE share (self-consumed generation over
  consumption, ``docs/accounts.md``); higher is better.
- ``peak`` [kW]: highest hourly average load; lower is better.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from bitgaram.account.energy import EnergyAccount

#: Indicator name -> which direction is better.
INDICATORS: dict[str, Literal["lower", "higher"]] = {
    "energy_intensity": "lower",
    "load_factor": "higher",
    "re_share": "higher",
    "peak": "lower",
}


@dataclass(frozen=True)
class TenantIndicators:
    """One tenant's indicators; None where it cannot be computed."""

    tenant_id: str
    energy_intensity: float | None
    load_factor: float | None
    re_share: float | None
    peak: float | None

    def get(self, name: str) -> float | None:
        """Indicator by name."""
        value: float | None = getattr(self, name)
        return value


@dataclass(frozen=True)
class IndicatorRank:
    """One indicator of the asking tenant.

    ``percentile`` is the mid-rank share of the group below the tenant's value
    [%] (0: lowest, 100: highest); None when the group is too small.
    """

    name: str
    value: float | None
    percentile: float | None
    better: Literal["lower", "higher"]
    group_size: int
    reason: str | None


@dataclass(frozen=True)
class Benchmark:
    """A tenant's anonymised standing."""

    tenant_id: str
    group: Literal["sector", "park"]
    min_group: int
    indicators: tuple[IndicatorRank, ...]


def percentile_rank(values: Sequence[float], own: float) -> float:
    """Mid-rank percentile of ``own`` within ``values`` [%].

    Parameters
    ----------
    values : sequence of float
        The group's values (including ``own``).
    own : float
        The value to place.

    Returns
    -------
    float
        ``100 * (below + equal / 2) / n``, in [0, 100].

    Examples
    --------
    >>> percentile_rank([1.0, 2.0, 3.0, 4.0], 4.0)
    87.5
    """
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError("percentile of an empty group")
    below = float(np.sum(arr < own))
    equal = float(np.sum(arr == own))
    return 100.0 * (below + equal / 2.0) / float(arr.size)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def tenant_indicators(
    accounts: Mapping[str, EnergyAccount],
    floor_area_m2: Mapping[str, float | None],
) -> dict[str, TenantIndicators]:
    """Indicators of every tenant with data, from their energy accounts.

    Parameters
    ----------
    accounts : mapping
        Tenant id -> :class:`~bitgaram.account.energy.EnergyAccount` of the period.
    floor_area_m2 : mapping
        Floor area per tenant [m2] (None where unknown).

    Returns
    -------
    dict
        Tenant id -> :class:`TenantIndicators`: consumption of every load-like
        kind; RE share as the account's; peak and mean over hours with data.
    """
    out: dict[str, TenantIndicators] = {}
    for tid, acc in accounts.items():
        if acc.intervals_with_data == 0:
            continue
        total = acc.consumption_total_kwh
        hours = acc.intervals_with_data * pd.Timedelta(acc.step).total_seconds() / 3600.0
        hourly = acc.hourly["consumption_kwh"].to_numpy(dtype=float)  # kWh per hour = kW
        peak_kw = float(hourly.max()) if hourly.size else 0.0
        mean_kw = total / hours
        area = floor_area_m2.get(tid)
        out[tid] = TenantIndicators(
            tenant_id=tid,
            energy_intensity=_finite(total / area) if area else None,
            load_factor=_finite(mean_kw / peak_kw) if peak_kw > 0 else None,
            re_share=acc.re_share,
            peak=_finite(peak_kw),
        )
    return out


def benchmark(
    tenant_id: str,
    indicators: Mapping[str, TenantIndicators],
    sectors: Mapping[str, str | None],
    min_group: int = 5,
) -> Benchmark:
    """Percentiles of one tenant among comparable tenants.

    Comparable tenants are those of the same sector when that sector has at
    least ``min_group`` tenants with data, otherwise the whole park.

    Parameters
    ----------
    tenant_id : str
        The asking tenant.
    indicators : mapping
        Indicators of every tenant of the park (from :func:`tenant_indicators`).
    sectors : mapping
        Sector of every tenant (None where unknown).
    min_group : int
        Fewest tenants having an indicator before its percentile is shown.

    Returns
    -------
    Benchmark
        Only the asking tenant's own values and percentiles, group sizes,
        never another tenant's id or value.
    """
    own = indicators.get(tenant_id)
    sector = sectors.get(tenant_id)
    same_sector = [t for t in indicators if sector is not None and sectors.get(t) == sector]
    group: Literal["sector", "park"] = "sector" if len(same_sector) >= min_group else "park"
    members = same_sector if group == "sector" else list(indicators)
    ranks = []
    for name, better in INDICATORS.items():
        own_value = own.get(name) if own is not None else None
        peers = [v for t in members if (v := indicators[t].get(name)) is not None]
        if own_value is None:
            rank = IndicatorRank(name, None, None, better, len(peers), "no data for this tenant")
        elif len(peers) < min_group:
            rank = IndicatorRank(
                name,
                own_value,
                None,
                better,
                len(peers),
                f"fewer than {min_group} comparable tenants",
            )
        else:
            pct = percentile_rank(peers, own_value)
            rank = IndicatorRank(name, own_value, pct, better, len(peers), None)
        ranks.append(rank)
    return Benchmark(tenant_id, group, min_group, tuple(ranks))
