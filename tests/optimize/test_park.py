"""Park coordination: the shared connection limit holds; the savings split is fair."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitgaram.assets.battery import BatteryParams
from bitgaram.assets.ev import Vehicle
from bitgaram.assets.jobs import Job, JobState
from bitgaram.optimize.park import PARK_MEMBER, ParkInputs, solve_park, split_savings
from bitgaram.tariff import demand_charge_slope, load_tariff

H = 48
DT = 0.25


def _park(firm_kw: np.ndarray, limit: float) -> ParkInputs:
    rate = np.where(np.arange(H) < 24, 100.0, 230.0)
    t = load_tariff("kepco-industrial-eul-high-a", option="I")
    import pandas as pd

    return ParkInputs(
        start=0,
        step_hours=DT,
        firm_kwh=firm_kw * DT,
        energy_rate=rate,
        carbon=np.full(H, 0.4),
        metered=np.arange(H) >= 24,
        demand=demand_charge_slope(t, pd.Period("2026-06", "M"), 0.0),
        limit_kw=limit,
        battery=BatteryParams(
            capacity_kwh=300.0,
            nominal_power_kw=150.0,
            initial_soc_kwh=100.0,
            efficiency_curve=((0.0, 0.9), (1.0, 0.9)),
            power_curve=((0.0, 1.0), (1.0, 1.0)),
            step_hours=DT,
        ),
        battery_soc_kwh=np.array([100.0]),
        vehicles=tuple(
            (Vehicle(f"a-ev{i}", 4 * i, H - 4 * i, 10.0, 40.0, 60.0, 11.0, tenant="a"), 10.0)
            for i in range(4)
        ),
        jobs=(
            (Job("b-oven", (150.0,) * 8, 0, H, tenant="b"), JobState()),
            (Job("b-gpu", (100.0,) * 12, 0, H, interruptible=True, tenant="b"), JobState()),
        ),
    )


@settings(max_examples=10, deadline=None)
@given(
    st.lists(st.floats(100.0, 400.0), min_size=H, max_size=H),
    st.floats(550.0, 900.0),
)
def test_connection_limit_is_never_exceeded(firm: list[float], limit: float) -> None:
    plan = solve_park(_park(np.array(firm), limit))
    assert plan.overload_kwh == pytest.approx(0.0, abs=1e-6)
    assert plan.grid_kwh.max() <= limit * DT + 1e-6


def test_overload_is_reported_when_firm_load_alone_exceeds_the_limit() -> None:
    firm = np.full(H, 300.0)
    firm[10] = 2000.0  # far beyond what ESS and holding back loads can cover
    plan = solve_park(_park(firm, 600.0))
    assert plan.grid_kwh.max() <= 600.0 * DT + 1e-6
    assert plan.overload_kwh > 0


def test_savings_split_sums_to_the_saving_and_rewards_flexibility() -> None:
    inputs = _park(np.full(H, 250.0), 900.0)
    split = split_savings(inputs, ["a", "b", "c", PARK_MEMBER])
    assert split.saving > 0
    assert sum(split.share.values()) == pytest.approx(split.saving, rel=1e-9)
    assert split.share["c"] == pytest.approx(0.0, abs=1e-6)  # owns nothing flexible
    for m in ("a", "b", PARK_MEMBER):
        assert split.share[m] > 0


def test_frozen_member_cannot_lower_the_cost() -> None:
    inputs = _park(np.full(H, 250.0), 900.0)
    full = solve_park(inputs).objective
    no_ess = solve_park(replace(inputs, battery=None, battery_soc_kwh=None)).objective
    assert no_ess >= full - 1e-6


def test_a_given_saving_is_split_in_the_same_proportions() -> None:
    inputs = _park(np.full(H, 250.0), 900.0)
    own = split_savings(inputs, ["a", "b", PARK_MEMBER])
    given_ = split_savings(inputs, ["a", "b", PARK_MEMBER], saving=1000.0)
    assert sum(given_.share.values()) == pytest.approx(1000.0)
    for m in own.share:
        assert given_.share[m] / 1000.0 == pytest.approx(own.share[m] / own.saving, rel=1e-6)
