"""Objective weights derived from the CityLearn 2022 score, not tuned.

The score is ``(C/C0 + G/G0 + (R/R0 + L/L0)/2) / 3`` with ``C0 .. L0`` the
no-battery baseline KPIs (see :mod:`bitgaram.simulate.kpis`). Its first-order
change for a plan is a weighted sum of the LP's terms, with weights per step
(everything multiplied by the number of steps N, which does not change the
optimum):

- import cost: ``1 / (3 c0)`` per currency, ``c0`` the baseline cost per step;
- emissions: ``1 / (3 g0)`` per kgCO2, ``g0`` the baseline emissions per step;
- ramping: ``1 / (6 r0)`` per kWh of ``|dE|``, ``r0`` the baseline ramping per step;
- block peak: ``L = mean_blocks(1 - mean/max)``, so lowering a block's maximum by
  1 kWh changes ``N L`` by ``block * mean / max^2``; weight
  ``block * mean / max^2 / (6 L0)`` per kWh of that block's peak.

The baseline rates are whatever the caller can know: the oracle uses the whole
period, the MPC uses measured history plus the current forecast (causal).

Scaling. In the first hours of a run the rates are estimated from almost nothing
(one measured hour, a flat persistence forecast): a ramping or load-factor rate of 0
would make its weight infinite. Each rate is therefore floored at a small, stated
fraction of its own scale (:data:`MIN_RATE_FRACTION` of the mean absolute district
load, times the mean price or carbon intensity for cost and emissions, and
:data:`MIN_LOAD_FACTOR`), so every weight stays within a few orders of magnitude of
the others and the LP's objective coefficients within
:data:`bitgaram.optimize.site.COST_RANGE`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitgaram.optimize.site import ObjectiveWeights

#: Smallest baseline rate used as a divisor (avoids infinite weights on empty data).
_EPS = 1e-9

#: Floor of the cost, emissions and ramping rates as a fraction of their scale (the mean
#: absolute district load per step [kWh], times the mean price or carbon intensity): a
#: district whose baseline ramps by less than 1 % of its load per step is flat for the
#: score, and the weight of a flat quantity must not exceed 100x that of a typical one.
MIN_RATE_FRACTION = 0.01

#: Floor of the load-factor KPI ``1 - mean/max`` [-]: a block whose peak is within 5 % of
#: its mean (a flat forecast) caps the peak weight's ``1 / L0`` at 20.
MIN_LOAD_FACTOR = 0.05


@dataclass(frozen=True)
class BaselineRates:
    """No-battery baseline KPI rates per step.

    Attributes
    ----------
    cost : float
        Import cost per step [currency].
    emissions : float
        Building-level emissions per step [kgCO2].
    ramping : float
        District ramping per step [kWh].
    load_factor : float
        Load-factor KPI ``1 - mean/max`` [-].
    """

    cost: float
    emissions: float
    ramping: float
    load_factor: float


def baseline_rates(
    building_net: np.ndarray, price: np.ndarray, carbon: np.ndarray, block: int = 730
) -> BaselineRates:
    """Baseline KPI rates of no-battery net loads (n, B) [kWh], price and carbon (n,)."""
    net = np.asarray(building_net, dtype=float)
    n = max(len(net), 1)
    district = net.sum(axis=1)
    lf = []
    for s in range(0, len(district), block):
        part = district[s : s + block]
        if part.size and part.max() > 0:
            lf.append(1.0 - part.mean() / part.max())
    scale = float(np.abs(district).mean()) if district.size else 0.0
    floor = MIN_RATE_FRACTION * scale
    return BaselineRates(
        cost=max(
            float(np.clip(district * price, 0.0, None).sum()) / n,
            floor * float(np.mean(np.abs(price))) if district.size else 0.0,
        ),
        emissions=max(
            float(np.clip(net * np.asarray(carbon)[:, None], 0.0, None).sum()) / n,
            floor * float(np.mean(np.abs(carbon))) if district.size else 0.0,
        ),
        ramping=max(float(np.abs(np.diff(district)).sum()) / max(n - 1, 1), floor),
        load_factor=max(float(np.mean(lf)) if lf else 0.5, MIN_LOAD_FACTOR),
    )


def score_weights(rates: BaselineRates, throughput: float = 0.0) -> ObjectiveWeights:
    """LP term weights equal to the score's first-order sensitivities (see module docstring)."""
    return ObjectiveWeights(
        price=1.0 / (3.0 * max(rates.cost, _EPS)),
        carbon=1.0 / (3.0 * max(rates.emissions, _EPS)),
        ramping=1.0 / (6.0 * max(rates.ramping, _EPS)),
        throughput=throughput,
    )


