"""15-minute demand, monthly maximum and billing demand (ratchet, floor), by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitgaram.errors import DataError
from bitgaram.tariff import (
    TouTariff,
    billing_demand,
    demand_series,
    load_tariff,
    monthly_max_demand,
)
from bitgaram.tariff.rules import DemandRules

KEPCO_RULES = DemandRules(
    ratchet_months=(12, 1, 2, 7, 8, 9), lookback_months=12, floor_fraction=0.3
)


def P(text: str) -> pd.Period:
    return pd.Period(text, "M")


@pytest.fixture(scope="module")
def eul1() -> TouTariff:
    return load_tariff("kepco-industrial-eul-high-a", option="I")


def test_demand_from_5_minute_energy() -> None:
    idx = pd.date_range("2026-08-04 14:00", periods=6, freq="5min")
    e = pd.Series([10.0, 20.0, 30.0, 5.0, 5.0, 5.0], index=idx)
    d = demand_series(e)
    # 60 kWh in the first 15 min = 240 kW; 15 kWh in the second = 60 kW.
    assert d.tolist() == [240.0, 60.0]
    assert d.index.tolist() == [pd.Timestamp("2026-08-04 14:00"), pd.Timestamp("2026-08-04 14:15")]


def test_demand_from_one_minute_power_samples() -> None:
    idx = pd.date_range("2026-08-04 14:00", periods=30, freq="1min")
    p = pd.Series(np.r_[np.full(15, 100.0), np.full(14, 200.0), 500.0], index=idx)
    # Second interval: (14 * 200 + 500) / 15 = 220 kW.
    assert demand_series(p, kind="power").tolist() == pytest.approx([100.0, 220.0])


def test_hourly_readings_are_refused_for_demand() -> None:
    idx = pd.date_range("2026-08-04", periods=3, freq="h")
    e = pd.Series([100.0, 200.0, 50.0], index=idx)
    with pytest.raises(DataError, match="coarser than the 15-min demand interval"):
        demand_series(e)


def test_hourly_approximation_spreads_the_hourly_average() -> None:
    idx = pd.date_range("2026-08-04", periods=2, freq="h")
    d = demand_series(pd.Series([100.0, 200.0], index=idx), allow_coarse=True)
    assert d.tolist() == [100.0] * 4 + [200.0] * 4
    assert d.index[1] == pd.Timestamp("2026-08-04 00:15")


def test_reading_interval_must_divide_15_minutes() -> None:
    idx = pd.date_range("2026-08-04", periods=4, freq="7min")
    with pytest.raises(DataError, match="does not divide"):
        demand_series(pd.Series(1.0, index=idx))


def test_monthly_max_ignores_light_load_hours(eul1: TouTariff) -> None:
    idx = pd.date_range("2026-08-04 00:00", periods=96, freq="15min")  # a Tuesday
    d = pd.Series(100.0, index=idx)
    d[pd.Timestamp("2026-08-04 23:00")] = 900.0  # light load: not read
    d[pd.Timestamp("2026-08-04 16:00")] = 400.0  # peak
    assert monthly_max_demand(d, eul1, ("light",)).tolist() == [400.0]
    assert monthly_max_demand(d, eul1).tolist() == [900.0]


def test_august_peak_is_billed_in_the_following_twelve_months() -> None:
    history = {P("2026-08"): 800.0}
    for month in ["2026-09", "2026-12", "2027-03", "2027-08"]:
        bd = billing_demand(P(month), history | {P(month): 500.0}, KEPCO_RULES, 1000.0)
        assert (bd.billing_kw, bd.basis, bd.ratchet_month) == (800.0, "ratchet", P("2026-08"))
    # Thirteen months later the August peak has left the window.
    bd = billing_demand(P("2027-09"), history | {P("2027-09"): 500.0}, KEPCO_RULES, 1000.0)
    assert (bd.billing_kw, bd.basis) == (500.0, "current")


def test_peak_outside_ratchet_months_is_not_carried() -> None:
    history = {P("2026-10"): 800.0, P("2026-11"): 300.0}  # October is not a ratchet month
    bd = billing_demand(P("2026-11"), history, KEPCO_RULES, 500.0)
    assert (bd.billing_kw, bd.basis) == (300.0, "current")


def test_current_month_above_ratchet() -> None:
    history = {P("2026-08"): 800.0, P("2026-10"): 950.0}
    bd = billing_demand(P("2026-10"), history, KEPCO_RULES, 1000.0)
    assert (bd.billing_kw, bd.basis) == (950.0, "current")


def test_floor_is_30_percent_of_contract_power() -> None:
    history = {P("2026-08"): 200.0, P("2026-10"): 100.0}
    bd = billing_demand(P("2026-10"), history, KEPCO_RULES, 1000.0)
    assert (bd.billing_kw, bd.basis, bd.floor_kw) == (300.0, "floor", 300.0)
    # No contract power given: no floor.
    assert billing_demand(P("2026-10"), history, KEPCO_RULES).billing_kw == 200.0


@settings(max_examples=80, deadline=None)
@given(
    maxima=st.lists(st.floats(0, 5000), min_size=24, max_size=24),
    contract=st.floats(1, 5000),
)
def test_billing_demand_is_the_max_of_its_three_sources(
    maxima: list[float], contract: float
) -> None:
    months = pd.period_range("2025-01", periods=24, freq="M")
    history = dict(zip(months, maxima, strict=True))
    month = months[-1]
    bd = billing_demand(month, history, KEPCO_RULES, contract)
    window = [history[m] for m in months[-13:-1] if m.month in KEPCO_RULES.ratchet_months]
    assert bd.billing_kw == max(maxima[-1], 0.3 * contract, *window)
    assert bd.billing_kw >= bd.current_max_kw


@settings(max_examples=40, deadline=None)
@given(
    kwh=st.lists(st.floats(0, 100), min_size=15, max_size=15 * 8),
    minutes=st.sampled_from([1, 3, 5, 15]),
)
def test_demand_conserves_energy(kwh: list[float], minutes: int) -> None:
    n = len(kwh) - len(kwh) % (15 // minutes)  # whole demand intervals only
    idx = pd.date_range("2026-08-04", periods=n, freq=f"{minutes}min")
    e = pd.Series(kwh[:n], index=idx)
    d = demand_series(e)
    assert float(d.sum()) * 0.25 == pytest.approx(float(e.sum()), abs=1e-6)
    assert float(d.max()) <= float(e.max()) * 60 / minutes + 1e-9
