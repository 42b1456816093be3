"""Every LP the CityLearn MPC solves is well scaled (issue 21).

The objective's non-zero coefficients stay within :data:`COST_RANGE` at every step: the
weights over a whole year of running baseline rates (cheap, no LP), and the LPs the MPC
actually solves from a cold start in each quarter of the year, where the rates come from
almost no history (the worst case: a flat persistence forecast, one measured hour).
"""

from __future__ import annotations

import numpy as np
import pytest

from bitgaram.optimize import site as site_module
from bitgaram.optimize.mpc import WEAR_WEIGHT, MPCConfig, MPCController
from bitgaram.optimize.site import COST_RANGE, HorizonInput, Schedule, cost_range
from bitgaram.optimize.weights import (
    RunningBaselineRates,
    baseline_rates,
    peak_weight,
    score_weights,
)
from bitgaram.simulate import SiteData, simulate


def _within(lo: float, hi: float) -> bool:
    return COST_RANGE[0] <= lo and hi <= COST_RANGE[1]


def test_cost_range_ignores_zeros() -> None:
    assert cost_range(np.array([0.0, -3.0, 1e-3, 0.0])) == (1e-3, 3.0)
    assert cost_range(np.zeros(3)) == (0.0, 0.0)


def test_weights_within_range_over_a_year(citylearn_site: SiteData) -> None:
    net = citylearn_site.load_kwh - citylearn_site.pv_kwh
    price, carbon = citylearn_site.price, citylearn_site.carbon
    running = RunningBaselineRates(net, price, carbon)
    district = net.sum(axis=1)
    for t in range(1, len(net)):
        rates = running.at(t)
        w = score_weights(rates, WEAR_WEIGHT)
        values = [w.price * float(price[t]), w.carbon * float(carbon[t]), w.ramping]
        start = (t // 730) * 730
        part = district[start : max(t, start + 1)]
        values.append(peak_weight(float(part.mean()), float(part.max()), rates.load_factor))
        nz = [abs(v) for v in values if v != 0]
        assert _within(min(nz), max(nz)), (t, values)


def test_flat_history_does_not_blow_up_the_weights() -> None:
    """One flat hour of history and a flat forecast: rates floored, weights bounded."""
    net = np.full((24, 2), 1.5)
    rates = baseline_rates(net, np.full(24, 0.2), np.full(24, 0.4))
    assert rates.ramping > 0 and rates.load_factor > 0
    w = score_weights(rates)
    assert max(w.price, w.carbon, w.ramping) < 1e3
    assert peak_weight(3.0, 3.0, rates.load_factor, 730) < COST_RANGE[1]


@pytest.mark.parametrize("start", [0, 24 * 61, 24 * 182, 24 * 273])
def test_mpc_lps_within_range_from_a_cold_start(
    citylearn_site: SiteData, start: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    ranges: list[tuple[float, float]] = []
    constants: list[float] = []
    solve = site_module.SiteProblem.solve

    def record(self: site_module.SiteProblem, inp: HorizonInput) -> Schedule:
        out = solve(self, inp)
        ranges.append(self.cost_range)
        if inp.peak_floor is not None:
            finite = np.asarray(inp.peak_floor)[np.isfinite(inp.peak_floor)]
            constants.extend(np.abs(finite).tolist())
        return out

    monkeypatch.setattr(site_module.SiteProblem, "solve", record)
    site = citylearn_site.slice(start, start + 24 * 6).subset([0, 1, 2])
    simulate(site, MPCController(MPCConfig(horizon=24, n_scenarios=3, source="naive")))
    assert len(ranges) == 24 * 6 - 1
    lo = min(r[0] for r in ranges)
    hi = max(r[1] for r in ranges)
    assert _within(lo, hi), (lo, hi)
    # Peak floors are measured peaks (kWh of a few buildings), never placeholders.
    assert max(constants, default=0.0) < 1e3
