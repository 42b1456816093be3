"""The park planner keeps ESS energy for the part of the typical day its horizon cannot see.

Two ways: the cost-to-go of the typical day beyond the horizon (the default), and the
earlier reserve with its shortfall price (``cost_to_go=False``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from park_fixtures import park_site

from bitgaram.control.planner import ParkPlanner, flexible_kwh
from bitgaram.control.state import EVSession, JobItem, ParkSnapshot
from bitgaram.optimize.park import solve_park
from bitgaram.tariff import TouTariff, load_tariff

HOUR = pd.Timedelta(hours=1)


def _firm(at: pd.Timestamp, busy_kw: float = 400.0) -> float:
    # Working days: busy 09-18 local (Asia/Seoul); weekends flat and quiet.
    local = at.tz_convert("Asia/Seoul")
    if local.day_of_week >= 5:
        return 100.0
    return 500.0 + (busy_kw if 9 <= local.hour < 18 else 0.0) + local.hour


def _planner(
    at: pd.Timestamp, busy_kw: float = 400.0, horizon: int = 1, cost_to_go: bool = False
) -> ParkPlanner:
    tariff = load_tariff("kepco-industrial-eul-high-a", option="II")
    assert isinstance(tariff, TouTariff)
    past = pd.date_range(at - pd.Timedelta(days=7), at - HOUR, freq=HOUR)
    history = pd.Series([_firm(t, busy_kw) for t in past], index=past)
    return ParkPlanner(
        park_site(),
        tariff,
        horizon=horizon,
        interval_s=3600.0,
        history_kw=history,
        cost_to_go=cost_to_go,
    )


def test_before_a_busy_day_the_plan_charges_for_what_lies_beyond_its_horizon() -> None:
    eight = pd.Timestamp("2026-06-09 08:00", tz="Asia/Seoul").tz_convert("UTC")
    planner = _planner(eight)
    snap = ParkSnapshot(eight, _firm(eight - HOUR), eight, 0.0)
    inp = planner.inputs(snap, 0.0, 1e4)
    # The busy hours 09-18 (beyond the one-hour horizon) lie above the level the ESS can hold
    # the day to: the plan must end its horizon with energy stored, priced per kWh at the
    # demand rate spread over those hours.
    assert planner.reserve is not None and planner.reserve.excess_hours == pytest.approx(9.0)
    assert 0.0 < inp.reserve_kwh <= 320.0  # the usable 80 % of 400 kWh
    assert inp.demand is not None
    assert inp.reserve_value == pytest.approx(inp.demand.rate / 9.0)
    charged = solve_park(inp).battery_kwh[0, 0]
    assert charged > 0.0
    # The same interval without the reserve: charging at the mid-load rate to be valued at
    # the same rate loses the round trip, so the plan would idle.
    assert solve_park(replace(inp, reserve_kwh=0.0)).battery_kwh[0, 0] == pytest.approx(0.0)


def test_no_reserve_when_the_billing_level_already_covers_the_day() -> None:
    eight = pd.Timestamp("2026-06-09 08:00", tz="Asia/Seoul").tz_convert("UTC")
    planner = _planner(eight)
    snap = ParkSnapshot(eight, _firm(eight - HOUR), eight, 0.0)
    # The month already pays for a peak above anything the typical day reaches.
    inp = planner.inputs(snap, 2000.0, 1e4)
    assert inp.reserve_kwh == 0.0
    assert np.allclose(solve_park(inp).battery_kwh, 0.0)


def test_the_reserve_grows_with_the_excess_it_must_carry() -> None:
    eight = pd.Timestamp("2026-06-09 08:00", tz="Asia/Seoul").tz_convert("UTC")
    small, large = _planner(eight, busy_kw=300.0), _planner(eight, busy_kw=400.0)
    snap_s = ParkSnapshot(eight, _firm(eight - HOUR, 300.0), eight, 0.0)
    snap_l = ParkSnapshot(eight, _firm(eight - HOUR, 400.0), eight, 0.0)
    # With a billing level of 850 kW already set, 09-18 stay under it (300 kW busier) or go
    # about 60 kW over it (400 kW busier): only the excess needs stored energy.
    r_s = small.inputs(snap_s, 850.0, 1e4).reserve_kwh
    r_l = large.inputs(snap_l, 850.0, 1e4).reserve_kwh
    assert r_s == pytest.approx(0.0)
    assert r_l > 100.0


def test_flexible_energy_counts_what_is_due_within_the_outlook_only() -> None:
    at = pd.Timestamp("2026-06-09 00:00", tz="UTC")
    day = pd.Timedelta(days=1)
    jobs = (
        JobItem("oven", 400.0, 8, at, at + pd.Timedelta(hours=22), interruptible=False),
        JobItem("next-week", 400.0, 8, at + 7 * day, at + 8 * day),
        JobItem("running", 600.0, 4, at, at + pd.Timedelta(hours=6), started=True),
    )
    evs = (
        EVSession("van", 20.0, 54.0, 60.0, at + pd.Timedelta(hours=6), 11.0, efficiency=0.85),
        EVSession("full", 60.0, 54.0, 60.0, at + pd.Timedelta(hours=6), 11.0),
        EVSession("later", 20.0, 54.0, 60.0, at + 2 * day, 11.0),
    )
    snap = ParkSnapshot(at, 1000.0, at, 0.0, evs, jobs)
    # The unstarted oven (8 x 400 kW x 0.25 h) and the van's 34 kWh at 85 %; a started job is
    # firm load already, a full car needs nothing, the rest is due after the outlook.
    assert flexible_kwh(snap, 0.25, day) == pytest.approx(800.0 + 34.0 / 0.85)


def test_the_cost_to_go_keeps_energy_for_the_busy_day_beyond_the_horizon() -> None:
    eight = pd.Timestamp("2026-06-09 08:00", tz="Asia/Seoul").tz_convert("UTC")
    planner = _planner(eight, cost_to_go=True)
    snap = ParkSnapshot(eight, _firm(eight - HOUR), eight, 0.0)
    inp = planner.inputs(snap, 0.0, 1e4)
    curve = planner.cost_to_go
    assert curve is not None and inp.cost_to_go is curve and inp.reserve_kwh == 0.0
    assert inp.demand is not None
    # An empty ESS before 9 h above the level: a kWh stored is worth more than any energy
    # rate (it holds the peak down), a full one's last kWh only what it replaces.
    top = float(np.max(planner.tariff.energy_rate(pd.DatetimeIndex([eight.tz_convert(None)]))))
    assert curve.marginal_value(0.0) > inp.demand.rate / 24.0 > top
    assert curve.marginal_value(float(curve.energy_kwh[-1]) - 1e-6) < inp.demand.rate / 24.0
    assert solve_park(inp).battery_kwh[0, 0] > 0.0
    # Valued at the horizon's lowest rate instead, the same interval idles.
    assert solve_park(replace(inp, cost_to_go=None)).battery_kwh[0, 0] == pytest.approx(0.0)


def test_the_cost_to_go_counts_only_energy_when_the_month_already_pays_for_the_day() -> None:
    eight = pd.Timestamp("2026-06-09 08:00", tz="Asia/Seoul").tz_convert("UTC")
    planner = _planner(eight, cost_to_go=True)
    snap = ParkSnapshot(eight, _firm(eight - HOUR), eight, 0.0)
    planner.inputs(snap, 2000.0, 1e4)
    curve = planner.cost_to_go
    assert curve is not None
    day = pd.date_range(eight, periods=24, freq=HOUR).tz_convert("Asia/Seoul").tz_localize(None)
    rates = planner.tariff.energy_rate(day)
    assert curve.marginal_value(0.0) <= float(np.max(rates)) + 1e-6
