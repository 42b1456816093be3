"""The park planner's own firm-load forecast: day-type copies of what it has seen, causally."""

from __future__ import annotations

import numpy as np
import pandas as pd
from park_fixtures import park_site

from bitgaram.control.planner import ParkPlanner
from bitgaram.control.state import ParkSnapshot
from bitgaram.tariff import TouTariff, load_tariff

STEP = pd.Timedelta(minutes=15)


def _planner() -> ParkPlanner:
    tariff = load_tariff("kepco-industrial-eul-high-a", option="II")
    assert isinstance(tariff, TouTariff)
    return ParkPlanner(park_site(), tariff, horizon=8)


def _firm(at: pd.Timestamp) -> float:
    # A working-day shape (busy 09-18 local, Asia/Seoul = UTC+9) and a flat quiet weekend.
    local = at.tz_convert("Asia/Seoul")
    if local.day_of_week >= 5:
        return 100.0
    return 500.0 + (400.0 if 9 <= local.hour < 18 else 0.0) + local.hour


def test_before_a_day_of_history_it_is_persistence() -> None:
    planner = _planner()
    at = pd.Timestamp("2026-06-01 00:00", tz="UTC")
    fc = planner.firm_forecast(ParkSnapshot(at, 321.0, at))
    assert np.array_equal(fc, np.full(8, 321.0))


def test_after_a_weekend_it_copies_friday_not_sunday() -> None:
    planner = _planner()
    # Seen: Fri 2026-06-05 through Sun 2026-06-07 (local), one tick per interval.
    start = pd.Timestamp("2026-06-05 00:00", tz="Asia/Seoul").tz_convert("UTC")
    monday = pd.Timestamp("2026-06-08 09:00", tz="Asia/Seoul").tz_convert("UTC")
    fc = np.array([])
    for at in pd.date_range(start + STEP, monday, freq=STEP):
        fc = planner.firm_forecast(ParkSnapshot(at, _firm(at - STEP), at))
    # Monday 09:00-11:00 is forecast as Friday 09:00-11:00 (busy), not as Sunday's 100 kW
    # (persistence would say 100). Sunday had no earlier Sunday to copy, so its error, and
    # the AR correction carried from it, is zero.
    friday = [_firm(monday - pd.Timedelta(days=3) + k * STEP) for k in range(8)]
    assert np.allclose(fc, friday, atol=1e-6)
    assert fc.min() > 800.0


def test_history_from_the_store_is_copied_from_the_first_interval() -> None:
    tariff = load_tariff("kepco-industrial-eul-high-a", option="II")
    assert isinstance(tariff, TouTariff)
    monday = pd.Timestamp("2026-06-08 09:00", tz="Asia/Seoul").tz_convert("UTC")
    past = pd.date_range(monday - pd.Timedelta(days=7), monday - STEP, freq=STEP)
    history = pd.Series([_firm(t) for t in past], index=past)
    planner = ParkPlanner(park_site(), tariff, horizon=8, history_kw=history)
    fc = planner.firm_forecast(ParkSnapshot(monday, _firm(monday - STEP), monday))
    friday = [_firm(monday - pd.Timedelta(days=3) + k * STEP) for k in range(8)]
    assert np.allclose(fc, friday, atol=1e-6)


def test_the_plan_keeps_room_for_its_own_recent_errors() -> None:
    """After days of surprises at 14:00, the margin there covers them; quiet hours get none."""
    tariff = load_tariff("kepco-industrial-eul-high-a", option="II")
    assert isinstance(tariff, TouTariff)
    hour = pd.Timedelta(hours=1)
    planner = ParkPlanner(park_site(), tariff, horizon=4, interval_s=3600.0)
    start = pd.Timestamp("2026-06-01 00:00", tz="Asia/Seoul").tz_convert("UTC")
    surprise = 200.0
    for at in pd.date_range(start + hour, start + pd.Timedelta(days=12), freq=hour):
        last = at - hour
        # Every other working day, +200 kW at 14:00 that no earlier day announced.
        day = last.tz_convert("Asia/Seoul")
        extra = surprise if day.hour == 14 and day.day % 2 == 0 else 0.0
        planner.inputs(ParkSnapshot(at, _firm(last) + extra, at), 0.0, 1e4)
    two_pm = pd.Timestamp("2026-06-15 14:00", tz="Asia/Seoul").tz_convert("UTC")
    inp = planner.inputs(ParkSnapshot(two_pm, _firm(two_pm - hour), two_pm), 0.0, 1e4)
    assert inp.margin_kw is not None
    assert 100.0 < inp.margin_kw[0] <= surprise
    night = pd.Timestamp("2026-06-15 03:00", tz="Asia/Seoul").tz_convert("UTC")
    inp = planner.inputs(ParkSnapshot(night, _firm(night - hour), night), 0.0, 1e4)
    assert inp.margin_kw is not None and inp.margin_kw[0] < 1.0
    # Without a margin level, the plan is on the point forecast alone.
    plain = ParkPlanner(park_site(), tariff, horizon=4, interval_s=3600.0, margin_level=None)
    inp = plain.inputs(ParkSnapshot(two_pm, _firm(two_pm - hour), two_pm), 0.0, 1e4)
    assert inp.margin_kw is not None and not inp.margin_kw.any()
