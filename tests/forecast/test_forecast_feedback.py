"""Error feedback: the last one-step error corrects the next forecasts, causally."""

from __future__ import annotations

import numpy as np
import pytest

from bitgaram.errors import ForecastError
from bitgaram.forecast.base import actual_matrix
from bitgaram.forecast.feedback import error_feedback


def _persistent_error(n: int = 24 * 60, phi: float = 0.9, seed: int = 3) -> tuple[np.ndarray, ...]:
    """A forecast that misses a slowly varying (AR(1)) part of two series."""
    rng = np.random.default_rng(seed)
    base = 2.0 + np.sin(2 * np.pi * np.arange(n) / 24)[:, None] * np.array([[1.0, 3.0]])
    ar = np.zeros((n, 2))
    for t in range(1, n):
        ar[t] = phi * ar[t - 1] + rng.normal(0, 0.3, 2)
    actual = base + ar
    origins = np.arange(1, n)
    point = actual_matrix(base, origins, 12)
    return np.nan_to_num(point), actual, origins


def test_feedback_removes_most_of_a_persistent_error() -> None:
    point, actual, origins = _persistent_error()
    truth = actual_matrix(actual, origins, 12)
    corrected = error_feedback(point, actual, origins)
    late = origins >= 24 * 14
    before = np.nanmean(np.abs(point[late, 0] - truth[late, 0]))
    after = np.nanmean(np.abs(corrected[late, 0] - truth[late, 0]))
    assert after < 0.6 * before
    # The damping shrinks with the step ahead: far steps are barely changed.
    change = np.abs(corrected - point)[late].mean(axis=(0, 2))
    assert change[0] > change[-1]


def test_feedback_leaves_white_noise_errors_alone() -> None:
    rng = np.random.default_rng(0)
    n = 24 * 40
    base = np.ones((n, 1)) * 3.0
    actual = base + rng.normal(0, 0.5, (n, 1))
    origins = np.arange(1, n)
    point = np.nan_to_num(actual_matrix(base, origins, 6))
    truth = actual_matrix(actual, origins, 6)
    corrected = error_feedback(point, actual, origins)
    late = origins >= 24 * 14
    before = np.nanmean(np.abs(point[late] - truth[late]))
    after = np.nanmean(np.abs(corrected[late] - truth[late]))
    assert after <= 1.03 * before


def test_feedback_is_causal() -> None:
    point, actual, origins = _persistent_error(n=24 * 30)
    cut = 24 * 20
    changed = actual.copy()
    changed[cut:] += 5.0
    a = error_feedback(point, actual, origins)
    b = error_feedback(point, changed, origins)
    keep = origins <= cut  # origin `cut` may use measurements up to cut - 1 only
    np.testing.assert_array_equal(a[keep], b[keep])
    assert not np.allclose(a[~keep], b[~keep])


def test_feedback_skips_origins_without_a_previous_one() -> None:
    point, actual, origins = _persistent_error(n=24 * 30)
    every_other = slice(None, None, 2)
    corrected = error_feedback(point[every_other], actual, origins[every_other])
    np.testing.assert_array_equal(corrected, point[every_other])


@pytest.mark.parametrize(
    ("point", "actual", "origins", "match"),
    [
        (np.zeros((3, 2)), np.zeros((10, 1)), np.arange(3), "point must be"),
        (np.zeros((3, 2, 1)), np.zeros((10, 2)), np.arange(3), "same series"),
        (np.zeros((3, 2, 1)), np.zeros((10, 1)), np.array([2, 1, 3]), "increasing"),
        (np.zeros((2, 2, 1)), np.zeros((10, 1)), np.array([5, 12]), "origins must lie"),
    ],
)
def test_feedback_rejects_bad_shapes(
    point: np.ndarray, actual: np.ndarray, origins: np.ndarray, match: str
) -> None:
    with pytest.raises(ForecastError, match=match):
        error_feedback(point, actual, origins)
