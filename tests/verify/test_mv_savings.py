"""Avoided energy and Guideline 14 savings uncertainty, by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bitgaram.errors import DataError
from bitgaram.verify.baseline import ENERGY, TEMPERATURE, aggregate_daily, fit_daily
from bitgaram.verify.metrics import FitMetrics
from bitgaram.verify.savings import (
    avoided_energy,
    combine_savings,
    effective_n,
    savings_uncertainty_kwh,
)


def _daily_frame(start: str, days: int, energy: np.ndarray) -> pd.DataFrame:
    idx = pd.date_range(start, periods=days, freq="D")
    return pd.DataFrame({ENERGY: energy, TEMPERATURE: np.full(days, 15.0)}, index=idx)


def test_avoided_energy_by_hand() -> None:
    # Baseline: 10 kWh on weekdays, 4 kWh on weekend days, exactly. Reporting: 9 and 4.
    days = 56
    idx = pd.date_range("2024-01-01", periods=days, freq="D")
    weekend = idx.day_of_week >= 5
    rng = np.random.default_rng(0)
    base = np.where(weekend, 4.0, 10.0) + rng.normal(0, 0.3, days)
    fit = fit_daily(_daily_frame("2024-01-01", days, base))
    assert fit.accepted
    rep_idx = pd.date_range("2024-03-04", periods=14, freq="D")  # two whole weeks
    rep_weekend = rep_idx.day_of_week >= 5
    reporting = pd.DataFrame(
        {ENERGY: np.where(rep_weekend, 4.0, 9.0), TEMPERATURE: 15.0}, index=rep_idx
    )
    s = avoided_energy(fit, reporting, "m")
    predicted = fit.model.predict(reporting).to_numpy()
    assert s.avoided_kwh == pytest.approx(float(predicted.sum() - reporting[ENERGY].sum()))
    # 10 weekdays x 1 kWh saved, within the baseline noise.
    assert s.avoided_kwh == pytest.approx(10.0, abs=1.5)
    assert s.series["cumulative_avoided_kwh"].iloc[-1] == pytest.approx(s.avoided_kwh)
    assert s.reporting_kwh == pytest.approx(10 * 9.0 + 4 * 4.0)


def test_uncertainty_formula_by_hand() -> None:
    m = FitMetrics(n=100, p=4, cv_rmse=0.2, nmbe=0.0, r2=0.5, rho=0.5, mean_kwh=10, rmse_kwh=2)
    half, t, n_eff = savings_uncertainty_kwh(m, m=30, baseline_kwh=300.0, confidence=0.90)
    assert n_eff == pytest.approx(100 / 3)
    t_ref = stats.t.ppf(0.95, 100 / 3 - 4)
    assert t == pytest.approx(t_ref)
    expected = t_ref * 1.26 * 0.2 * math.sqrt((100 / n_eff) * (1 + 2 / n_eff) / 30) * 300.0
    assert half == pytest.approx(expected)


def test_autocorrelation_widens_the_interval() -> None:
    def half(rho: float) -> float:
        m = FitMetrics(200, 4, 0.2, 0.0, 0.5, rho, 10.0, 2.0)
        return savings_uncertainty_kwh(m, 30, 300.0)[0]

    assert half(0.7) > half(0.3) > half(0.0)
    assert effective_n(100, 0.0) == 100


def test_rejected_baseline_is_not_used_silently() -> None:
    rng = np.random.default_rng(1)
    noisy = rng.uniform(1, 20, 60)
    fit = fit_daily(_daily_frame("2024-01-01", 60, noisy))
    assert not fit.accepted
    rep = _daily_frame("2024-03-01", 10, np.full(10, 5.0))
    with pytest.raises(DataError, match="REJECTED"):
        avoided_energy(fit, rep)
    flagged = avoided_energy(fit, rep, allow_rejected=True)
    assert not flagged.baseline_accepted


def test_combine_adds_uncertainty_in_quadrature() -> None:
    days = 42
    rng = np.random.default_rng(2)
    fits = [fit_daily(_daily_frame("2024-01-01", days, 10 + rng.normal(0, 0.5, days)))]
    rep = _daily_frame("2024-02-12", 7, np.full(7, 9.0))
    a = avoided_energy(fits[0], rep, "a")
    b = avoided_energy(fits[0], rep, "b")
    total = combine_savings("tenant", [a, b])
    assert total.avoided_kwh == pytest.approx(a.avoided_kwh + b.avoided_kwh)
    assert total.uncertainty_kwh == pytest.approx(math.hypot(a.uncertainty_kwh, b.uncertainty_kwh))


def test_aggregate_daily_drops_incomplete_days() -> None:
    idx = pd.date_range("2024-01-01 00:00", periods=24 * 3 - 5, freq="h")
    frame = pd.DataFrame({ENERGY: 1.0, TEMPERATURE: 10.0}, index=idx)
    daily = aggregate_daily(frame)
    assert len(daily) == 2
    assert (daily[ENERGY] == 24.0).all()
