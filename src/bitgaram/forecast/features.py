"""Causal feature helpers shared by the learned forecasters.

Features are built for flat arrays of (origin, step-ahead) pairs: ``o`` and
``k`` of equal length, target position ``t = o + k``. Every helper reads
observations only at positions ``< o``; positions before the start of the data
give NaN, which LightGBM treats as missing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import holidays as holidays_lib
import numpy as np
import pandas as pd

from bitgaram.errors import ConfigError
from bitgaram.forecast.base import latest_weather_forecast, timestamps_at

#: CityLearn ``day_type`` code of a public holiday.
CITYLEARN_HOLIDAY_DAY_TYPE = 8


def gather(values: np.ndarray, pos: np.ndarray, limit: np.ndarray | None = None) -> np.ndarray:
    """``values[pos]`` with NaN where ``pos < 0``, ``pos >= len(values)`` or ``pos >= limit``."""
    n = len(values)
    ok = (pos >= 0) & (pos < n)
    if limit is not None:
        ok &= pos < limit
    padded = np.append(np.asarray(values, dtype=float), np.nan)
    return padded[np.where(ok, pos, n)]


@dataclass(frozen=True)
class RunningSums:
    """Prefix sums of a series for O(1) causal window statistics (NaN-aware)."""

    total: np.ndarray
    squares: np.ndarray
    count: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray) -> RunningSums:
        """Prefix sums of ``values`` (shape (n,)); entry ``i`` sums rows ``< i``."""
        v = np.asarray(values, dtype=float)
        ok = np.isfinite(v)
        z = np.where(ok, v, 0.0)
        return cls(
            total=np.concatenate([[0.0], np.cumsum(z)]),
            squares=np.concatenate([[0.0], np.cumsum(z * z)]),
            count=np.concatenate([[0], np.cumsum(ok)]).astype(float),
        )

    def _window(self, end: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(self.total) - 1
        hi = np.clip(end, 0, n)
        lo = np.clip(end - width, 0, n)
        cnt = self.count[hi] - self.count[lo]
        return self.total[hi] - self.total[lo], self.squares[hi] - self.squares[lo], cnt

    def mean(self, end: np.ndarray, width: int) -> np.ndarray:
        """Mean of rows ``[end - width, end)``, NaN if none observed."""
        s, _, c = self._window(end, width)
        with np.errstate(all="ignore"):
            return np.where(c > 0, s / np.maximum(c, 1), np.nan)

    def std(self, end: np.ndarray, width: int) -> np.ndarray:
        """Standard deviation of rows ``[end - width, end)``, NaN if fewer than 2."""
        s, s2, c = self._window(end, width)
        with np.errstate(all="ignore"):
            var = s2 / np.maximum(c, 1) - (s / np.maximum(c, 1)) ** 2
            return np.where(c > 1, np.sqrt(np.maximum(var, 0.0)), np.nan)


def seasonal_lag(k: np.ndarray, period: int) -> np.ndarray:
    """Smallest multiple of ``period`` that reaches before the origin for step ``k``."""
    return period * ((k + period) // period)


@dataclass(frozen=True)
class Calendar:
    """Calendar attributes per position (past the end of the data too).

    Attributes
    ----------
    hour : numpy.ndarray
        Hour of day of the interval start plus fraction [h].
    dayofweek : numpy.ndarray
        0 = Monday ... 6 = Sunday.
    dayofyear : numpy.ndarray
        1 ... 366.
    offday : numpy.ndarray
        1.0 on weekends and public holidays, else 0.0.
    """

    hour: np.ndarray
    dayofweek: np.ndarray
    dayofyear: np.ndarray
    offday: np.ndarray


def build_calendar(
    index: pd.DatetimeIndex,
    n_positions: int,
    country: str | None = "KR",
    subdiv: str | None = None,
    day_type: np.ndarray | None = None,
) -> Calendar:
    """Calendar of positions ``0 .. n_positions - 1`` of ``index`` (extrapolated).

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Interval-start timestamps (naive local time).
    n_positions : int
        Number of positions to describe (may exceed ``len(index)``).
    country : str or None
        ISO country code for public holidays (``holidays`` package); None for none.
    subdiv : str or None
        Subdivision (state, province) for regional holidays.
    day_type : numpy.ndarray, optional
        CityLearn day types for the positions of ``index``; code 8 marks a holiday.

    Raises
    ------
    ConfigError
        If the country or subdivision is unknown to ``holidays``.
    """
    stamps = timestamps_at(index, np.arange(n_positions))
    hour = (stamps.hour + stamps.minute / 60.0).to_numpy(dtype=float)
    dow = stamps.day_of_week.to_numpy(dtype=float)
    doy = stamps.day_of_year.to_numpy(dtype=float)
    off = dow >= 5
    if country:
        years = range(int(stamps.year.min()), int(stamps.year.max()) + 1)
        try:
            cal = holidays_lib.country_holidays(country, subdiv=subdiv, years=years)
        except (NotImplementedError, KeyError) as exc:
            raise ConfigError(
                f"unknown holiday country/subdivision {country!r}/{subdiv!r}"
            ) from exc
        days = stamps.normalize()
        hol = np.array([d.date() in cal for d in pd.DatetimeIndex(days.unique())])
        off |= pd.Series(hol, index=days.unique()).reindex(days).to_numpy(dtype=bool)
    if day_type is not None:
        dt = np.asarray(day_type)[: min(len(day_type), n_positions)]
        off[: len(dt)] |= dt == CITYLEARN_HOLIDAY_DAY_TYPE
    return Calendar(hour=hour, dayofweek=dow, dayofyear=doy, offday=off.astype(float))


def pairwise_forecast(exog: pd.DataFrame, var: str, o: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Latest forecast of ``var`` available at origin ``o`` for target ``o + k``, per pair."""
    horizon = int(k.max()) + 1 if k.size else 1
    uo, inv = np.unique(o, return_inverse=True)
    return latest_weather_forecast(exog, var, uo, horizon)[inv, k]


def nan_reduce(func: Callable[..., np.ndarray], stack: np.ndarray) -> np.ndarray:
    """Apply a NaN-aware reduction over axis 0 without all-NaN-slice warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(func(stack, axis=0))
