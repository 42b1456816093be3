"""TOU period and energy-rate lookups of the shipped KEPCO tariffs, checked against the tables in
/work/shared/reference/kepco_tariff.md by hand."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitgaram.errors import DataError
from bitgaram.tariff import TouTariff, load_tariff


@pytest.fixture(scope="module")
def eul1() -> TouTariff:
    return load_tariff("kepco-industrial-eul-high-a", option="I")


def periods(t: TouTariff, stamps: list[str]) -> list[str]:
    return t.period(stamps).tolist()


def test_summer_weekday_periods(eul1: TouTariff) -> None:
    # 2026-08-04 is a Tuesday: light 22-08, mid 08-15 and 21-22, peak 15-21.
    day = "2026-08-04"
    hours = [0, 7, 8, 14, 15, 20, 21, 22, 23]
    expected = ["light", "light", "mid", "mid", "peak", "peak", "mid", "light", "light"]
    assert periods(eul1, [f"{day} {h:02d}:45" for h in hours]) == expected


def test_spring_fall_weekday_periods(eul1: TouTariff) -> None:
    # 2026-10-13 is a Tuesday.
    assert periods(eul1, ["2026-10-13 10:00", "2026-10-13 16:00", "2026-10-13 23:00"]) == [
        "mid",
        "peak",
        "light",
    ]


def test_winter_weekday_periods(eul1: TouTariff) -> None:
    # 2026-12-01 is a Tuesday: mid 08-09, 12-16, 19-22; peak 09-12, 16-19.
    hours = [7, 8, 9, 11, 12, 15, 16, 18, 19, 21, 22]
    expected = ["light", "mid", "peak", "peak", "mid", "mid", "peak", "peak", "mid", "mid"]
    expected.append("light")
    assert periods(eul1, [f"2026-12-01 {h:02d}:00" for h in hours]) == expected


def test_saturday_peak_is_billed_as_mid(eul1: TouTariff) -> None:
    # 2026-08-08 is a Saturday; 2026-12-05 too.
    assert periods(eul1, ["2026-08-08 16:00", "2026-08-08 23:00", "2026-12-05 10:00"]) == [
        "mid",
        "light",
        "mid",
    ]


def test_sunday_is_all_light(eul1: TouTariff) -> None:
    stamps = pd.date_range("2026-08-09", periods=96, freq="15min")  # a Sunday
    assert set(eul1.period(stamps).tolist()) == {"light"}


def test_lunar_new_year_is_light(eul1: TouTariff) -> None:
    # 2026-02-17 (Tuesday) is Seollal; the Tuesday after is an ordinary winter weekday.
    assert periods(eul1, ["2026-02-17 10:00", "2026-02-24 10:00"]) == ["light", "peak"]


def test_substitute_holiday_is_light(eul1: TouTariff) -> None:
    # Liberation Day 2026-08-15 is a Saturday; Monday 2026-08-17 is its substitute holiday.
    assert periods(eul1, ["2026-08-15 16:00", "2026-08-17 16:00", "2026-08-18 16:00"]) == [
        "light",
        "light",
        "peak",
    ]


def test_period_table_changes_on_2026_04_16(eul1: TouTariff) -> None:
    # Before: peak 11-12 and 13-18, mid 18-22. From 2026-04-16: peak 15-21, mid 08-15.
    old = ["2026-04-15 11:00", "2026-04-15 12:00", "2026-04-15 16:00", "2026-04-15 19:00"]
    new = ["2026-04-16 11:00", "2026-04-16 12:00", "2026-04-16 16:00", "2026-04-16 19:00"]
    assert periods(eul1, old) == ["peak", "mid", "peak", "mid"]
    assert periods(eul1, new) == ["mid", "mid", "peak", "peak"]
    rate = eul1.energy_rate(["2026-04-15 19:00", "2026-04-16 19:00"], adders=False)
    np.testing.assert_allclose(rate, [138.9, 156.4])


def test_energy_rates_by_option_and_season() -> None:
    stamps = ["2026-08-04 16:00", "2026-10-13 16:00", "2026-12-01 10:00", "2026-12-01 03:00"]
    expected = {
        "I": [234.5, 156.4, 210.1, 128.5],
        "II": [229.0, 150.9, 204.6, 123.0],
        "III": [216.6, 142.6, 193.4, 122.4],
    }
    for option, rates in expected.items():
        t = load_tariff("kepco-industrial-eul-high-a", option=option)
        np.testing.assert_allclose(t.energy_rate(stamps, adders=False), rates)


def test_adders_add_climate_and_fuel_charges(eul1: TouTariff) -> None:
    # 234.5 + 9 (climate-environment) + 5 (fuel-cost adjustment).
    assert eul1.energy_rate(["2026-08-04 16:00"]).tolist() == [248.5]


def test_weekend_midday_discount_in_spring_and_fall(eul1: TouTariff) -> None:
    stamps = [
        "2026-04-18 12:00",  # Saturday, mid: 138.9 / 2
        "2026-04-19 12:00",  # Sunday, light: 121.5 / 2
        "2026-04-18 14:00",  # Saturday after 14 h: no discount
        "2026-04-20 12:00",  # Monday: no discount
        "2026-08-08 12:00",  # summer Saturday: no discount
        "2026-04-11 12:00",  # Saturday before 2026-04-16: no discount
        "2031-04-19 12:00",  # Saturday after 2030-12-31: no discount
    ]
    rate = eul1.energy_rate(stamps, adders=False)
    np.testing.assert_allclose(rate, [69.45, 60.75, 138.9, 138.9, 169.3, 138.9, 138.9])


def test_timezone_aware_timestamps_use_korean_time(eul1: TouTariff) -> None:
    utc = pd.DatetimeIndex(["2026-08-04 07:00"], tz="UTC")  # 16:00 KST
    assert eul1.period(utc).tolist() == ["peak"]


def test_gap2_uses_earlier_table_and_its_rates() -> None:
    t = load_tariff("kepco-industrial-gap2-high-a", option="II")
    stamps = ["2026-08-04 11:30", "2026-08-04 16:00", "2026-08-04 19:00"]
    assert t.period(stamps).tolist() == ["peak", "peak", "mid"]
    np.testing.assert_allclose(t.energy_rate(stamps, adders=False), [150.1, 150.1, 116.6])


def test_before_first_version_raises(eul1: TouTariff) -> None:
    with pytest.raises(DataError, match="before its first effective date"):
        eul1.period(["2020-01-01 10:00"])


@settings(max_examples=60, deadline=None)
@given(st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2030, 12, 31)))
def test_weekend_invariants(eul1: TouTariff, when: dt.datetime) -> None:
    stamp = pd.DatetimeIndex([when])
    period = eul1.period(stamp)[0]
    if when.weekday() == 6:
        assert period == "light"
    if when.weekday() == 5:
        assert period != "peak"
    assert eul1.energy_rate(stamp)[0] > 0


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.datetimes(min_value=dt.datetime(2024, 11, 1), max_value=dt.datetime(2031, 12, 31)),
        min_size=1,
        max_size=40,
    )
)
def test_batch_lookup_equals_one_by_one(eul1: TouTariff, stamps: list[dt.datetime]) -> None:
    batch = eul1.energy_rate(stamps)
    single = [eul1.energy_rate([s])[0] for s in stamps]
    np.testing.assert_array_equal(batch, single)


def test_missing_timestamps_are_refused(eul1: TouTariff) -> None:
    with pytest.raises(DataError, match="NaT"):
        eul1.energy_rate(pd.DatetimeIndex(["2026-08-04 16:00", None]))
