"""Naive baselines: persistence, seasonal naive, and the best of them per horizon.

Every forecast here is a copy of an observed value: persistence repeats the
last observation, seasonal naive the latest observation one (or more) periods
before the target. Quantiles come from the empirical distribution of the
baseline's own errors on the last ``residual_window`` steps of the fitting
data, per step ahead and per series, so intervals widen with the horizon.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
import pandas as pd

from bitgaram.errors import ForecastError
from bitgaram.forecast.base import (
    ForecastResult,
    actual_matrix,
    check_origins,
    check_series,
)
from bitgaram.forecast.features import nan_reduce

#: Steps of fitting data used to estimate baseline error quantiles (four weeks of hours).
DEFAULT_RESIDUAL_WINDOW = 24 * 28


def copy_forecast(values: np.ndarray, origins: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Forecast each target ``o + k`` by the value ``lags[k]`` steps before it.

    Parameters
    ----------
    values : numpy.ndarray
        Observations, shape (n_steps, n_series).
    origins : numpy.ndarray
        Origin positions, shape (n_origins,).
    lags : numpy.ndarray
        Lag per step ahead, shape (horizon,); ``lags[k] >= k + 1`` so the value
        copied is observed before the origin.

    Returns
    -------
    numpy.ndarray
        Shape (n_origins, horizon, n_series); NaN where the copied position is
        before the start of the data.
    """
    k = np.arange(len(lags))
    if np.any(lags < k + 1):
        raise ForecastError("copy_forecast: every lag must reach before the origin (lag >= k + 1)")
    pos = np.asarray(origins, dtype=np.int64)[:, None] + (k - lags)[None, :]
    padded = np.vstack([values, np.full((1, values.shape[1]), np.nan)])
    return padded[np.where(pos >= 0, pos, len(values))]


def _residual_quantiles(
    values: np.ndarray,
    point_fn: _PointFn,
    end: int,
    horizon: int,
    window: int,
    quantiles: Sequence[float],
) -> dict[float, np.ndarray]:
    """Quantiles of ``actual - forecast`` over origins whose targets lie before ``end``."""
    last = end - horizon + 1
    first = max(1, end - window)
    out: dict[float, np.ndarray] = {}
    if last <= first:
        return {q: np.zeros((horizon, values.shape[1])) for q in quantiles}
    origins = np.arange(first, last)
    err = actual_matrix(values[:end], origins, horizon) - point_fn(values[:end], origins, horizon)
    if not np.isfinite(err).any():
        return {q: np.zeros((horizon, values.shape[1])) for q in quantiles}
    levels = list(quantiles)
    qv = nan_reduce(lambda a, axis: np.nanquantile(a, levels, axis=axis), err)
    for i, q in enumerate(levels):
        out[q] = np.nan_to_num(qv[i])
    return out


