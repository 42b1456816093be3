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
