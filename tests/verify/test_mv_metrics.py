"""CV(RMSE), NMBE, R2 and Guideline 14 acceptance on hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitgaram.errors import DataError
from bitgaram.verify.metrics import (
    G14_HOURLY,
    G14_MONTHLY,
    check_acceptance,
    cv_rmse,
    fit_metrics,
    g14_criteria,
    lag1_autocorrelation,
    nmbe,
    r_squared,
)

# y = [10, 12, 8, 10], yhat = [9, 12, 9, 11]: residuals [1, 0, -1, -1], mean(y) = 10.
Y = [10.0, 12.0, 8.0, 10.0]
YHAT = [9.0, 12.0, 9.0, 11.0]


def test_cv_rmse_by_hand() -> None:
    # SSE = 3, n - p = 4 - 2 = 2: sqrt(1.5) / 10
    assert cv_rmse(Y, YHAT, p=2) == pytest.approx(math.sqrt(1.5) / 10)


def test_nmbe_by_hand() -> None:
    # sum(y - yhat) = -1: -1 / (2 * 10)
    assert nmbe(Y, YHAT, p=2) == pytest.approx(-0.05)


def test_r_squared_by_hand() -> None:
    # SS_tot = 0 + 4 + 4 + 0 = 8, SS_res = 3
    assert r_squared(Y, YHAT) == pytest.approx(1 - 3 / 8)


def test_more_parameters_widen_cv_rmse() -> None:
    assert cv_rmse(Y, YHAT, p=3) > cv_rmse(Y, YHAT, p=1)


def test_too_many_parameters_is_an_error() -> None:
    with pytest.raises(DataError, match="more observations than parameters"):
        cv_rmse(Y, YHAT, p=4)


def test_acceptance_reports_failing_figures() -> None:
    m = fit_metrics([10.0, 20.0, 10.0, 20.0, 10.0], [15.0, 15.0, 15.0, 15.0, 15.0], p=1)
    verdict = check_acceptance(m, G14_HOURLY)
    assert not verdict.accepted
    assert "CV(RMSE)" in verdict.summary() and "> 30%" in verdict.summary()


def test_both_limits_must_hold() -> None:
    # Small scatter but a 10 % bias: CV passes the hourly limit, NMBE fails the monthly one.
    y = np.full(20, 100.0)
    m = fit_metrics(y, y * 0.94, p=1)
    assert check_acceptance(m, G14_HOURLY).accepted
    verdict = check_acceptance(m, G14_MONTHLY)
    assert not verdict.accepted
    assert any("NMBE" in r for r in verdict.reasons)


def test_criteria_by_interval() -> None:
    assert g14_criteria("monthly").max_cv_rmse == 0.15
    assert g14_criteria("hourly").max_abs_nmbe == 0.10
    assert g14_criteria("daily").max_cv_rmse == 0.30


def test_lag1_autocorrelation_of_alternating_and_smooth() -> None:
    assert lag1_autocorrelation([1.0, -1.0] * 20) == 0.0  # negative clipped to 0
    smooth = np.sin(np.linspace(0, 3, 200))
    assert lag1_autocorrelation(smooth) > 0.9


@given(
    st.lists(st.floats(1.0, 100.0), min_size=5, max_size=40),
    st.floats(0.5, 2.0),
)
def test_scaling_leaves_cv_and_nmbe_unchanged(values: list[float], scale: float) -> None:
    y = np.array(values)
    yhat = y[::-1]
    assert cv_rmse(y * scale, yhat * scale, 2) == pytest.approx(cv_rmse(y, yhat, 2))
    assert nmbe(y * scale, yhat * scale, 2) == pytest.approx(nmbe(y, yhat, 2), abs=1e-12)
