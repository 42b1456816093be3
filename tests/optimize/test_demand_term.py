"""The demand-charge term prices only the peak above the running billing demand."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from bitgaram.assets.battery import BatteryParams
from bitgaram.optimize.park import ParkInputs, solve_park
from bitgaram.tariff import demand_charge_slope, load_tariff

H = 96
DT = 0.25


@pytest.fixture(scope="module")
def tariff():  # type: ignore[no-untyped-def]
    return load_tariff("kepco-industrial-eul-high-a", option="I")


def _battery() -> BatteryParams:
    return BatteryParams(
        capacity_kwh=400.0,
        nominal_power_kw=200.0,
        initial_soc_kwh=400.0,
        efficiency_curve=((0.0, 1.0), (1.0, 1.0)),
        power_curve=((0.0, 1.0), (1.0, 1.0)),
        step_hours=DT,
    )


def _inputs(tariff, running_kw: float, firm_kw: np.ndarray) -> ParkInputs:  # type: ignore[no-untyped-def]
    slope = demand_charge_slope(tariff, pd.Period("2026-06", "M"), running_kw)
    return ParkInputs(
        start=0,
        step_hours=DT,
        firm_kwh=firm_kw * DT,
        energy_rate=np.full(H, 100.0),  # flat: only the demand term moves the battery
        carbon=np.zeros(H),
        metered=np.ones(H, dtype=bool),
        demand=slope,
        battery=_battery(),
        battery_soc_kwh=np.array([400.0]),
        wear_cost=0.0,
    )


def _spike() -> np.ndarray:
    firm = np.full(H, 500.0)
    firm[60:64] = 800.0  # a one-hour spike
    return firm


def test_peak_above_running_billing_demand_is_shaved(tariff) -> None:  # type: ignore[no-untyped-def]
    plan = solve_park(_inputs(tariff, 0.0, _spike()))
    # The battery can take 200 kW off the spike (it holds 400 kWh, the spike needs 300).
    assert plan.peak_kw == pytest.approx(600.0, abs=1e-3)
    assert plan.grid_kwh.max() / DT == pytest.approx(600.0, abs=1e-3)


def test_peak_below_ratchet_costs_nothing_more(tariff) -> None:  # type: ignore[no-untyped-def]
    # Billing demand already 900 kW (ratchet): an 800 kW spike adds no demand charge, so the
    # plan's cost is energy only and equals the no-battery cost of the same energy.
    inputs = _inputs(tariff, 900.0, _spike())
    plan = solve_park(inputs)
    energy_only = float((inputs.firm_kwh * 100.0).sum()) - 400.0 * 100.0  # terminal value
    assert plan.objective == pytest.approx(energy_only, rel=1e-6)


def test_excluded_periods_do_not_count(tariff) -> None:  # type: ignore[no-untyped-def]
    inputs = _inputs(tariff, 0.0, _spike())
    metered = np.ones(H, dtype=bool)
    metered[60:64] = False  # the spike falls in light load
    from dataclasses import replace

    plan = solve_park(replace(inputs, battery=None, battery_soc_kwh=None, metered=metered))
    assert plan.peak_kw == pytest.approx(500.0, abs=1e-6)


def test_demand_cost_matches_tariff_slope(tariff) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    inputs = replace(_inputs(tariff, 300.0, _spike()), battery=None, battery_soc_kwh=None)
    plan = solve_park(inputs)
    assert inputs.demand is not None
    energy = float((inputs.firm_kwh * 100.0).sum())
    assert plan.objective - energy == pytest.approx(float(inputs.demand.cost(800.0)), rel=1e-9)


def test_peak_outlook_shaves_what_the_energy_allows_on_metered_steps_only() -> None:
    from bitgaram.assets.battery import BatteryParams
    from bitgaram.optimize.demand import PeakOutlook

    ess = BatteryParams(
        capacity_kwh=200.0,
        nominal_power_kw=100.0,
        initial_soc_kwh=0.0,
        efficiency_curve=((0.0, 1.0), (1.0, 1.0)),
        power_curve=((0.0, 1.0), (1.0, 1.0)),
        step_hours=1.0,
    )
    outlook = PeakOutlook(ess, 1.0)
    load = np.array([50.0, 50.0, 400.0, 400.0, 100.0])
    metered = np.array([False, False, True, True, True])
    # Empty ESS: it charges 200 kWh in the two unmetered hours (100 kW each, a new peak
    # there is free), then shaves 100 kW off both metered peaks.
    assert outlook(load, metered, 0.0) == pytest.approx(300.0)
    # With every step metered, charging counts too: with 260 kW before the peak, the level
    # L balances the charge 2 (L - 260) against the shave 2 (400 - L): L = 330.
    busy = np.array([260.0, 260.0, 400.0, 400.0, 100.0])
    assert outlook(busy, np.ones(5, bool), 0.0) == pytest.approx(330.0, rel=1e-6)
    # Same LP re-solved: a full ESS from the start, nothing metered.
    assert outlook(load, metered, 200.0) == pytest.approx(300.0)
    assert outlook(load, np.zeros(5, bool), 200.0) == 0.0


def test_peak_outlook_of_short_steps_works_on_15_minute_windows() -> None:
    """A 2-s control loop: the outlook averages into demand windows (96 a day, not 43,200)."""
    from bitgaram.assets.battery import BatteryParams
    from bitgaram.optimize.demand import PeakOutlook

    def ess(step_hours: float) -> BatteryParams:
        return BatteryParams(
            capacity_kwh=200.0,
            nominal_power_kw=100.0,
            initial_soc_kwh=0.0,
            efficiency_curve=((0.0, 1.0), (1.0, 1.0)),
            power_curve=((0.0, 1.0), (1.0, 1.0)),
            step_hours=step_hours,
        )

    rng = np.random.default_rng(5)
    windows = 96
    window_kw = 300.0 + 100.0 * np.sin(np.arange(windows) / 8.0)
    spikes = rng.normal(0.0, 40.0, (windows, 450))
    spikes -= spikes.mean(axis=1, keepdims=True)  # 2-s noise that averages out per window
    fine = (window_kw[:, None] + spikes).ravel()
    metered = np.ones(fine.size, bool)
    short = PeakOutlook(ess(2 / 3600), 2 / 3600)
    assert short.per_window == 450 and short.step_hours == 0.25
    got = short(fine, metered, 0.0)
    want = PeakOutlook(ess(0.25), 0.25)(window_kw, np.ones(windows, bool), 0.0)
    assert got == pytest.approx(want, rel=1e-6)
    assert got < fine.max() - 50.0  # the 2-s spikes are not a billed peak
    assert list(short._built) == [windows]  # one LP of 96 windows
    # A window is metered if any of its steps is; a partial last window still counts (its
    # average, shaved by the ESS's 100 kW after charging in the unmetered windows before).
    only_last = np.zeros(fine.size - 100, bool)
    only_last[-1] = True
    tail = short(fine[:-100], only_last, 0.0)
    assert tail == pytest.approx(fine[-450:-100].mean() - 100.0, rel=1e-6)


def test_margin_keeps_room_under_the_billing_peak_and_the_limit() -> None:
    from bitgaram.assets.battery import BatteryParams
    from bitgaram.optimize.park import ParkInputs, solve_park

    t = load_tariff("kepco-industrial-eul-high-a", option="I")
    h = 4
    base = ParkInputs(
        start=0,
        step_hours=0.25,
        firm_kwh=np.full(h, 500.0) * 0.25,
        energy_rate=np.full(h, 100.0),
        carbon=np.zeros(h),
        metered=np.ones(h, bool),
        demand=demand_charge_slope(t, pd.Period("2026-06", "M"), 550.0),
        limit_kw=600.0,
        battery=BatteryParams(
            capacity_kwh=400.0,
            nominal_power_kw=200.0,
            initial_soc_kwh=100.0,
            efficiency_curve=((0.0, 0.9), (1.0, 0.9)),
            power_curve=((0.0, 1.0), (1.0, 1.0)),
            step_hours=0.25,
        ),
        battery_soc_kwh=np.array([100.0]),
    )
    free = solve_park(base)
    assert free.grid_kwh.max() / 0.25 == pytest.approx(500.0)  # under the peak: ESS idle
    held = solve_park(replace(base, margin_kw=np.full(h, 120.0)))
    # Import plus the margin stays under the 550 kW billing peak: the ESS discharges.
    assert held.grid_kwh.max() / 0.25 <= 550.0 - 120.0 + 1e-6
    assert held.overload_kwh == 0.0
