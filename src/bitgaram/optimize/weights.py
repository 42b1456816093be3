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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitgaram.optimize.site import ObjectiveWeights

#: Smallest baseline rate used as a divisor (avoids infinite weights on empty data).
_EPS = 1e-9


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
    return BaselineRates(
        cost=float(np.clip(district * price, 0.0, None).sum()) / n,
        emissions=float(np.clip(net * np.asarray(carbon)[:, None], 0.0, None).sum()) / n,
        ramping=float(np.abs(np.diff(district)).sum()) / max(n - 1, 1),
        load_factor=float(np.mean(lf)) if lf else 0.5,
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
        return BaselineRates(
            cost=float(self._cost[t]) / n,
            emissions=float(self._emis[t]) / n,
            ramping=float(self._ramp[t]) / max(t - 1, 1),
            load_factor=float(np.mean(lf)) if lf else 0.5,
        )
