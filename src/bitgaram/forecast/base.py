"""The forecasting contract: one interface for every forecaster.

Conventions
-----------
- **Series** ``y``: a :class:`pandas.DataFrame` indexed by a regular
  :class:`pandas.DatetimeIndex` of interval-start timestamps (one row = one
  step, e.g. 1 h), one column per series (meter, building), values in kWh per
  step (or kW).
- **Exogenous data** ``exog``: a DataFrame on the same index (weather,
  calendar, price...). Weather forecast columns follow CityLearn: column
  ``X_predicted_1/2/3`` at row ``r`` is the forecast of ``X`` at ``r + 6``,
  ``r + 12`` and ``r + 24`` steps. Measured exogenous values are known only for
  rows ``<= origin - 1``; forecasts only if issued at a row ``<= origin - 1``
  (see :func:`latest_weather_forecast`).
- **Origin**: an integer position ``o`` into ``y.index``. A forecast made at
  ``o`` covers steps ``o, o + 1, ..., o + horizon - 1`` and uses only rows
  ``< o`` of ``y``. ``o`` may equal ``len(y)`` (forecast the future).

Every forecaster implements :class:`Forecaster`; :func:`rolling_forecast`
drives any of them causally over many origins, refitting once per block and
predicting each block in one batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, Self, runtime_checkable

import numpy as np
import pandas as pd

from bitgaram.errors import DataError, ForecastError

#: Quantile levels reported by default (P10, P50, P90).
DEFAULT_QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)

#: Lead times [steps] of the CityLearn weather forecast columns ``_predicted_1/2/3``.
CITYLEARN_LEADS: tuple[int, ...] = (6, 12, 24)

#: Column suffixes matching :data:`CITYLEARN_LEADS`.
CITYLEARN_SUFFIXES: tuple[str, ...] = ("_predicted_1", "_predicted_2", "_predicted_3")


@dataclass(frozen=True)
class ForecastResult:
    """Forecasts of several series from many origins.

    Attributes
    ----------
    origins : numpy.ndarray
        Origin positions into the series index, shape (n_origins,), increasing.
    horizon : int
        Steps per forecast; step ``k`` of origin ``o`` targets position ``o + k``.
    series : tuple of str
        Series (column) names.
    point : numpy.ndarray
        Point forecasts, shape (n_origins, horizon, n_series) [unit of y].
    quantiles : dict of float to numpy.ndarray
        Quantile level -> forecasts of the same shape as ``point`` [unit of y].
    name : str
        Name of the forecaster that produced the result.
    """

    origins: np.ndarray
    horizon: int
    series: tuple[str, ...]
    point: np.ndarray
    quantiles: dict[float, np.ndarray] = field(default_factory=dict)
    name: str = ""

    def __post_init__(self) -> None:
        shape = (len(self.origins), self.horizon, len(self.series))
        if self.point.shape != shape:
            raise ForecastError(
                f"{self.name or 'forecast'}: point has shape {self.point.shape}, expected {shape}"
            )
        for q, values in self.quantiles.items():
            if values.shape != shape:
                raise ForecastError(
                    f"{self.name or 'forecast'}: quantile {q} has shape {values.shape}, "
                    f"expected {shape}"
                )

    @property
    def n_origins(self) -> int:
        """Number of origins."""
        return len(self.origins)

    def quantile(self, level: float) -> np.ndarray:
        """Forecasts at quantile ``level``, shape (n_origins, horizon, n_series).

        Raises
        ------
        ForecastError
            If the level was not forecast.
        """
        for q, values in self.quantiles.items():
            if math.isclose(q, level):
                return values
        raise ForecastError(
            f"{self.name or 'forecast'}: quantile {level} not forecast; "
            f"available: {sorted(self.quantiles)}"
        )

    def target_positions(self) -> np.ndarray:
        """Target positions ``origin + k``, shape (n_origins, horizon)."""
        return np.asarray(self.origins)[:, None] + np.arange(self.horizon)[None, :]

    def to_frame(self, index: pd.DatetimeIndex) -> pd.DataFrame:
        """Long table of the forecasts, one row per (origin, step, series).

        Parameters
        ----------
        index : pandas.DatetimeIndex
            The series index the origins refer to; positions past its end are
            extrapolated with its step.

        Returns
        -------
        pandas.DataFrame
            Columns ``issue_time`` (start of the origin step: the forecast uses
            data before it), ``target_time``, ``horizon`` (1 = first step),
            ``series``, ``point`` and one ``q<level>`` column per quantile
            (e.g. ``q0.1``).
        """
        n_o, n_h, n_s = self.point.shape
        issue = timestamps_at(index, np.asarray(self.origins))
        target = timestamps_at(index, self.target_positions().ravel()).to_numpy()
        frame = pd.DataFrame(
            {
                "issue_time": np.repeat(issue.to_numpy(), n_h * n_s),
                "target_time": np.repeat(target, n_s),
                "horizon": np.tile(np.repeat(np.arange(1, n_h + 1), n_s), n_o),
                "series": np.tile(np.asarray(self.series, dtype=object), n_o * n_h),
                "point": self.point.ravel(),
            }
        )
        for q in sorted(self.quantiles):
            frame[f"q{q:g}"] = self.quantiles[q].ravel()
        return frame

    @classmethod
    def concat(cls, parts: Sequence[ForecastResult]) -> ForecastResult:
        """Join results over disjoint origin sets (same horizon, series, quantiles)."""
        if not parts:
            raise ForecastError("nothing to concatenate: no forecast results")
        first = parts[0]
        for p in parts[1:]:
            if p.horizon != first.horizon or p.series != first.series:
                raise ForecastError("cannot concatenate forecasts of different horizon or series")
            if set(p.quantiles) != set(first.quantiles):
                raise ForecastError("cannot concatenate forecasts with different quantiles")
        return cls(
            origins=np.concatenate([p.origins for p in parts]),
            horizon=first.horizon,
            series=first.series,
            point=np.concatenate([p.point for p in parts], axis=0),
            quantiles={
                q: np.concatenate([p.quantiles[q] for p in parts], axis=0) for q in first.quantiles
            },
            name=first.name,
        )


@runtime_checkable
class Forecaster(Protocol):
    """What every forecaster provides.

    ``fit`` learns from rows strictly before position ``end``; ``predict``
    forecasts ``horizon`` steps from every origin using only rows of ``y``
    before that origin and exogenous data available at ``origin - 1``.
    """

    name: str

    def fit(
        self, y: pd.DataFrame, exog: pd.DataFrame | None = None, end: int | None = None
    ) -> Self:
        """Fit on rows ``[0, end)`` of ``y`` (all rows if ``end`` is None)."""
        ...

    def predict(
        self,
        y: pd.DataFrame,
        origins: np.ndarray,
        horizon: int,
        exog: pd.DataFrame | None = None,
        quantiles: Sequence[float] = (),
    ) -> ForecastResult:
        """Forecast steps ``o .. o + horizon - 1`` for every origin ``o``."""
        ...


def check_series(y: pd.DataFrame) -> None:
    """Validate a series frame: DatetimeIndex, increasing, numeric columns.

    Raises
    ------
    DataError
        If ``y`` is not usable as forecasting input.
    """
    if not isinstance(y.index, pd.DatetimeIndex):
        raise DataError("forecast input must be indexed by a DatetimeIndex of interval starts")
    if len(y) >= 2 and not y.index.is_monotonic_increasing:
        raise DataError("forecast input index must be increasing")
    if y.shape[1] == 0:
        raise DataError("forecast input has no series (columns)")


def check_origins(origins: np.ndarray | Sequence[int], n_rows: int) -> np.ndarray:
    """Return ``origins`` as an int64 array after checking ``1 <= o <= n_rows``.

    Raises
    ------
    ForecastError
        If an origin has no history before it or lies past the end of the data.
    """
    arr = np.asarray(origins, dtype=np.int64).reshape(-1)
    if arr.size and (arr.min() < 1 or arr.max() > n_rows):
        raise ForecastError(
            f"origins must lie in [1, {n_rows}] (positions into the series index); "
            f"got {arr.min()}..{arr.max()}"
        )
    return arr


def step_of(index: pd.DatetimeIndex) -> pd.Timedelta:
    """Length of one step of a regular index (its ``freq`` or first difference)."""
    if isinstance(index.freq, pd.offsets.Tick):
        return pd.Timedelta(index.freq)
    if len(index) < 2:
        raise DataError("cannot infer the time step from an index with fewer than 2 entries")
    return pd.Timedelta(index[1] - index[0])


def steps_per_day(index: pd.DatetimeIndex) -> int:
    """Number of steps in one day for the index's step length."""
    return max(1, round(pd.Timedelta(days=1) / step_of(index)))