class _PointFn:
    """Callable ``(values, origins, horizon) -> point`` of a copying baseline."""

    def __call__(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        raise NotImplementedError


class _CopyBaseline(_PointFn):
    """Shared fit/predict of baselines that copy past values."""

    name: str = "baseline"

    def __init__(self, residual_window: int = DEFAULT_RESIDUAL_WINDOW) -> None:
        self.residual_window = residual_window
        self._end: int | None = None

    def lags(self, horizon: int) -> np.ndarray:
        """Lag [steps] used for each step ahead, shape (horizon,)."""
        raise NotImplementedError

    def __call__(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        point = copy_forecast(values, origins, self.lags(horizon))
        # Too little history for the seasonal lag: fall back to the last observation.
        if np.isnan(point).any():
            last = copy_forecast(values, origins, np.arange(1, horizon + 1))
            last = np.broadcast_to(last[:, :1, :], point.shape)
            point = np.where(np.isnan(point), last, point)
        return point

    def fit(
        self, y: pd.DataFrame, exog: pd.DataFrame | None = None, end: int | None = None
    ) -> Self:
        """Remember the end of the fitting data (baselines have no parameters)."""
        check_series(y)
        self._end = len(y) if end is None else int(end)
        return self

    def predict(
        self,
        y: pd.DataFrame,
        origins: np.ndarray,
        horizon: int,
        exog: pd.DataFrame | None = None,
        quantiles: Sequence[float] = (),
    ) -> ForecastResult:
        """Forecast ``horizon`` steps from every origin [unit of y].

        Error quantiles are estimated on data before ``min(end, first origin)``
        so that a forecast never depends on values at or after its origin.
        """
        check_series(y)
        o = check_origins(origins, len(y))
        values = y.to_numpy(dtype=float)
        point = self(values, o, horizon)
        qs: dict[float, np.ndarray] = {}
        if quantiles and o.size:
            end = min(self._end if self._end is not None else len(y), int(o.min()))
            res = _residual_quantiles(values, self, end, horizon, self.residual_window, quantiles)
            qs = {q: point + res[q][None, :, :] for q in quantiles}
            stacked = np.sort(np.stack([qs[q] for q in sorted(qs)]), axis=0)
            qs = {q: stacked[i] for i, q in enumerate(sorted(qs))}
        return ForecastResult(
            origins=o,
            horizon=horizon,
            series=tuple(map(str, y.columns)),
            point=point,
            quantiles=qs,
            name=self.name,
        )


class Persistence(_CopyBaseline):
    """Repeat the last observation for every step ahead.

    Examples
    --------
    >>> y = pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=pd.date_range("2024", periods=3, freq="h"))
    >>> Persistence().fit(y).predict(y, np.array([2]), 2).point[0, :, 0]
    array([2., 2.])
    """

    name = "persistence"

    def lags(self, horizon: int) -> np.ndarray:
        """Lag ``k + 1`` for step ``k``: always the value at ``origin - 1``."""
        return np.arange(1, horizon + 1)


class SeasonalNaive(_CopyBaseline):
    """Copy the latest observation one or more periods before the target.

    Step ``k`` copies the value ``period * ceil((k + 1) / period)`` steps back:
    with ``period=24`` on hourly data, the same hour yesterday (or the day
    before for steps beyond a day); ``period=168`` gives the same hour last week.

    Parameters
    ----------
    period : int
        Season length [steps].
    residual_window : int
        Steps of fitting data used for error quantiles.
    """

    def __init__(self, period: int = 24, residual_window: int = DEFAULT_RESIDUAL_WINDOW) -> None:
        if period < 1:
            raise ForecastError(f"SeasonalNaive: period must be >= 1 step, got {period}")
        super().__init__(residual_window)
        self.period = period
        self.name = f"seasonal_naive_{period}"

    def lags(self, horizon: int) -> np.ndarray:
        """Lag ``period * ceil((k + 1) / period)`` for step ``k``."""
        k = np.arange(horizon)
        return self.period * ((k + self.period) // self.period)


class BestBaseline(_CopyBaseline):
    """Per step ahead and series, the candidate baseline with the lowest recent MAE.

    The choice is made on a validation window of ``validation`` steps ending
    at ``min(end, first origin)``: only data before every origin is used.

    Parameters
    ----------
    candidates : sequence of baselines, optional
        Defaults to persistence, seasonal naive (day) and seasonal naive (week)
        for hourly data.
    validation : int
        Length of the validation window [steps] (default two weeks of hours).
    residual_window : int
        Steps of fitting data used for error quantiles.
    """

    name = "best_baseline"

    def __init__(
        self,
        candidates: Sequence[_CopyBaseline] | None = None,
        validation: int = 24 * 14,
        residual_window: int = DEFAULT_RESIDUAL_WINDOW,
    ) -> None:
        super().__init__(residual_window)
        self.candidates: tuple[_CopyBaseline, ...] = tuple(
            candidates
            if candidates is not None
            else (Persistence(), SeasonalNaive(24), SeasonalNaive(24 * 7))
        )
        if not self.candidates:
            raise ForecastError("BestBaseline needs at least one candidate")
        self.validation = validation
        self.choice: np.ndarray | None = None  # (horizon, n_series) candidate index

    def choose(self, values: np.ndarray, end: int, horizon: int) -> np.ndarray:
        """Index of the best candidate per (step ahead, series), shape (horizon, n_series).

        Candidates are scored by MAE over validation origins whose targets lie
        before ``end``; a candidate whose lag reaches before the start of the
        window is scored on what it can forecast, and ties go to the first.
        """
        last = end - horizon + 1
        first = max(1, end - self.validation - horizon + 1)
        n_series = values.shape[1]
        if last <= first:
            return np.zeros((horizon, n_series), dtype=np.int64)
        origins = np.arange(first, last)
        actual = actual_matrix(values[:end], origins, horizon)
        scores = np.full((len(self.candidates), horizon, n_series), np.inf)
        for i, cand in enumerate(self.candidates):
            fc = copy_forecast(values[:end], origins, cand.lags(horizon))
            err = np.abs(actual - fc)
            counts = np.isfinite(err).sum(axis=0)
            mae = nan_reduce(np.nanmean, np.where(np.isfinite(err), err, np.nan))
            # Score only where the candidate covers most of the window.
            scores[i] = np.where(counts >= 0.5 * len(origins), mae, np.inf)
        best = np.argmin(scores, axis=0)
        return np.where(np.isfinite(scores.min(axis=0)), best, 0).astype(np.int64)

    def __call__(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        choice = self.choice if self.choice is not None and len(self.choice) == horizon else None
        if choice is None:
            end = int(origins.min()) if len(origins) else len(values)
            choice = self.choose(values, end, horizon)
        out = np.empty((len(origins), horizon, values.shape[1]))
        for i, cand in enumerate(self.candidates):
            mask = choice == i
            if mask.any():
                fc = cand(values, origins, horizon)
                out[:, mask] = fc[:, mask]
        return out

    def predict(
        self,
        y: pd.DataFrame,
        origins: np.ndarray,
        horizon: int,
        exog: pd.DataFrame | None = None,
        quantiles: Sequence[float] = (),
    ) -> ForecastResult:
        """Choose the candidates on data before the origins, then forecast."""
        o = check_origins(origins, len(y))
        end = len(y) if self._end is None else self._end
        if o.size:
            end = min(end, int(o.min()))
        self.choice = self.choose(y.to_numpy(dtype=float), end, horizon)
        try:
            return super().predict(y, o, horizon, exog, quantiles)
        finally:
            self.choice = None
