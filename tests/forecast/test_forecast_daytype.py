"""The day-type seasonal naive: calendar-aware copies, causal at every origin."""

from __future__ import annotations

import numpy as np

from bitgaram.forecast.daytype import daytype_forecast

SPD = 4  # steps per day, small to keep the arithmetic visible


def _calendar(days: int) -> np.ndarray:
    # Day types 0 = working day, 1 = Saturday, 2 = Sunday/holiday: Mon..Sun repeated.
    per_day = np.array([0, 0, 0, 0, 0, 1, 2])[np.arange(days) % 7]
    return np.repeat(per_day, SPD)


def test_copies_the_latest_day_of_the_same_type() -> None:
    days = 14
    day_type = _calendar(days)
    day_index = np.repeat(np.arange(days), SPD).astype(float)
    values = (100.0 * day_type + day_index)[:, None]  # level by type, drift by day
    origin = 7 * SPD  # start of day 7, a Monday
    # fit_end=0: no error history, so no AR correction: the pure copy.
    fc = daytype_forecast(values, day_type, np.array([origin]), SPD, SPD, fit_end=0)
    assert np.array_equal(fc[0, :, 0], np.full(SPD, 4.0))  # Friday, day 4, not Sunday (206)
    saturday = 12 * SPD  # day 12 is a Saturday: copies Saturday day 5
    fc = daytype_forecast(values, day_type, np.array([saturday]), SPD, SPD, fit_end=0)
    assert np.array_equal(fc[0, :, 0], np.full(SPD, 105.0))


def test_changing_data_after_the_origin_never_changes_the_forecast() -> None:
    rng = np.random.default_rng(0)
    days = 21
    day_type = _calendar(days)
    values = rng.gamma(2.0, 5.0, size=(days * SPD, 2))
    for fit_end, probes in ((0, (0, 1, SPD - 1, SPD, 3 * SPD + 2)), (7 * SPD, (7 * SPD, 10 * SPD))):
        origins = np.arange(fit_end, days * SPD - SPD)
        base = daytype_forecast(values, day_type, origins, SPD, SPD, fit_end=fit_end)
        for o in probes:
            changed = values.copy()
            changed[o:] = rng.gamma(2.0, 50.0, size=changed[o:].shape)
            again = daytype_forecast(changed, day_type, origins, SPD, SPD, fit_end=fit_end)
            row = int(np.flatnonzero(origins == o)[0])
            assert np.array_equal(base[row], again[row]), f"forecast at origin {o} saw the future"
            assert not np.array_equal(base[row + SPD], again[row + SPD])  # the test can fail


def test_origins_before_the_fit_window_are_refused() -> None:
    import pytest

    from bitgaram.errors import ConfigError

    day_type = _calendar(3)
    values = np.ones((3 * SPD, 1))
    with pytest.raises(ConfigError, match="causality"):
        daytype_forecast(values, day_type, np.array([1]), SPD, SPD, fit_end=SPD)


def test_first_day_falls_back_to_the_last_observation() -> None:
    day_type = _calendar(3)
    values = np.arange(3 * SPD, dtype=float)[:, None]
    fc = daytype_forecast(values, day_type, np.array([0, 2]), SPD, SPD, fit_end=0)
    assert np.all(fc[0] == 0.0)  # nothing observed yet
    assert np.all(fc[1, : SPD - 2, 0] == values[1, 0])  # last value before origin 2
