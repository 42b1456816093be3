"""The ESS energy a coming load needs to stay under a level, and the plan's soft floor on it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from ess_fixtures import flat_ess

from bitgaram.optimize.demand import peak_reserve
from bitgaram.optimize.park import ParkInputs, solve_park
from bitgaram.tariff import TouTariff, demand_charge_slope, load_tariff

DT = 0.25


def test_the_reserve_is_the_excess_energy_less_what_the_room_before_it_recharges() -> None:
    level = 1000.0
    load = np.array([900.0] * 4 + [1100.0] * 8)  # 1 h with 100 kW of room, 2 h 100 kW over
    r = peak_reserve(load, np.ones(load.size, bool), level, flat_ess(), DT)
    assert r.energy_kwh == pytest.approx(200.0 - 100.0)
    assert r.excess_hours == pytest.approx(2.0)
    # Room after the excess does not help: reversed, the whole excess must be stored now.
    r = peak_reserve(load[::-1], np.ones(load.size, bool), level, flat_ess(), DT)
    assert r.energy_kwh == pytest.approx(200.0)


def test_losses_power_and_capacity_bound_the_reserve() -> None:
    load = np.full(8, 1100.0)  # 2 h, 100 kW over
    lossy = peak_reserve(load, np.ones(8, bool), 1000.0, flat_ess(eta=0.81), DT)
    assert lossy.energy_kwh == pytest.approx(200.0 / 0.9)
    # The ESS cannot discharge more than its power: the part above it is not its to carry.
    high = peak_reserve(np.full(8, 1500.0), np.ones(8, bool), 1000.0, flat_ess(power=200.0), DT)
    assert high.energy_kwh == pytest.approx(400.0)
    # Never more than it can hold.
    big = peak_reserve(np.full(40, 1150.0), np.ones(40, bool), 1000.0, flat_ess(), DT)
    assert big.energy_kwh == pytest.approx(400.0)


def test_unmetered_steps_charge_up_to_the_connection_limit_only() -> None:
    # 1 h unmetered (light load) then 1 h 200 kW over the level.
    load = np.array([1000.0] * 4 + [1200.0] * 4)
    metered = np.array([False] * 4 + [True] * 4)
    free = peak_reserve(load, metered, 1000.0, flat_ess(), DT)
    assert free.energy_kwh == pytest.approx(0.0)  # 200 kW of charging for an hour covers it
    tight = peak_reserve(load, metered, 1000.0, flat_ess(), DT, limit_kw=1050.0)
    assert tight.energy_kwh == pytest.approx(200.0 - 50.0)
    # Excess on unmetered steps costs nothing.
    none = peak_reserve(load, np.zeros(8, bool), 1000.0, flat_ess(), DT)
    assert none.energy_kwh == 0.0 and none.excess_hours == 0.0


def _inputs(reserve_kwh: float, value: float) -> ParkInputs:
    tariff = load_tariff("kepco-industrial-eul-high-a", option="II")
    assert isinstance(tariff, TouTariff)
    h = 8
    slope = demand_charge_slope(tariff, pd.Period("2026-06", "M"), 2000.0)
    ess = flat_ess()
    return ParkInputs(
        start=0,
        step_hours=DT,
        firm_kwh=np.full(h, 500.0) * DT,
        energy_rate=np.full(h, 130.0),
        carbon=np.zeros(h),
        metered=np.zeros(h, bool),
        demand=slope,
        battery=ess,
        battery_soc_kwh=np.array([0.0]),
        reserve_kwh=reserve_kwh,
        reserve_value=value,
    )


def test_the_plan_stores_the_reserve_when_it_is_worth_its_energy() -> None:
    # Flat energy rate: without a reserve, charging only loses the round trip.
    plain = solve_park(_inputs(0.0, 0.0))
    assert plain.battery_kwh.sum() == pytest.approx(0.0, abs=1e-6)
    kept = solve_park(_inputs(150.0, 5000.0))
    assert kept.battery_kwh.sum() == pytest.approx(150.0, rel=1e-6)
    # A reserve worth less than its cost (here the wear of charging, 0.5 KRW/kWh) is not bought.
    cheap = solve_park(_inputs(150.0, 0.1))
    assert cheap.battery_kwh.sum() == pytest.approx(0.0, abs=1e-6)
    # Beyond what the horizon can charge (8 x 50 kWh), the plan still exists and charges all.
    most = solve_park(_inputs(1000.0, 5000.0))
    assert most.battery_kwh.sum() == pytest.approx(400.0, rel=1e-6)


def test_a_peak_planned_for_later_does_not_make_a_rise_now_free() -> None:
    tariff = load_tariff("kepco-industrial-eul-high-a", option="II")
    assert isinstance(tariff, TouTariff)
    slope = demand_charge_slope(tariff, pd.Period("2026-06", "M"), 1000.0)
    # At the billing level now, 300 kW over it in the next interval; an empty 50 kWh ESS.
    inp = ParkInputs(
        start=0,
        step_hours=DT,
        firm_kwh=np.array([1000.0, 1300.0]) * DT,
        energy_rate=np.full(2, 177.8),
        carbon=np.zeros(2),
        metered=np.ones(2, bool),
        demand=slope,
        battery=flat_ess(capacity=50.0),
        battery_soc_kwh=np.array([0.0]),
    )
    # The horizon's peak alone: charging now to shave the next interval lowers the planned
    # peak, and the rise it makes now costs nothing more under that peak.
    free = solve_park(inp)
    assert free.grid_kwh[0] / DT > 1100.0
    assert free.peak_kw < 1200.0
    # Only the interval now is executed: its own rise above the level is priced too.
    held = solve_park(replace(inp, hold_first_kw=1000.0))
    assert held.grid_kwh[0] / DT == pytest.approx(1000.0, abs=1e-6)
    # Unmetered now: nothing to hold.
    light = solve_park(replace(inp, hold_first_kw=1000.0, metered=np.array([False, True])))
    assert light.grid_kwh[0] / DT > 1100.0


def test_flexible_loads_due_take_the_light_load_room_first() -> None:
    # 2 h of light load with 300 kW under the limit, then 1 h 100 kW over the level.
    load = np.array([1000.0] * 8 + [1100.0] * 4)
    metered = np.array([False] * 8 + [True] * 4)
    alone = peak_reserve(load, metered, 1000.0, flat_ess(), DT, limit_kw=1300.0)
    assert alone.energy_kwh == pytest.approx(0.0)
    # 500 kWh of jobs and vehicles fill the latest 500 kWh of the 600 kWh under the limit; the
    # 200 kW ESS charges 25 + 50 kWh in what is left, and must hold the rest of the excess.
    crowded = peak_reserve(
        load, metered, 1000.0, flat_ess(), DT, limit_kw=1300.0, flexible_kwh=500.0
    )
    assert crowded.energy_kwh == pytest.approx(100.0 - 75.0)
    packed = peak_reserve(
        load, metered, 1000.0, flat_ess(), DT, limit_kw=1300.0, flexible_kwh=560.0
    )
    assert packed.energy_kwh == pytest.approx(60.0)
    # Without a connection limit the room is unbounded, and flexible loads do not bind.
    assert peak_reserve(load, metered, 1000.0, flat_ess(), DT, flexible_kwh=1e6).energy_kwh == 0.0
    # Light hours after the metered ones do not take loads due before them.
    later = np.concatenate([load, np.full(8, 1000.0)])
    after = np.concatenate([metered, np.zeros(8, bool)])
    again = peak_reserve(later, after, 1000.0, flat_ess(), DT, limit_kw=1300.0, flexible_kwh=500.0)
    assert again.energy_kwh == pytest.approx(crowded.energy_kwh)
