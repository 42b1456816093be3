"""The cost-to-go of the ESS energy a short plan leaves, and the plan that pays it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from ess_fixtures import flat_ess
from hypothesis import given, settings
from hypothesis import strategies as st

from bitgaram.optimize.cost_to_go import CostToGo
from bitgaram.optimize.park import ParkInputs, solve_park
from bitgaram.tariff.marginal import DemandChargeSlope

DT = 0.25


def _slope(threshold: float, rate: float = 8000.0) -> DemandChargeSlope:
    return DemandChargeSlope(
        month=pd.Period("2026-06", "M"),
        threshold_kw=threshold,
        rate=rate,
        excess_threshold_kw=float("inf"),
        excess_rate=0.0,
        carry_months=0,
        excluded_periods=(),
    )


def test_stored_energy_is_worth_the_demand_it_holds_down_then_the_energy_it_replaces() -> None:
    # Flat rate 100; two hours 100 kW above the 1,000 kW level: holding them needs 200 kWh.
    load = np.array([900.0] * 4 + [1100.0] * 8)
    tail = CostToGo(flat_ess(), DT, wear_cost=0.0, breakpoints=(0.0, 0.25, 0.5, 1.0))
    curve = tail(load, np.full(load.size, 100.0), np.ones(load.size, bool), _slope(1000.0))
    # The hour of room before the excess recharges up to the peak itself, so the peak P
    # balances (P - 900) x 1 h + E = (1100 - P) x 2 h: each kWh stored takes 1/3 kW off the
    # peak (8000 / 3) and replaces a kWh of import (100), up to E = 100 kWh ...
    assert curve.marginal_value(0.0) == pytest.approx(8000.0 / 3 + 100.0, rel=1e-6)
    # ... and past what the excess needs, a kWh only replaces a kWh of import.
    assert curve.marginal_value(300.0) == pytest.approx(100.0, rel=1e-6)
    assert np.all(np.diff(curve.cost) <= 1e-6)


def test_without_a_demand_charge_energy_is_worth_the_rates_it_can_still_meet() -> None:
    rate = np.array([230.0] * 4 + [150.0] * 4 + [100.0] * 8)  # peak, then mid, then light
    load = np.full(rate.size, 300.0)
    curve = CostToGo(flat_ess(power=400.0), DT, wear_cost=0.0)(
        load, rate, np.zeros(rate.size, bool)
    )
    # 300 kWh of peak-rate import to replace first (1 h at 300 kW), then mid-rate import.
    assert curve.marginal_value(0.0) == pytest.approx(230.0)
    assert curve.marginal_value(350.0) == pytest.approx(150.0)


@settings(max_examples=15, deadline=None)
@given(
    st.lists(st.floats(0.0, 1500.0), min_size=24, max_size=24),
    st.lists(st.floats(80.0, 250.0), min_size=24, max_size=24),
    st.floats(500.0, 1400.0),
    st.floats(0.0, 500.0),
)
def test_the_curve_is_convex_and_non_increasing(
    load: list[float], rate: list[float], level: float, flexible: float
) -> None:
    tail = CostToGo(flat_ess(eta=0.92), DT, breakpoints=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0))
    metered = np.arange(24) % 3 != 0
    curve = tail(
        np.array(load),
        np.array(rate),
        metered,
        _slope(level),
        limit_kw=2000.0,
        flexible_kwh=flexible,
    )
    slopes = curve.slopes()
    assert np.all(slopes <= 1e-6)
    assert np.all(np.diff(slopes) >= -1e-3 * (1.0 + np.abs(slopes[:-1])))


def _short_plan(rate_now: float, rate_tail: float, soc: float) -> ParkInputs:
    ess = flat_ess()
    curve = CostToGo(ess, DT, wear_cost=0.0)(
        np.full(8, 500.0), np.full(8, rate_tail), np.zeros(8, bool)
    )
    return ParkInputs(
        start=0,
        step_hours=DT,
        firm_kwh=np.full(1, 500.0 * DT),
        energy_rate=np.full(1, rate_now),
        carbon=np.zeros(1),
        metered=np.zeros(1, bool),
        battery=replace(ess, initial_soc_kwh=soc),
        battery_soc_kwh=np.array([soc]),
        cost_to_go=curve,
    )


def test_a_one_step_plan_buys_for_dear_hours_beyond_it_and_sells_before_cheap_ones() -> None:
    # The horizon's own lowest rate would value stored energy at the rate now: no reason to
    # move. The cost-to-go knows the hours after it.
    charge = solve_park(_short_plan(rate_now=100.0, rate_tail=230.0, soc=0.0))
    assert charge.battery_kwh[0, 0] == pytest.approx(200.0 * DT)
    discharge = solve_park(_short_plan(rate_now=230.0, rate_tail=100.0, soc=400.0))
    assert discharge.battery_kwh[0, 0] == pytest.approx(-200.0 * DT)
    flat = solve_park(replace(_short_plan(100.0, 230.0, 0.0), cost_to_go=None))
    assert flat.battery_kwh[0, 0] == pytest.approx(0.0)


def test_seconds_long_steps_are_valued_on_15_minute_windows() -> None:
    # A loop ticking every 60 s: 15 steps a window, one LP of windows, the same curve.
    load = np.repeat(np.array([900.0] * 4 + [1100.0] * 8), 15)
    rate = np.full(load.size, 100.0)
    metered = np.ones(load.size, bool)
    fine = CostToGo(replace(flat_ess(), step_hours=1 / 60), 1 / 60, wear_cost=0.0)
    coarse = CostToGo(flat_ess(), DT, wear_cost=0.0)
    a = fine(load, rate, metered, _slope(1000.0))
    b = coarse(load[::15], rate[::15], metered[::15], _slope(1000.0))
    assert fine.per_window == 15
    assert np.allclose(a.cost, b.cost) and np.allclose(a.energy_kwh, b.energy_kwh)
