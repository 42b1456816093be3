"""The time-of-use rule planner: charge in light load, discharge in peak, cheapest steps."""

from __future__ import annotations

import pandas as pd
import pytest
from park_fixtures import park_site

from bitgaram.control.rule import TouRulePlanner
from bitgaram.control.state import EVSession, JobItem, ParkSnapshot
from bitgaram.tariff import TouTariff, load_tariff


def _rule() -> TouRulePlanner:
    tariff = load_tariff("kepco-industrial-eul-high-a", option="II")
    assert isinstance(tariff, TouTariff)
    return TouRulePlanner(park_site(), tariff)


def _at(local: str) -> pd.Timestamp:
    return pd.Timestamp(local, tz="Asia/Seoul").tz_convert("UTC")


def _by_asset(planner: TouRulePlanner, snap: ParkSnapshot, month_peak: float) -> dict[str, float]:
    return {s.asset: s.power_kw for s in planner.plan(snap, month_peak, 1e4)}


def test_the_ess_fills_over_light_load_and_empties_over_the_peak_hours() -> None:
    rule = _rule()
    # June working day (tariff II): light 22-08, mid 08-15 and 21-22, peak 15-21 local.
    night = _at("2026-06-09 02:00")
    kw = _by_asset(rule, ParkSnapshot(night, 500.0, night, 0.0), 0.0)["ess"]
    # 320 kWh of room over the light steps left today (02:00-08:00 and 22:00-24:00: 32).
    assert kw == pytest.approx(min(320.0 / 32 / 0.25, 200.0))
    assert rule.peak_cap_kw is None  # light load is not metered
    five = _at("2026-06-09 17:00")
    kw = _by_asset(rule, ParkSnapshot(five, 500.0, five, 200.0), 700.0)["ess"]
    assert kw == pytest.approx(-200.0 / 16 / 0.25)  # 16 peak steps left (17:00-21:00)
    # Threshold shaving: the loop holds a metered interval to the month's peak so far.
    assert rule.peak_cap_kw == 700.0
    ten = _at("2026-06-09 10:00")
    assert _by_asset(rule, ParkSnapshot(ten, 500.0, ten, 200.0), 700.0)["ess"] == 0.0


def test_vehicles_and_jobs_wait_for_the_cheapest_steps() -> None:
    rule = _rule()
    at = _at("2026-06-09 16:00")  # peak rate now, light from 22:00
    ev = EVSession("van", 10.0, 30.0, 60.0, _at("2026-06-10 06:00"), 11.0)
    late = EVSession("car", 10.0, 30.0, 60.0, _at("2026-06-09 18:00"), 11.0)
    job = JobItem("oven", 400.0, 4, at, _at("2026-06-10 06:00"), interruptible=False)
    soon = JobItem("heat", 300.0, 4, at, _at("2026-06-09 17:00"), interruptible=True)
    snap = ParkSnapshot(at, 500.0, at, 100.0, (ev, late), (job, soon))
    kw = _by_asset(rule, snap, 0.0)
    assert kw["van"] == 0.0  # light-load steps before 06:00 suffice
    assert kw["car"] == 11.0  # every step left is peak: charge now
    assert kw["oven"] == 0.0  # a start at 22:00 costs less
    assert kw["heat"] == 300.0  # needs every step left
