"""CBL rules checked by hand: weekday selection, holidays, excluded and unusual days."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from bitgaram.errors import DataError
from bitgaram.verify.cbl import MAX_4_5, MID_6_10, cbl, cbl_report, high_x_of_y, select_days

TZ = "Asia/Seoul"
# 2026-07-20 is a Monday; 2026-07-17 (Fri) is Constitution Day in this test's holiday list.
EVENT = date(2026, 7, 20)


def _hourly(levels: dict[date, float], event_level: float = 5.0) -> pd.Series:
    """Hourly kWh: each day flat at its level, the event day at ``event_level``."""
    idx = pd.date_range("2026-06-20", "2026-07-21", freq="1h", tz=TZ, inclusive="left")
    values = np.array([levels.get(t.date(), 10.0) for t in idx])
    values[idx.date == EVENT] = event_level
    return pd.Series(values, idx)


def test_max_4_5_takes_last_five_weekdays_skipping_weekend_and_holiday() -> None:
    mean = {date(2026, 7, d): 10.0 for d in range(1, 20)}
    days, skipped = select_days(mean, EVENT, MAX_4_5, holidays={date(2026, 7, 17)})
    # Fri 17 is a holiday, Sat 18 / Sun 19 are days off: Thu 16 back to Fri 10.
    assert [d.day for d in days] == [16, 15, 14, 13, 10]
    assert skipped[date(2026, 7, 17)] == "holiday"
    assert skipped[date(2026, 7, 18)] == "day off"
    assert skipped[date(2026, 7, 11)] == "day off"


def test_mid_6_10_drops_excluded_and_unusual_days() -> None:
    mean = {date(2026, 6, d): 10.0 for d in range(20, 31)}
    mean.update({date(2026, 7, d): 10.0 for d in range(1, 20)})
    mean[date(2026, 7, 14)] = 5.0  # a shutdown: 50 % of the reference, unusual
    mean[date(2026, 7, 9)] = 14.0  # 140 %: unusual for a factory
    days, skipped = select_days(mean, EVENT, MID_6_10, excluded={date(2026, 7, 15)})
    assert skipped[date(2026, 7, 15)] == "excluded"
    assert skipped[date(2026, 7, 14)] == "unusual"
    assert skipped[date(2026, 7, 9)] == "unusual"
    # Working days back from Fri 17: 17,16,13,10,8,7,6,3,2,1 (15 excluded, 14 and 9 unusual).
    assert [d.day for d in days] == [17, 16, 13, 10, 8, 7, 6, 3, 2, 1]
    assert len(days) == 10


def test_weekend_event_uses_days_off() -> None:
    mean = {date(2026, 7, d): 10.0 for d in range(1, 26)}
    days, _ = select_days(mean, date(2026, 7, 25), MAX_4_5)  # a Saturday
    assert [d.day for d in days] == [19, 18, 12, 11, 5]


def test_mid_6_10_per_hour_trims_two_high_two_low() -> None:
    # Ten working days before the event with levels 1..10 scaled around 10 kWh.
    days = [16, 15, 14, 13, 10, 9, 8, 7, 6, 3]
    levels = {date(2026, 7, d): 9.0 + 0.2 * i for i, d in enumerate(days)}
    energy = _hourly(levels)
    start = pd.Timestamp("2026-07-20 14:00", tz=TZ)
    r = cbl(
        energy, start, start + pd.Timedelta(hours=2), MID_6_10, TZ, holidays={date(2026, 7, 17)}
    )
    # Drop 9.0, 9.2 and 10.6, 10.8: mean of 9.4 .. 10.4 = 9.9 kWh per hour.
    assert r.baseline_kwh.to_numpy() == pytest.approx([9.9, 9.9])
    assert r.metered_kwh.sum() == pytest.approx(10.0)
    assert r.reduction_kwh == pytest.approx(2 * 9.9 - 10.0)


def test_max_4_5_and_high_x_of_y_values() -> None:
    levels = {
        date(2026, 7, 16): 12.0,
        date(2026, 7, 15): 11.0,
        date(2026, 7, 14): 9.0,
        date(2026, 7, 13): 10.0,
        date(2026, 7, 10): 8.0,
    }
    energy = _hourly(levels)
    start = pd.Timestamp("2026-07-20 14:00", tz=TZ)
    end = start + pd.Timedelta(hours=1)
    hol = {date(2026, 7, 17)}
    r = cbl(energy, start, end, MAX_4_5, TZ, holidays=hol)
    assert r.baseline_kwh.iloc[0] == pytest.approx((12 + 11 + 9 + 10) / 4)
    r2 = cbl(energy, start, end, high_x_of_y(2, 5), TZ, holidays=hol)
    assert r2.baseline_kwh.iloc[0] == pytest.approx((12 + 11) / 2)


def test_report_per_tenant_and_park() -> None:
    a = _hourly({}, event_level=6.0)
    b = _hourly({}, event_level=8.0)
    start = pd.Timestamp("2026-07-20 14:00", tz=TZ)
    rep = cbl_report(
        pd.DataFrame({"a": a, "b": b}),
        start,
        start + pd.Timedelta(hours=2),
        [MID_6_10, MAX_4_5],
        TZ,
    )
    park = rep[(rep.member == "park") & (rep.method == "Mid(6/10)")].iloc[0]
    assert park.baseline_kwh == pytest.approx(40.0)
    assert park.reduction_kwh == pytest.approx(40.0 - 28.0)
    assert set(rep.member) == {"a", "b", "park"}
    assert park.baseline_kw == pytest.approx(20.0)


def test_too_few_days_is_an_error() -> None:
    with pytest.raises(DataError, match="usable days"):
        select_days({date(2026, 7, 16): 1.0}, EVENT, MID_6_10)
