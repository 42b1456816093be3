"""Design matrices of the baseline models (time of week, temperature, degree days).

Each function builds the regressors of one model family from a time index and
drivers, so that fitting and predicting share one description of the model.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
from datetime import date

import numpy as np
import pandas as pd

#: Temperature knots of the hourly model [degC]: the CalTRACK bin edges
#: 30/45/55/65/75/90 degF converted to degC. Fixed by principle, not fitted.
DEFAULT_KNOTS_C: tuple[float, ...] = (-1.1, 7.2, 12.8, 18.3, 23.9, 32.2)

#: Fewest baseline hours a temperature segment needs; sparser segments are merged
#: with a neighbour so that no slope rests on a handful of hours.
MIN_HOURS_PER_SEGMENT = 20


def time_of_week(index: pd.DatetimeIndex, holidays: Collection[date] = ()) -> np.ndarray:
    """Hour of the week, 0 = Monday 00:00 ... 167 = Sunday 23:00; holidays count as Sunday.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Interval-start timestamps (local time).
    holidays : collection of datetime.date
        Days treated as Sundays.

    Returns
    -------
    numpy.ndarray of int
    """
    dow = index.day_of_week.to_numpy().copy()
    if holidays:
        dow[_on_days(index, holidays)] = 6
    return np.asarray(dow * 24 + index.hour.to_numpy(), dtype=int)


def is_day_off(index: pd.DatetimeIndex, holidays: Collection[date] = ()) -> np.ndarray:
    """True on Saturdays, Sundays and holidays.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Timestamps (any interval).
    holidays : collection of datetime.date
        Extra days off.

    Returns
    -------
    numpy.ndarray of bool
    """
    off = index.day_of_week.to_numpy() >= 5
    if holidays:
        off |= _on_days(index, holidays)
    return np.asarray(off, dtype=bool)


def _on_days(index: pd.DatetimeIndex, days: Collection[date]) -> np.ndarray:
    """True where a timestamp falls on one of ``days`` (vectorised, no Python dates)."""
    wanted = pd.DatetimeIndex([pd.Timestamp(d) for d in days])
    return np.asarray(index.normalize().isin(wanted), dtype=bool)


def select_knots(
    temperature: np.ndarray,
    knots: Sequence[float] = DEFAULT_KNOTS_C,
    min_count: int = MIN_HOURS_PER_SEGMENT,
) -> tuple[float, ...]:
    """Drop knots until every temperature segment holds at least ``min_count`` values.

    Parameters
    ----------
    temperature : numpy.ndarray
        Baseline-period temperatures [degC].
    knots : sequence of float
        Candidate knots [degC], increasing.
    min_count : int
        Fewest observations per segment.

    Returns
    -------
    tuple of float
        Retained knots (possibly empty: one linear slope).
    """
    t = temperature[np.isfinite(temperature)]
    kept = [k for k in sorted(knots) if t.min() < k < t.max()]
    while kept:
        edges = [-np.inf, *kept, np.inf]
        counts = np.histogram(t, bins=edges)[0]
        worst = int(np.argmin(counts))
        if counts[worst] >= min_count:
            break
        # Merge the sparse segment into its neighbour by removing the knot between them.
        kept.pop(min(max(worst - 1, 0), len(kept) - 1) if worst > 0 else 0)
    return tuple(kept)


def temperature_segments(temperature: np.ndarray, knots: Sequence[float]) -> np.ndarray:
    """Piecewise-linear temperature basis: one column per segment between knots.

    Column ``j`` holds the part of the temperature that falls in segment ``j``,
    so a linear combination is a continuous piecewise-linear function of T.

    Parameters
    ----------
    temperature : numpy.ndarray
        Temperatures [degC].
    knots : sequence of float
        Increasing knots [degC].

    Returns
    -------
    numpy.ndarray
        Shape (n, len(knots) + 1).
    """
    t = np.asarray(temperature, dtype=float)
    if not knots:
        return t[:, None]
    cols = [np.minimum(t, knots[0])]
    for lo, hi in itertools.pairwise(knots):
        cols.append(np.clip(t - lo, 0.0, hi - lo))
    cols.append(np.maximum(t - knots[-1], 0.0))
    return np.column_stack(cols)


def degree_days(mean_temperature: np.ndarray, balance_c: float, heating: bool) -> np.ndarray:
    """Daily heating or cooling degree days [K day] from daily mean temperature.

    Parameters
    ----------
    mean_temperature : numpy.ndarray
        Daily mean temperature [degC].
    balance_c : float
        Balance point [degC].
    heating : bool
        HDD (``balance - T``) if True, else CDD (``T - balance``), floored at 0.

    Returns
    -------
    numpy.ndarray
    """
    t = np.asarray(mean_temperature, dtype=float)
    return np.maximum(balance_c - t, 0.0) if heating else np.maximum(t - balance_c, 0.0)
