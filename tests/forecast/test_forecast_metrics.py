"""Error measures against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from bitgaram.errors import ForecastError
from bitgaram.forecast import metrics


def test_point_metrics_hand_computed() -> None:
    f = np.array([1.0, 2.0, 6.0, np.nan])
    a = np.array([2.0, 2.0, 3.0, 5.0])
    # errors 1, 0, 3 (the NaN pair is ignored)
    assert metrics.mae(f, a) == pytest.approx(4 / 3)
    assert metrics.rmse(f, a) == pytest.approx(np.sqrt(10 / 3))
    assert metrics.nmae(f, a) == pytest.approx((4 / 3) / (7 / 3))


def test_pinball_hand_computed_and_median_is_half_mae() -> None:
    f = np.array([2.0, 2.0])
    a = np.array([5.0, 1.0])
    # q=0.9: under-forecast 3 -> 2.7, over-forecast 1 -> 0.1
    assert metrics.pinball(f, a, 0.9) == pytest.approx((2.7 + 0.1) / 2)
    assert metrics.pinball(f, a, 0.5) == pytest.approx(metrics.mae(f, a) / 2)
    with pytest.raises(ForecastError):
        metrics.pinball(f, a, 1.0)


def test_skill_and_coverage() -> None:
    assert metrics.skill(0.5, 2.0) == pytest.approx(0.75)
    assert metrics.skill(2.0, 2.0) == pytest.approx(0.0)
    assert np.isnan(metrics.skill(1.0, 0.0))
    lo, hi = np.array([0.0, 0.0, 0.0, 0.0]), np.array([1.0, 1.0, 1.0, 1.0])
    assert metrics.coverage(lo, hi, np.array([0.5, 2.0, 1.0, -1.0])) == pytest.approx(0.5)


def test_axis_reduces_per_horizon() -> None:
    f = np.zeros((3, 2))
    a = np.array([[1.0, 2.0], [1.0, 4.0], [1.0, 6.0]])
    assert metrics.mae(f, a, axis=0).tolist() == [1.0, 4.0]
    with pytest.raises(ForecastError):
        metrics.mae(f, a[:2])