def timestamps_at(index: pd.DatetimeIndex, positions: np.ndarray) -> pd.DatetimeIndex:
    """Timestamps of integer positions, extrapolating past the end with the step."""
    pos = np.asarray(positions, dtype=np.int64)
    step = step_of(index)
    inside = (pos >= 0) & (pos < len(index))
    if inside.all():
        return pd.DatetimeIndex(index.to_numpy()[pos])
    start = index[0]
    return pd.DatetimeIndex(start + pd.to_timedelta(pos * step.value, unit="ns"))


def actual_matrix(values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Observed values aligned with forecasts, NaN past the end of the data.

    Parameters
    ----------
    values : numpy.ndarray
        Observations, shape (n_steps, n_series).
    origins : numpy.ndarray
        Origin positions, shape (n_origins,).
    horizon : int
        Steps per forecast.

    Returns
    -------
    numpy.ndarray
        Shape (n_origins, horizon, n_series): ``values[o + k]``.
    """
    vals = np.asarray(values, dtype=float)
    if vals.ndim == 1:
        vals = vals[:, None]
    pos = np.asarray(origins, dtype=np.int64)[:, None] + np.arange(horizon)[None, :]
    padded = np.vstack([vals, np.full((1, vals.shape[1]), np.nan)])
    pos = np.where(pos < len(vals), pos, len(vals))
    return padded[pos]


def lagged_values(values: np.ndarray, origins: np.ndarray, horizon: int, lag: int) -> np.ndarray:
    """Values ``lag`` steps before each target, NaN where not yet observed.

    ``values[o + k - lag]`` is returned only if ``o + k - lag < o`` (observed
    at the origin); otherwise NaN. Shape (n_origins, horizon, n_series).
    """
    vals = np.asarray(values, dtype=float)
    if vals.ndim == 1:
        vals = vals[:, None]
    o = np.asarray(origins, dtype=np.int64)[:, None]
    k = np.arange(horizon)[None, :]
    pos = o + k - lag
    ok = (pos >= 0) & (pos < o) & (pos < len(vals))
    padded = np.vstack([vals, np.full((1, vals.shape[1]), np.nan)])
    return padded[np.where(ok, pos, len(vals))]


def latest_weather_forecast(
    weather: pd.DataFrame,
    variable: str,
    origins: np.ndarray,
    horizon: int,
    leads: Sequence[int] = CITYLEARN_LEADS,
    suffixes: Sequence[str] = CITYLEARN_SUFFIXES,
    period: int = 24,
) -> np.ndarray:
    """Most recent forecast of a weather variable available at each origin.

    For origin ``o`` and target ``s = o + k``, the forecast with the shortest
    lead ``L >= k + 1`` is used, read at issue row ``s - L <= o - 1``. Targets
    beyond the longest lead ``Lmax`` take the latest forecast of the same time
    of day (``period`` steps earlier, as many periods as needed): a diurnal
    persistence of the forecast, never a later-issued value.

    Parameters
    ----------
    weather : pandas.DataFrame
        Weather frame with columns ``variable + suffix`` for each suffix
        (row ``r`` of the ``i``-th column forecasts row ``r + leads[i]``).
    variable : str
        Variable name, e.g. ``"direct_solar_irradiance"``.
    origins : numpy.ndarray
        Origin positions, shape (n_origins,).
    horizon : int
        Steps per forecast.
    leads : sequence of int
        Lead time [steps] of each forecast column, increasing.
    suffixes : sequence of str
        Column suffixes matching ``leads``.
    period : int
        Steps per day, used beyond the longest lead.

    Returns
    -------
    numpy.ndarray
        Shape (n_origins, horizon) [unit of the variable]; NaN where the issue
        row lies before the start (or past the end) of ``weather``.

    Raises
    ------
    DataError
        If a forecast column is missing.

    Examples
    --------
    >>> w = pd.DataFrame({"t_predicted_1": np.arange(48.0)}, index=pd.RangeIndex(48))
    >>> latest_weather_forecast(w, "t", np.array([10]), 3, leads=(6,), suffixes=("_predicted_1",))
    array([[4., 5., 6.]])
    """
    if len(leads) != len(suffixes) or not leads:
        raise DataError("leads and suffixes must be non-empty and of equal length")
    order = np.argsort(np.asarray(leads))
    leads_arr = np.asarray(leads, dtype=np.int64)[order]
    cols = [f"{variable}{suffixes[i]}" for i in order]
    missing = [c for c in cols if c not in weather.columns]
    if missing:
        raise DataError(f"weather has no forecast column(s) {missing} for '{variable}'")
    table = weather[cols].to_numpy(dtype=float)  # (n_rows, n_leads)
    n_rows = table.shape[0]
    k = np.arange(horizon)
    # Shortest lead covering step k (lead >= k + 1); beyond the longest, step back by periods.
    which = np.searchsorted(leads_arr, k + 1, side="left")
    beyond = which >= len(leads_arr)
    which = np.minimum(which, len(leads_arr) - 1)
    lead = leads_arr[which]
    extra = np.where(beyond, np.ceil((k + 1 - lead) / period).astype(np.int64) * period, 0)
    rows = np.asarray(origins, dtype=np.int64)[:, None] + (k - extra - lead)[None, :]
    ok = (rows >= 0) & (rows < n_rows)
    out = np.full(rows.shape, np.nan)
    out[ok] = table[rows[ok], np.broadcast_to(which, rows.shape)[ok]]
    return out


def refit_blocks(origins: np.ndarray, refit_every: int | None) -> list[np.ndarray]:
    """Split sorted origins into refit blocks of at most ``refit_every`` steps.

    A block starts at its first origin and holds the origins ``< start +
    refit_every``; ``None`` puts all origins in one block (fit once).
    """
    if origins.size == 0:
        return []
    if refit_every is None:
        return [origins]
    if refit_every < 1:
        raise ForecastError(f"refit_every must be >= 1 step, got {refit_every}")
    blocks = []
    i = 0
    while i < origins.size:
        j = int(np.searchsorted(origins, origins[i] + refit_every, side="left"))
        blocks.append(origins[i:j])
        i = j
    return blocks


def _checked_origins(
    y: pd.DataFrame, origins: np.ndarray | Sequence[int], horizon: int
) -> np.ndarray:
    """The origins as int64 after checking the series, range, order and horizon."""
    check_series(y)
    arr = check_origins(origins, len(y))
    if horizon < 1:
        raise ForecastError(f"horizon must be >= 1 step, got {horizon}")
    if arr.size > 1 and np.any(np.diff(arr) <= 0):
        raise ForecastError("origins must be strictly increasing")
    return arr


def iter_rolling_forecast(
    forecaster: Forecaster,
    y: pd.DataFrame,
    origins: np.ndarray | Sequence[int],
    horizon: int,
    exog: pd.DataFrame | None = None,
    refit_every: int | None = 24 * 7,
    quantiles: Sequence[float] = (),
) -> Iterator[ForecastResult]:
    """Causal rolling-origin forecasts, one refit block at a time.

    Same arguments and checks as :func:`rolling_forecast`, which joins the
    blocks; this generator lets a consumer use a block's forecasts (e.g. a
    controller replaying history) while later blocks are still being fitted.

    Yields
    ------
    ForecastResult
        The forecasts of one refit block's origins, in order.

    Raises
    ------
    ForecastError
        If origins are not increasing or out of range, or the model fails.
    """
    arr = _checked_origins(y, origins, horizon)
    for block in refit_blocks(arr, refit_every):
        forecaster.fit(y, exog, end=int(block[0]))
        yield forecaster.predict(y, block, horizon, exog, quantiles)


def rolling_forecast(
    forecaster: Forecaster,
    y: pd.DataFrame,
    origins: np.ndarray | Sequence[int],
    horizon: int,
    exog: pd.DataFrame | None = None,
    refit_every: int | None = 24 * 7,
    quantiles: Sequence[float] = (),
    on_block: Callable[[int, int], None] | None = None,
) -> ForecastResult:
    """Causal rolling-origin forecasts: refit per block, predict each block at once.

    Parameters
    ----------
    forecaster : Forecaster
        The model; it is refitted in place.
    y : pandas.DataFrame
        Series, one column per meter [kWh per step or kW].
    origins : array-like of int
        Origin positions, increasing and unique, in ``[1, len(y)]``.
    horizon : int
        Steps per forecast.
    exog : pandas.DataFrame, optional
        Exogenous data on the same index as ``y``.
    refit_every : int or None
        Steps between refits (default one week of hourly steps); each block is
        fitted on rows before its first origin. None fits once, before the
        first origin.
    quantiles : sequence of float
        Quantile levels to forecast, e.g. :data:`DEFAULT_QUANTILES`.
    on_block : callable, optional
        Called as ``on_block(done, total)`` after each block (progress bars).

    Returns
    -------
    ForecastResult
        Forecasts for every origin, in the order given.

    Raises
    ------
    ForecastError
        If origins are not increasing or out of range, or the model fails.
    """
    arr = _checked_origins(y, origins, horizon)
    n_blocks = len(refit_blocks(arr, refit_every))
    parts = []
    blocks = iter_rolling_forecast(forecaster, y, arr, horizon, exog, refit_every, quantiles)
    for part in blocks:
        parts.append(part)
        if on_block is not None:
            on_block(len(parts), n_blocks)
    if not parts:
        return ForecastResult(
            origins=arr,
            horizon=horizon,
            series=tuple(map(str, y.columns)),
            point=np.zeros((0, horizon, y.shape[1])),
            quantiles={q: np.zeros((0, horizon, y.shape[1])) for q in quantiles},
            name=forecaster.name,
        )
    return ForecastResult.concat(parts)
