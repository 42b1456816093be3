"""Baseline models recover known structure and are judged by Guideline 14."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bitgaram.errors import DataError
from bitgaram.verify.baseline import (
    ENERGY,
    PRODUCTION,
    TEMPERATURE,
    aggregate_daily,
    fit_baseline,
    fit_daily,
    fit_hourly,
    prepare_frame,
)
from bitgaram.verify.features import select_knots, temperature_segments, time_of_week


def _hourly(weeks: int, seed: int = 0, noise: float = 0.05) -> pd.DataFrame:
    idx = pd.date_range("2024-01-01", periods=weeks * 168, freq="h")
    rng = np.random.default_rng(seed)
    temp = 12 + 8 * np.sin(np.arange(len(idx)) * 2 * np.pi / 24) + rng.normal(0, 2, len(idx))
    busy = (idx.day_of_week < 5) & (idx.hour >= 8) & (idx.hour < 18)
    load = (
        np.where(busy, 20.0, 5.0) + 0.5 * np.maximum(temp - 18, 0) + rng.normal(0, noise, len(idx))
    )
    return prepare_frame(pd.Series(load, index=idx), pd.Series(temp, index=idx))


def test_time_of_week_and_holidays() -> None:
    idx = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-07 23:00", "2024-01-02 05:00"])
    assert list(time_of_week(idx)) == [0, 167, 29]
    hol = {pd.Timestamp("2024-01-02").date()}
    assert time_of_week(idx, hol)[2] == 6 * 24 + 5


def test_temperature_segments_are_continuous() -> None:
    t = np.array([-5.0, 0.0, 10.0, 25.0])
    segs = temperature_segments(t, (0.0, 20.0))
    assert np.allclose(segs.sum(axis=1), t)  # unit slopes everywhere reproduce T
    assert segs.shape == (4, 3)


def test_sparse_knots_are_merged() -> None:
    t = np.concatenate([np.full(100, 10.0), np.full(5, 30.0)])
    assert 23.9 not in select_knots(t, (7.2, 12.8, 23.9), min_count=20)


def test_hourly_model_fits_a_clean_schedule() -> None:
    fit = fit_hourly(_hourly(4))
    assert fit.accepted
    assert fit.metrics.cv_rmse < 0.02
    assert abs(fit.metrics.nmbe) < 1e-9  # OLS with intercepts has no bias
    assert fit.monthly_metrics is None  # fewer than six months


def test_hourly_model_refuses_unseen_hours() -> None:
    frame = _hourly(3)
    fit = fit_hourly(frame[frame.index.day_of_week < 6])  # no Sundays in the baseline
    with pytest.raises(DataError, match="absent from the baseline"):
        fit.model.predict(frame)


def test_daily_change_point_finds_cooling_balance() -> None:
    idx = pd.date_range("2024-05-01", periods=120, freq="D")
    rng = np.random.default_rng(3)
    temp = rng.uniform(10, 30, len(idx))
    energy = 100 + 6 * np.maximum(temp - 20, 0) + rng.normal(0, 1, len(idx))
    fit = fit_daily(pd.DataFrame({ENERGY: energy, TEMPERATURE: temp}, index=idx))
    assert fit.model.cooling_balance_c == pytest.approx(20, abs=1)  # type: ignore[attr-defined]
    assert fit.model.heating_balance_c is None  # type: ignore[attr-defined]
    assert fit.model.n_parameters == 4  # intercept, day-off, CDD slope, balance point
    assert fit.accepted


def test_production_driver_is_used() -> None:
    idx = pd.date_range("2024-01-01", periods=90, freq="D")
    rng = np.random.default_rng(4)
    prod = rng.uniform(50, 150, len(idx))
    energy = 200 + 2.0 * prod + rng.normal(0, 2, len(idx))
    frame = pd.DataFrame({ENERGY: energy, TEMPERATURE: 15.0, PRODUCTION: prod}, index=idx)
    fit = fit_daily(frame)
    assert fit.model.uses_production
    assert fit.model.coef[-1] == pytest.approx(2.0, abs=0.05)  # type: ignore[attr-defined]
    with pytest.raises(DataError, match="production"):
        fit.model.predict(frame.drop(columns=[PRODUCTION]))


def test_fallback_to_daily_when_hourly_fails() -> None:
    frame = _hourly(6, noise=6.0)  # hourly scatter far beyond 30 %
    selection = fit_baseline(frame)
    assert [f.model.interval for f in selection.tried] == ["hourly", "daily"]
    assert not selection.tried[0].accepted
    assert selection.chosen.model.interval == "daily"
    assert selection.chosen.accepted
    assert len(aggregate_daily(frame)) == 42
