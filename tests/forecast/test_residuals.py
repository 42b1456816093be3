"""The forecaster's own error distribution: ErrorBook and the empirical interval."""

from __future__ import annotations

import numpy as np
import pytest

from bitgaram.errors import ConfigError
from bitgaram.forecast.residuals import MIN_SAMPLES, ErrorBook, empirical_interval


def test_interval_is_causal_and_calibrated() -> None:
    rng = np.random.default_rng(1)
    n = 24 * 90
    hour = np.arange(n) % 24
    actual = rng.normal(0.0, 1.0 + (hour >= 12), n)  # afternoon errors twice as wide
    point = np.zeros(n)
    lo, hi = empirical_interval(point, actual)
    ok = np.isfinite(lo)
    inside = (actual[ok] >= lo[ok]) & (actual[ok] <= hi[ok])
    assert 0.76 < inside.mean() < 0.84
    # Wider where the errors are wider.
    width = hi - lo
    assert np.nanmean(width[hour >= 13]) > 1.6 * np.nanmean(width[(hour >= 1) & (hour < 11)])
    # Changing the future leaves every earlier interval unchanged.
    later = actual.copy()
    later[24 * 60 :] += 50.0
    lo2, hi2 = empirical_interval(point, later)
    np.testing.assert_array_equal(lo2[: 24 * 60 + 1], lo[: 24 * 60 + 1])
    assert not np.allclose(hi2[24 * 61 :], hi[24 * 61 :])
    # The first day has no past errors: no interval.
    assert np.isnan(lo[:24]).all()


def test_error_book_quantiles_by_lead_slot_and_day_type() -> None:
    book = ErrorBook(steps_per_day=4, window_days=28, pool_slots=0)
    # 20 days: the forecast for slot 2 is 10 too low on working days (type 0), exact else.
    for step in range(4 * 20):
        slot, kind = step % 4, 0 if (step // 4) % 7 < 5 else 2
        book.issue(step, np.zeros(3))
        book.measure(step, 10.0 if (slot == 2 and kind == 0) else 0.0, kind, slot)
    assert len(book) > MIN_SAMPLES
    up = book.upper(4 * 20, np.array([0, 0, 0]), np.array([0, 1, 2]), 0.9)
    np.testing.assert_allclose(up, [0.0, 0.0, 10.0])
    # Holiday slot 2 has its own (exact) errors.
    up = book.upper(4 * 20, np.array([2, 2, 2]), np.array([0, 1, 2]), 0.9)
    np.testing.assert_allclose(up, [0.0, 0.0, 0.0])
    with pytest.raises(ConfigError):
        book.upper(0, np.zeros(1), np.zeros(1), 1.5)


def test_error_book_is_empty_without_measurements() -> None:
    book = ErrorBook(steps_per_day=96)
    book.issue(0, np.ones(4))
    assert np.array_equal(book.upper(1, np.zeros(4), np.arange(4)), np.zeros(4))
    with pytest.raises(ConfigError):
        ErrorBook(steps_per_day=0)
