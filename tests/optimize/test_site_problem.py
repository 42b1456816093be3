"""The site LP: arbitrage, limits, infeasibility."""

from __future__ import annotations

import numpy as np
import pytest

from bitgaram.assets.battery import BatteryParams
from bitgaram.errors import SolveError
from bitgaram.optimize.problem import LinearProgram, Status, solve_lp
from bitgaram.optimize.site import HorizonInput, ObjectiveWeights, SiteLimits, SiteProblem

LOSSLESS = BatteryParams(
    capacity_kwh=np.array([4.0]),
    nominal_power_kw=np.array([2.0]),
    efficiency_curve=((0.0, 1.0), (1.0, 1.0)),
    power_curve=((0.0, 1.0), (1.0, 1.0)),
)


def _input(h: int, load: float = 3.0, **kw: object) -> HorizonInput:
    price = np.where(np.arange(h) < h // 2, 0.1, 0.5)
    args: dict = dict(
        building_net=np.full((1, h), load),
        district_net=np.full(h, load),
        price=price,
        carbon=np.zeros(h),
        soc_kwh=np.zeros(1),
        capacity_kwh=np.array([4.0]),
        weights=ObjectiveWeights(price=1.0, throughput=0.0),
    )
    args.update(kw)
    return HorizonInput(**args)


def test_lossless_battery_arbitrages_the_price_spread() -> None:
    prob = SiteProblem(LOSSLESS, 8)
    sched = prob.solve(_input(8))
    assert sched.status is Status.OPTIMAL
    cheap, dear = sched.battery_kwh[0, :4], sched.battery_kwh[0, 4:]
    assert cheap.sum() == pytest.approx(4.0)
    assert dear.sum() == pytest.approx(-4.0)
    assert np.all(cheap >= -1e-9) and np.all(dear <= 1e-9)
    assert sched.objective == pytest.approx(4 * 3 * 0.1 + 4 * 3 * 0.5 + 4 * 0.1 - 4 * 0.5)


def test_no_arbitrage_without_spread_and_with_losses() -> None:
    lossy = BatteryParams(capacity_kwh=np.array([4.0]), nominal_power_kw=np.array([2.0]))
    prob = SiteProblem(lossy, 6)
    sched = prob.solve(
        _input(6, price=np.full(6, 0.3), weights=ObjectiveWeights(1.0, throughput=1e-4))
    )
    assert np.allclose(sched.battery_kwh, 0.0, atol=1e-9)


def test_import_limit_is_respected_and_infeasible_limit_raises() -> None:
    prob = SiteProblem(LOSSLESS, 4, limits=SiteLimits(import_kwh=2.5))
    sched = prob.solve(_input(4, load=3.0, soc_kwh=np.array([4.0])))
    assert np.all(sched.district_net_kwh <= 2.5 + 1e-7)
    with pytest.raises(SolveError, match="infeasible"):
        prob.solve(_input(4, load=3.0))  # empty battery cannot shave 0.5 kWh


def test_solve_lp_reports_unbounded() -> None:
    lp = LinearProgram()
    lp.add_variables((1,), lb=0.0, cost=-1.0)
    with pytest.raises(SolveError):
        solve_lp(lp)


def test_ramping_term_smooths_a_step() -> None:
    h = 6
    net = np.r_[np.full(3, 1.0), np.full(3, 3.0)]
    prob = SiteProblem(LOSSLESS, h)
    inp = _input(
        h,
        building_net=net[None, :],
        district_net=net,
        price=np.full(h, 0.0),
        soc_kwh=np.array([2.0]),
        weights=ObjectiveWeights(price=0.0, ramping=1.0, throughput=0.0),
        previous_district_net=1.0,
    )
    sched = prob.solve(inp)
    ramp_before = np.abs(np.diff(np.r_[1.0, net])).sum()
    ramp_after = np.abs(np.diff(np.r_[1.0, sched.district_net_kwh])).sum()
    assert ramp_after < ramp_before
