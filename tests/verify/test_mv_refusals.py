"""Issue 19: verification refuses overlapping periods, says what it covered and where it guessed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bitgaram.errors import DataError
from bitgaram.verify.baseline import fit_hourly, prepare_frame
from bitgaram.verify.pipeline import Period, verify_meter
from bitgaram.verify.savings import block_uncertainty_kwh, savings_uncertainty_kwh


def _meter(days: int = 240, seed: int = 0, drift: float = 0.0, cold_from: int | None = None):
    """Hourly use [kWh] driven by a daily schedule and temperature, with day-level noise."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2022-01-01", periods=days * 24, freq="h")
    hour = index.hour.to_numpy()
    day = np.arange(len(index)) // 24
    # A 60-day temperature cycle, the same every cycle: a 6-month baseline sees every value.
    temp = 15 + 10 * np.sin(2 * np.pi * (day + hour / 24) / 60)
    if cold_from is not None:
        temp[day >= cold_from] -= 25.0  # far colder than any earlier day
    shape = np.where((hour >= 8) & (hour < 19), 20.0, 8.0)
    day_shift = np.repeat(rng.normal(0, 2.0, days), 24)  # whole days run high or low
    use = shape + 0.6 * np.abs(temp - 15) + day_shift + rng.normal(0, 1.0, len(index))
    use = use * (1 + drift * day / days)
    return pd.Series(use, index=index), pd.Series(temp, index=index)


def test_overlapping_periods_are_refused() -> None:
    energy, temp = _meter()
    base = Period.parse("2022-01-01", "2022-05-31")
    rep = Period.parse("2022-05-01", "2022-07-31")
    with pytest.raises(DataError, match="overlap"):
        verify_meter(energy, temp, base, rep, price=100.0)


def test_a_period_past_the_data_is_reported_as_cut() -> None:
    energy, temp = _meter(days=240)  # data ends 2022-08-28
    result = verify_meter(
        energy,
        temp,
        Period.parse("2022-01-01", "2022-05-31"),
        Period.parse("2022-06-01", "2022-12-31"),
        price=100.0,
    )
    baseline, reporting = result.periods
    assert not baseline.cut and baseline.days == 151
    assert reporting.cut and reporting.days == 89 and reporting.requested_days == 214
    assert any("cut" in w for w in result.warnings)
    assert reporting.last == pd.Timestamp("2022-08-28 23:00")


def test_reporting_temperatures_outside_the_baseline_range_are_flagged() -> None:
    energy, temp = _meter(days=240, cold_from=200)
    result = verify_meter(
        energy,
        temp,
        Period.parse("2022-01-01", "2022-06-30"),
        Period.parse("2022-07-01", "2022-08-28"),
        price=100.0,
    )
    assert result.drivers is not None
    assert result.drivers.below == 40  # days 200..239
    assert result.extrapolated
    assert any("extrapolates" in w for w in result.warnings)
    plain = verify_meter(
        *_meter(days=240),
        Period.parse("2022-01-01", "2022-06-30"),
        Period.parse("2022-07-01", "2022-07-20"),
        price=100.0,
    )
    assert not plain.extrapolated and plain.warnings == ()


def test_held_out_metrics_can_fail_where_in_sample_nmbe_cannot() -> None:
    energy, temp = _meter(days=240, drift=0.6)  # use grows 60 % over the data: no driver explains
    result = verify_meter(
        energy,
        temp,
        Period.parse("2022-01-01", "2022-06-30"),
        Period.parse("2022-07-01", "2022-08-28"),
        price=100.0,
        interval="hourly",
    )
    in_sample = result.selection.chosen.metrics
    assert result.held_out is not None
    assert abs(in_sample.nmbe) < 1e-6  # least squares: zero by construction
    assert result.held_out.cv_rmse > in_sample.cv_rmse
    assert result.held_out.n == in_sample.n


def test_hourly_interval_accounts_for_whole_days_running_high_or_low() -> None:
    energy, temp = _meter(days=150, seed=3)
    frame = prepare_frame(energy, temp)
    fit = fit_hourly(frame.iloc[: 120 * 24])
    m = 30 * 24
    baseline_kwh = float(fit.fitted.mean() * m)
    g14, _, _ = savings_uncertainty_kwh(fit.metrics, m, baseline_kwh)
    block = block_uncertainty_kwh(fit, m, baseline_kwh)
    assert block is not None
    # day-level shifts of sd 2 kWh/h (48 kWh per day) over 30 days: the sum's sd is ~260 kWh
    assert block[0] > 1.5 * g14
    assert block[0] > 1.645 * 48 * np.sqrt(30) * 0.9
