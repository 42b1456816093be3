"""Key performance indicators of a simulated site, incl. the CityLearn 2022 score.

Net energy ``E[t, b]`` [kWh per step, + = import] of building ``b``;
``E[t] = sum_b E[t, b]`` the district. CityLearn Challenge 2022 KPIs (each
divided by the same KPI of the no-battery baseline):

- price cost ``C = sum_t max(0, price[t] * E[t])`` (clipped at district level);
- emissions ``G = sum_t sum_b max(0, carbon[t] * E[t, b])`` (clipped per building);
- ramping ``R = sum_t |E[t] - E[t-1]|``;
- load factor ``L = mean over 730-step blocks of (1 - mean(E) / max(E))``;
- grid cost ``D = (R + L) / 2``; score ``(C + G + D) / 3``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: Block length of the CityLearn load factor [steps] (one month of hours).
LOAD_FACTOR_BLOCK = 730


@dataclass(frozen=True)
class SiteKpis:
    """Absolute KPIs of one run.

    Attributes
    ----------
    price_cost : float
        District import cost [currency].
    emission_cost : float
        Building-level emissions [kgCO2].
    ramping : float
        Sum of absolute district net-load changes [kWh].
    load_factor : float
        CityLearn load-factor KPI, mean of ``1 - mean/max`` per block [-].
    peak_kwh : float
        Largest district net load of a step [kWh].
    import_kwh, export_kwh : float
        Building-level imports and exports [kWh].
    self_consumption : float
        Share of PV energy used on site, ``1 - export / PV`` [-] (NaN without PV).
    """

    price_cost: float
    emission_cost: float
    ramping: float
    load_factor: float
    peak_kwh: float
    import_kwh: float
    export_kwh: float
    self_consumption: float


@dataclass(frozen=True)
class CityLearnScore:
    """CityLearn 2022 ratios to the no-battery baseline (1.0 = no gain, lower is better)."""

    price_cost: float
    emission_cost: float
    ramping: float
    load_factor: float
    grid_cost: float
    score: float

    def as_dict(self) -> dict[str, float]:
        """The ratios as a plain dict (for JSON)."""
        return asdict(self)


def load_factor_kpi(district_kwh: np.ndarray, block: int = LOAD_FACTOR_BLOCK) -> float:
    """Mean over consecutive blocks of ``1 - mean(E) / max(E)`` [-].

    The last block may be shorter. Blocks whose maximum is 0 count as 0.
    """
    e = np.asarray(district_kwh, dtype=float)
    values = []
    for start in range(0, len(e), block):
        part = e[start : start + block]
        peak = part.max()
        values.append(1.0 - part.mean() / peak if peak != 0 else 0.0)
    return float(np.mean(values)) if values else 0.0


def site_kpis(
    net_kwh: np.ndarray,
    price: np.ndarray,
    carbon: np.ndarray,
    pv_kwh: np.ndarray | None = None,
) -> SiteKpis:
    """Absolute KPIs of building net energies.

    Parameters
    ----------
    net_kwh : numpy.ndarray
        Net energy per step and building, (N, B) [kWh, + = import].
    price : numpy.ndarray
        Import price, (N,) [currency/kWh].
    carbon : numpy.ndarray
        Carbon intensity, (N,) [kgCO2/kWh].
    pv_kwh : numpy.ndarray, optional
        PV generation (N, B) [kWh], for self-consumption.
    """
    net = np.asarray(net_kwh, dtype=float)
    if net.ndim == 1:
        net = net[:, None]
    district = net.sum(axis=1)
    price = np.asarray(price, dtype=float)
    carbon = np.asarray(carbon, dtype=float)
    export = float(np.clip(-net, 0.0, None).sum())
    pv_total = float(np.sum(pv_kwh)) if pv_kwh is not None else 0.0
    return SiteKpis(
        price_cost=float(np.clip(district * price, 0.0, None).sum()),
        emission_cost=float(np.clip(net * carbon[:, None], 0.0, None).sum()),
        ramping=float(np.abs(np.diff(district)).sum()),
        load_factor=load_factor_kpi(district),
        peak_kwh=float(district.max()) if district.size else 0.0,
        import_kwh=float(np.clip(net, 0.0, None).sum()),
        export_kwh=export,
        self_consumption=1.0 - export / pv_total if pv_total > 0 else float("nan"),
    )


def _ratio(value: float, base: float) -> float:
    if base == 0:
        return 1.0 if value == 0 else float("inf")
    return value / base


def citylearn_score(run: SiteKpis, baseline: SiteKpis) -> CityLearnScore:
    """CityLearn 2022 score of a run against its no-battery baseline.

    Examples
    --------
    >>> k = site_kpis(np.array([[1.0], [2.0], [0.5]]), np.ones(3), np.ones(3))
    >>> citylearn_score(k, k).score
    1.0
    """
    c = _ratio(run.price_cost, baseline.price_cost)
    g = _ratio(run.emission_cost, baseline.emission_cost)
    r = _ratio(run.ramping, baseline.ramping)
    lf = _ratio(run.load_factor, baseline.load_factor)
    d = (r + lf) / 2.0
    return CityLearnScore(
        price_cost=c,
        emission_cost=g,
        ramping=r,
        load_factor=lf,
        grid_cost=d,
        score=(c + g + d) / 3.0,
    )
