"""Forecast error measures.

All functions take arrays of forecasts and observations of the same shape and
ignore positions where either is NaN (e.g. targets past the end of the data).
``axis`` selects what to average over (None: everything).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from bitgaram.errors import ForecastError

Axis = int | tuple[int, ...] | None


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence NaN warnings: all-NaN slices give NaN by design."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _pair(forecast: np.ndarray, actual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(forecast, dtype=float)
    a = np.asarray(actual, dtype=float)
    if f.shape != a.shape:
        raise ForecastError(f"forecast shape {f.shape} differs from actual shape {a.shape}")
    bad = ~(np.isfinite(f) & np.isfinite(a))
    return np.where(bad, np.nan, f), np.where(bad, np.nan, a)


def mae(forecast: np.ndarray, actual: np.ndarray, axis: Axis = None) -> np.ndarray:
    """Mean absolute error [unit of the data].

    Examples
    --------
    >>> float(mae(np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 2.0])))
    1.0
    """
    f, a = _pair(forecast, actual)
    with _quiet():
        return np.asarray(np.nanmean(np.abs(f - a), axis=axis))


def rmse(forecast: np.ndarray, actual: np.ndarray, axis: Axis = None) -> np.ndarray:
    """Root mean squared error [unit of the data].

    Examples
    --------
    >>> round(float(rmse(np.array([0.0, 0.0]), np.array([3.0, 4.0])) ** 2), 9)
    12.5
    """
    f, a = _pair(forecast, actual)
    with _quiet():
        return np.asarray(np.sqrt(np.nanmean((f - a) ** 2, axis=axis)))


def nmae(forecast: np.ndarray, actual: np.ndarray, axis: Axis = None) -> np.ndarray:
    """MAE divided by the mean absolute observation [-].

    Examples
    --------
    >>> float(nmae(np.array([1.0, 3.0]), np.array([2.0, 2.0])))
    0.5
    """
    f, a = _pair(forecast, actual)
    with _quiet():
        return np.asarray(np.nanmean(np.abs(f - a), axis=axis) / np.nanmean(np.abs(a), axis=axis))


def pinball(
    forecast: np.ndarray, actual: np.ndarray, level: float, axis: Axis = None
) -> np.ndarray:
    """Mean pinball (quantile) loss at quantile ``level`` [unit of the data].

    ``level * (a - f)`` when the observation is above the forecast, else
    ``(1 - level) * (f - a)``.

    Examples
    --------
    >>> float(pinball(np.array([1.0, 1.0]), np.array([3.0, 0.0]), 0.9))
    0.95
    """
    if not 0.0 < level < 1.0:
        raise ForecastError(f"quantile level must lie in (0, 1), got {level}")
    f, a = _pair(forecast, actual)
    diff = a - f
    with _quiet():
        loss = np.maximum(level * diff, (level - 1.0) * diff)
        return np.asarray(np.nanmean(loss, axis=axis))


def coverage(
    lower: np.ndarray, upper: np.ndarray, actual: np.ndarray, axis: Axis = None
) -> np.ndarray:
    """Share of observations inside ``[lower, upper]`` [-]."""
    lo, a = _pair(lower, actual)
    hi, _ = _pair(upper, actual)
    inside = np.where(np.isnan(a), np.nan, (a >= lo) & (a <= hi))
    with _quiet():
        return np.asarray(np.nanmean(inside, axis=axis))


def skill(error: np.ndarray | float, reference_error: np.ndarray | float) -> np.ndarray:
    """Skill score ``1 - error / reference_error`` [-]: 0 = as good as the reference.

    Examples
    --------
    >>> float(skill(0.8, 1.0))
    0.19999999999999996
    """
    e = np.asarray(error, dtype=float)
    r = np.asarray(reference_error, dtype=float)
    with _quiet():
        return np.asarray(np.where(r > 0, 1.0 - e / r, np.nan))