def peak_weight(mean_kwh: float, peak_kwh: float, load_factor: float, block: int = 730) -> float:
    """Score sensitivity to one kWh of a block's peak: ``block * mean / max^2 / (6 L0)``."""
    if peak_kwh <= _EPS or mean_kwh <= 0:
        return 0.0
    return block * mean_kwh / peak_kwh**2 / (6.0 * max(load_factor, _EPS))


class RunningBaselineRates:
    """:func:`baseline_rates` of every prefix ``[0, t)`` of a history, in O(1) per query.

    The MPC needs the no-battery rates of everything measured so far at every
    step; recomputing them costs O(t) per step, O(N^2) per replay. Prefix sums
    (and a running maximum per load-factor block) give the same numbers.

    Parameters
    ----------
    building_net : numpy.ndarray
        No-battery net load per building, (N, B) [kWh].
    price, carbon : numpy.ndarray
        Import price (N,) [currency/kWh] and carbon intensity (N,) [kgCO2/kWh].
    block : int
        Load-factor block length [steps].
    """

    def __init__(
        self, building_net: np.ndarray, price: np.ndarray, carbon: np.ndarray, block: int = 730
    ) -> None:
        net = np.asarray(building_net, dtype=float)
        district = net.sum(axis=1)
        self.block = block
        zero = np.zeros(1)
        self._cost = np.concatenate([zero, np.cumsum(np.clip(district * price, 0.0, None))])
        emis = np.clip(net * np.asarray(carbon, dtype=float)[:, None], 0.0, None).sum(axis=1)
        self._emis = np.concatenate([zero, np.cumsum(emis)])
        ramp = np.abs(np.diff(district, prepend=district[:1] if district.size else zero))
        self._ramp = np.concatenate([zero, np.cumsum(ramp)])
        self._sum = np.concatenate([zero, np.cumsum(district)])
        self._abs = np.concatenate([zero, np.cumsum(np.abs(district))])
        self._price = np.concatenate([zero, np.cumsum(np.abs(np.asarray(price, dtype=float)))])
        self._carbon = np.concatenate([zero, np.cumsum(np.abs(np.asarray(carbon, dtype=float)))])
        # Running maximum within each block, and the load-factor term of every full block.
        self._runmax = np.empty_like(district)
        for s in range(0, district.size, block):
            self._runmax[s : s + block] = np.maximum.accumulate(district[s : s + block])
        n_full = district.size // block
        lf_terms = []
        for b in range(n_full):
            part = district[b * block : (b + 1) * block]
            lf_terms.append(1.0 - part.mean() / part.max() if part.max() > 0 else np.nan)
        self._full_lf = np.array(lf_terms)

    def at(self, t: int) -> BaselineRates:
        """Rates of the prefix ``[0, t)``; equal to ``baseline_rates(net[:t], ...)``."""
        n = max(t, 1)
        lf = [v for v in self._full_lf[: t // self.block] if np.isfinite(v)]
        start = (t // self.block) * self.block
        if t > start:
            peak = float(self._runmax[t - 1])
            if peak > 0:
                lf.append(1.0 - (self._sum[t] - self._sum[start]) / (t - start) / peak)
        floor = MIN_RATE_FRACTION * float(self._abs[t]) / n
        return BaselineRates(
            cost=max(float(self._cost[t]) / n, floor * float(self._price[t]) / n),
            emissions=max(float(self._emis[t]) / n, floor * float(self._carbon[t]) / n),
            ramping=max(float(self._ramp[t]) / max(t - 1, 1), floor),
            load_factor=max(float(np.mean(lf)) if lf else 0.5, MIN_LOAD_FACTOR),
        )
