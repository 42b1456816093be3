"""EV fleet: every vehicle leaves with its energy; infeasible input names the vehicle."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitgaram.assets.ev import Vehicle, check_vehicles, step_vehicle
from bitgaram.errors import DataError
from bitgaram.optimize.park import ParkInputs, solve_park

H = 48
DT = 0.25


def _inputs(vehicles: list[tuple[Vehicle, float]], rate: np.ndarray | None = None) -> ParkInputs:
    return ParkInputs(
        start=0,
        step_hours=DT,
        firm_kwh=np.full(H, 50.0),
        energy_rate=np.linspace(200.0, 100.0, H) if rate is None else rate,
        carbon=np.zeros(H),
        metered=np.zeros(H, dtype=bool),
        vehicles=tuple(vehicles),
    )


def _final_energy(v: Vehicle, stored: float, plan_kwh: np.ndarray) -> float:
    e = stored
    for g in plan_kwh:
        e += g * v.efficiency if g >= 0 else g / v.efficiency
    return e


@st.composite
def feasible_vehicle(draw: st.DrawFn, i: int = 0) -> Vehicle:
    arrival = draw(st.integers(0, H - 8))
    departure = draw(st.integers(arrival + 4, H))
    charger = draw(st.sampled_from([3.7, 7.0, 11.0]))
    cap = 60.0
    reach = (departure - arrival) * charger * DT * 0.95
    arr_kwh = draw(st.floats(0.0, 30.0))
    req = draw(st.floats(arr_kwh, min(cap, arr_kwh + reach)))
    v2g = draw(st.sampled_from([0.0, 7.0]))
    return Vehicle(f"v{i}", arrival, departure, arr_kwh, req, cap, charger, v2g_kw=v2g)


@settings(max_examples=15, deadline=None)
@given(st.lists(feasible_vehicle(), min_size=1, max_size=5))
def test_every_vehicle_leaves_with_its_energy(vehicles: list[Vehicle]) -> None:
    vehicles = [
        Vehicle(
            f"v{i}",
            v.arrival,
            v.departure,
            v.arrival_kwh,
            v.required_kwh,
            v.capacity_kwh,
            v.charger_kw,
            v.v2g_kw,
        )
        for i, v in enumerate(vehicles)
    ]
    plan = solve_park(_inputs([(v, v.arrival_kwh) for v in vehicles]))
    for v in vehicles:
        kwh = plan.ev_kwh[v.id]
        assert _final_energy(v, v.arrival_kwh, kwh) >= v.required_kwh - 1e-6
        # no energy outside the plug-in window, within the charger limit
        outside = np.ones(H, dtype=bool)
        outside[v.arrival : v.departure] = False
        assert np.all(np.abs(kwh[outside]) < 1e-9)
        assert np.all(kwh <= v.charger_kw * DT + 1e-9)
        assert np.all(kwh >= -v.v2g_kw * DT - 1e-9)


def test_smart_charging_uses_cheap_steps() -> None:
    v = Vehicle("van", 0, H, 10.0, 20.0, 60.0, 11.0)
    plan = solve_park(_inputs([(v, 10.0)]))  # rate falls over the horizon
    kwh = plan.ev_kwh["van"]
    assert kwh[: H // 2].sum() < 1e-9 < kwh[H // 2 :].sum()


def test_v2g_discharges_into_expensive_steps() -> None:
    rate = np.full(H, 100.0)
    rate[:8] = 400.0  # expensive first two hours
    v = Vehicle("v2g", 0, H, 40.0, 40.0, 60.0, 11.0, v2g_kw=11.0)
    plan = solve_park(_inputs([(v, 40.0)], rate))
    assert plan.ev_kwh["v2g"][:8].min() < 0  # feeds back while expensive
    assert _final_energy(v, 40.0, plan.ev_kwh["v2g"]) >= 40.0 - 1e-6


def test_infeasible_vehicle_is_named() -> None:
    short = Vehicle("van-07", 0, 4, 0.0, 50.0, 60.0, 11.0)  # 1 h at 11 kW cannot give 50 kWh
    with pytest.raises(DataError, match="van-07"):
        check_vehicles([short], DT)
    with pytest.raises(DataError, match="van-07"):
        solve_park(_inputs([(short, 0.0)]))


def test_simulator_forces_charge_at_zero_laxity() -> None:
    v = Vehicle("car", 0, 4, 10.0, 20.0, 60.0, 11.0)
    e = 10.0
    for t in range(4):  # the controller asks for nothing
        e, _ = step_vehicle(v, e, 0.0, t, DT)
    assert e >= 20.0 - 1e-9


def _tail_case(rate_now: float, rate_later: float, v2g: float = 0.0) -> tuple[ParkInputs, Vehicle]:
    # A van plugged through the 4-step horizon and 12 steps after it (which could charge it
    # fully), 10 kWh stored, leaving with 50 kWh.
    van = Vehicle("van", 0, 16, 10.0, 50.0, 60.0, 20.0, v2g, efficiency=0.9)
    inp = ParkInputs(
        start=0,
        step_hours=DT,
        firm_kwh=np.full(4, 50.0),
        energy_rate=np.full(4, rate_now),
        carbon=np.zeros(4),
        metered=np.zeros(4, dtype=bool),
        vehicles=((van, 10.0),),
        tail_rate=np.full(12, rate_later),
    )
    return inp, van


def test_a_vehicle_leaving_later_charges_now_when_later_is_dearer() -> None:
    inp, van = _tail_case(rate_now=100.0, rate_later=230.0)
    plan = solve_park(inp).ev_kwh["van"]
    # Every step at full power: 4 x 5 kWh, bought at 100 instead of 230.
    assert plan == pytest.approx(np.full(4, van.charger_kw * DT))
    # Without the rates after the horizon the same plan defers it all to steps it cannot see.
    assert solve_park(replace(inp, tail_rate=None)).ev_kwh["van"] == pytest.approx(np.zeros(4))


def test_a_vehicle_leaving_later_waits_when_later_is_cheaper_and_never_sells_for_free() -> None:
    inp, _ = _tail_case(rate_now=230.0, rate_later=100.0, v2g=20.0)
    plan = solve_park(inp).ev_kwh["van"]
    # V2G at 230 and buying back at 100 / 0.9 with 0.9 on the way out pays here ...
    assert plan.min() < 0.0
    # ... but not when buying back costs more than selling earns.
    inp2, _ = _tail_case(rate_now=150.0, rate_later=140.0, v2g=20.0)
    assert solve_park(inp2).ev_kwh["van"] == pytest.approx(np.zeros(4))
