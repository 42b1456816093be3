"""Load forecasting: one LightGBM model over all meters, direct multi-horizon.

What predicts the load of a meter ``h`` hours ahead, and what the model sees:

- its **recent level** (last hour, last 3 h, last 24 h) and variability;
- its **daily and weekly profile**: the same hour on the latest observed days
  (one day, two days, a 7-day average) and in the latest observed weeks;
- the **recent anomaly**: how far the last hour sits from its own 7-day
  profile, which decays with the horizon; and the **expected change** to the
  target hour, written out because trees split on one feature at a time and
  approximate differences of features poorly: the last hour moved by the
  profile's change from the last hour to the target hour, and yesterday's
  change into the target hour;
- the **calendar** of the target hour (hour of day, day of week, weekend or
  public holiday from the ``holidays`` package, CityLearn ``day_type`` 8);
- **weather**: the latest temperature and humidity *forecast* for the target
  hour available at the origin (:func:`~bitgaram.forecast.base.latest_weather_forecast`),
  the last measured temperature, and the change from the profile day;
- the **step ahead** ``k``: one direct model for all horizons, plus optionally
  dedicated models for the first few steps (``near_steps``). The next hour is
  where the latest measurement says most, and where a controller's decision
  is actually applied; a model trained on every origin at that one step ahead
  uses the last readings far better than the all-horizon model, which sees
  each step ahead in only ``1 / max_horizon`` of its rows.

All load values (features and target) are divided by the meter's mean over
the week before the origin, so one global model serves meters of any size,
including meters it was never trained on. Quantiles (P10/P50/P90 by default)
come from LightGBM's quantile objective; the point forecast is the median,
which minimises the mean absolute error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import lightgbm as lgb
import numpy as np
import pandas as pd

from bitgaram.errors import ForecastError
from bitgaram.forecast.base import (
    DEFAULT_QUANTILES,
    ForecastResult,
    check_origins,
    check_series,
    steps_per_day,
)
from bitgaram.forecast.baselines import BestBaseline, Persistence, SeasonalNaive
from bitgaram.forecast.features import (
    Calendar,
    RunningSums,
    build_calendar,
    gather,
    nan_reduce,
    pairwise_forecast,
    seasonal_lag,
)
from bitgaram.forecast.gbm import LightGBMParams, predict_levels, train_quantile_models

#: Floor of the normalising level, relative to the series' mean absolute value, so that
#: an idle week does not blow features up.
_SCALE_FLOOR = 0.05

#: Dedicated next-step model by default: the next step is the one a receding-horizon
#: controller acts on, and on the sample park's causal backtest (``bench/forecast_backtest.py``,
#: BENCHMARKS.md) it lowers the 1-h MAE well below the all-horizon model's.
DEFAULT_NEAR_STEPS = 1


class _LoadFeatures:
    """Feature builder bound to one series frame and its exogenous data."""

    def __init__(
        self,
        y: pd.DataFrame,
        exog: pd.DataFrame | None,
        calendar: Calendar,
        weather_vars: Sequence[str],
        period: int,
    ) -> None:
        self.values = y.to_numpy(dtype=float)
        self.sums = [RunningSums.of(self.values[:, j]) for j in range(self.values.shape[1])]
        self.calendar = calendar
        self.exog = exog
        self.weather_vars = tuple(weather_vars)
        self.period = period
        self.week = 7 * period
        self._weather_cache: tuple[np.ndarray, np.ndarray, list[np.ndarray]] | None = None

    def names(self) -> list[str]:
        names = [
            "step_ahead",
            "hour",
            "dayofweek",
            "offday",
            "offday_lagday",
            "last",
            "mean_3",
            "mean_day",
            "std_day",
            "lag_day",
            "lag_2day",
            "profile_7day",
            "lag_week",
            "lag_2week",
            "anomaly_last",
            "last_plus_profile_change",
            "lagday_change",
        ]
        for v in self.weather_vars:
            names += [f"{v}_forecast", f"{v}_last"]
        if self.weather_vars:
            names.append(f"{self.weather_vars[0]}_change_vs_lagday")
        return names

    def build(self, o: np.ndarray, k: np.ndarray, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Features (n, n_features) and scale (n,) of series ``j`` for pairs (o, k)."""
        v = self.values[:, j]
        sums = self.sums[j]
        p, w = self.period, self.week
        t = o + k
        scale = sums.mean(o, w)
        fallback = sums.mean(o, len(v))
        scale = np.where(np.isfinite(scale), scale, fallback)
        floor = _SCALE_FLOOR * np.abs(np.where(np.isfinite(fallback), fallback, 1.0))
        scale = np.maximum(np.nan_to_num(scale, nan=1.0), np.maximum(floor, 1e-9))
        lag_d = seasonal_lag(k, p)
        lag_w = seasonal_lag(k, w)
        last = gather(v, o - 1, o)
        prof_now = nan_reduce(
            np.nanmean, np.stack([gather(v, o - 1 - p * i, o) for i in range(1, 8)])
        )
        days = np.stack([gather(v, t - lag_d - p * i, o) for i in range(7)])
        profile = nan_reduce(np.nanmean, days)
        cal = self.calendar
        cols = [
            k + 1.0,
            cal.hour[t],
            cal.dayofweek[t],
            cal.offday[t],
            cal.offday[t - lag_d] if (t - lag_d >= 0).all() else gather(cal.offday, t - lag_d),
            last / scale,
            sums.mean(o, 3) / scale,
            sums.mean(o, p) / scale,
            sums.std(o, p) / scale,
            days[0] / scale,
            days[1] / scale,
            profile / scale,
            gather(v, t - lag_w, o) / scale,
            gather(v, t - lag_w - w, o) / scale,
            (last - prof_now) / scale,
            (last + profile - prof_now) / scale,
            (days[0] - gather(v, t - lag_d - 1, o)) / scale,
        ]
        cols += self._weather(o, k, t - lag_d)
        return np.column_stack(cols), scale

    def _weather(self, o: np.ndarray, k: np.ndarray, lag_day: np.ndarray) -> list[np.ndarray]:
        """Weather columns for pairs (o, k): the same for every series, so computed once."""
        if self.exog is None:
            return []
        cached = self._weather_cache
        if cached is not None and cached[0] is o and cached[1] is k:
            return cached[2]
        cols: list[np.ndarray] = []
        for var in self.weather_vars:
            cols.append(pairwise_forecast(self.exog, var, o, k))
            cols.append(gather(self.exog[var].to_numpy(dtype=float), o - 1, o))
        if self.weather_vars:
            measured = self.exog[self.weather_vars[0]].to_numpy(dtype=float)
            cols.append(cols[0] - gather(measured, lag_day))
        self._weather_cache = (o, k, cols)
        return cols


class LightGBMLoadForecaster:
    """Global direct multi-horizon LightGBM load model with quantiles.

    Parameters
    ----------
    max_horizon : int
        Largest step ahead trained [steps]; predictions further out reuse it.
    quantiles : sequence of float
        Quantile levels trained at each fit; 0.5 (the point forecast) is always added.
    country, subdiv : str or None
        Public-holiday calendar (``holidays`` package); default South Korea.
    weather_vars : sequence of str
        Weather variables used when ``exog`` has them and their ``_predicted_*``
        forecast columns (CityLearn names by default).
    train_window : int
        Most recent steps used for training [steps] (default one year of hours).
    pairs_per_origin : int
        Random steps ahead sampled per training origin (keeps training linear
        in history length while covering all horizons).
    min_train_rows : int
        Below this many training rows the model falls back to the best of
        persistence and seasonal naive (day, week) per step ahead (:class:`BestBaseline`).
    params : LightGBMParams
        LightGBM settings.
    near_steps : int
        Steps ahead ``0 .. near_steps - 1`` that get a dedicated model trained on
        every origin of the last ``near_window`` steps at that step ahead (0 = none;
        default :data:`DEFAULT_NEAR_STEPS`).
    near_window : int
        Training window of the dedicated near-step models [steps].

    Examples
    --------
    >>> from bitgaram.forecast.base import rolling_forecast  # doctest: +SKIP
    >>> res = rolling_forecast(LightGBMLoadForecaster(), y, origins, 24,
    ...                        exog=weather, quantiles=(0.1, 0.5, 0.9))  # doctest: +SKIP
    """

    name = "lightgbm_load"

    def __init__(
        self,
        max_horizon: int = 48,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        country: str | None = "KR",
        subdiv: str | None = None,
        weather_vars: Sequence[str] = ("outdoor_dry_bulb_temperature", "outdoor_relative_humidity"),
        train_window: int = 24 * 365,
        pairs_per_origin: int = 1,
        min_train_rows: int = 2000,
        params: LightGBMParams | None = None,
        near_steps: int = DEFAULT_NEAR_STEPS,
        near_window: int = 24 * 90,
    ) -> None:
        if max_horizon < 1:
            raise ForecastError(f"max_horizon must be >= 1, got {max_horizon}")
        if near_steps < 0 or near_window < 1:
            raise ForecastError(
                f"near_steps must be >= 0 and near_window >= 1, got {near_steps}, {near_window}"
            )
        self.near_steps = near_steps
        self.near_window = near_window
        self.near_models: list[dict[float, lgb.Booster]] = []
        self.max_horizon = max_horizon
        self.levels = tuple(sorted({*map(float, quantiles), 0.5}))
        self.country = country
        self.subdiv = subdiv
        self.weather_vars = tuple(weather_vars)
        self.train_window = train_window
        self.pairs_per_origin = pairs_per_origin
        self.min_train_rows = min_train_rows
        self.params = params or LightGBMParams()
        self.models: dict[float, lgb.Booster] = {}
        self.feature_names: list[str] = []
        self._fallback: BestBaseline | None = None
        self._end = 0
        # Holiday lookups are slow; the calendar is reused while the index is the same.
        self._calendar: tuple[tuple[object, ...], Calendar] | None = None

    def _usable_weather(self, exog: pd.DataFrame | None) -> tuple[str, ...]:
        if exog is None:
            return ()
        return tuple(
            v
            for v in self.weather_vars
            if v in exog.columns and all(f"{v}_predicted_{i}" in exog.columns for i in (1, 2, 3))
        )

    def _features(self, y: pd.DataFrame, exog: pd.DataFrame | None, n_pos: int) -> _LoadFeatures:
        day_type = None
        if exog is not None and "day_type" in exog.columns:
            day_type = exog["day_type"].to_numpy()
        index = pd.DatetimeIndex(y.index)
        key = (
            index[0],
            len(index),
            n_pos,
            None if day_type is None else hash(np.asarray(day_type).tobytes()),
        )
        if self._calendar is None or self._calendar[0] != key:
            cal = build_calendar(index, n_pos, self.country, self.subdiv, day_type)
            self._calendar = (key, cal)
        cal = self._calendar[1]
        return _LoadFeatures(y, exog, cal, self._usable_weather(exog), steps_per_day(index))

    def fit(
        self, y: pd.DataFrame, exog: pd.DataFrame | None = None, end: int | None = None
    ) -> Self:
        """Train the quantile models on (origin, step) pairs with targets before ``end``.

        Raises
        ------
        ForecastError
            If LightGBM fails to train.
        """
        check_series(y)
        end = len(y) if end is None else int(end)
        self._end = end
        feats = self._features(y, exog, len(y) + self.max_horizon)
        self.feature_names = feats.names()
        period = feats.period
        first = max(2 * period, end - self.train_window)
        origins = np.arange(first, end)
        rng = np.random.default_rng(self.params.seed + end)
        o = np.repeat(origins, self.pairs_per_origin)
        room = np.minimum(end - o, self.max_horizon)  # targets o + k < end
        k = (rng.random(o.size) * room).astype(np.int64) if o.size else o
        blocks_x, blocks_y = [], []
        for j in range(y.shape[1]):
            x, scale = feats.build(o, k, j)
            target = feats.values[o + k, j] / scale
            ok = np.isfinite(target)
            blocks_x.append(x[ok])
            blocks_y.append(target[ok])
        x_all = np.vstack(blocks_x) if blocks_x else np.zeros((0, len(self.feature_names)))
        y_all = np.concatenate(blocks_y) if blocks_y else np.zeros(0)
        self.models = {}
        if len(y_all) < self.min_train_rows:
            # Too short for the all-horizon model; the near-step models need fewer rows.
            candidates = (Persistence(), SeasonalNaive(period), SeasonalNaive(7 * period))
            self._fallback = BestBaseline(candidates, validation=14 * period)
            self._fallback.fit(y, exog, end)
            self.near_models = self._fit_near(feats, end)
            return self
        self._fallback = None
        self.models = train_quantile_models(
            x_all, y_all, self.levels, self.params, self.feature_names, self.name
        )
        self.near_models = self._fit_near(feats, end)
        return self

    def _overlay_near(
        self,
        y: pd.DataFrame,
        exog: pd.DataFrame | None,
        origins: np.ndarray,
        horizon: int,
        quantiles: Sequence[float],
        point: np.ndarray,
        quants: dict[float, np.ndarray],
    ) -> None:
        """Write the near-step models' forecasts into ``point``/``quants`` (O, H, S), in place."""
        feats = self._features(y, exog, len(y) + max(horizon, self.max_horizon))
        threads = self.params.num_threads
        for step, models in enumerate(self.near_models[:horizon]):
            k = np.full(origins.size, step, dtype=np.int64)
            for j in range(y.shape[1]):
                x, scale = feats.build(origins, k, j)
                near = predict_levels(models, x, quantiles, threads, self.name)
                point[:, step, j] = near[0.5] * scale
                for q in quants:
                    quants[q][:, step, j] = near[float(q)] * scale

    def _fit_near(self, feats: _LoadFeatures, end: int) -> list[dict[float, lgb.Booster]]:
        """Dedicated models for steps ahead ``0 .. near_steps - 1`` (empty if too little data)."""
        out: list[dict[float, lgb.Booster]] = []
        first = max(2 * feats.period, end - self.near_window)
        for step in range(self.near_steps):
            o = np.arange(first, end - step)
            k = np.full(o.size, step, dtype=np.int64)
            blocks_x, blocks_y = [], []
            for j in range(feats.values.shape[1]):
                x, scale = feats.build(o, k, j)
                target = feats.values[o + k, j] / scale
                ok = np.isfinite(target)
                blocks_x.append(x[ok])
                blocks_y.append(target[ok])
            n_rows = sum(len(b) for b in blocks_y)
            if n_rows < self.min_train_rows // 4:
                break
            out.append(
                train_quantile_models(
                    np.vstack(blocks_x),
                    np.concatenate(blocks_y),
                    self.levels,
                    self.params,
                    self.feature_names,
                    f"{self.name} (step {step + 1})",
                )
            )
        return out

    def predict(
        self,
        y: pd.DataFrame,
        origins: np.ndarray,
        horizon: int,
        exog: pd.DataFrame | None = None,
        quantiles: Sequence[float] = (),
    ) -> ForecastResult:
        """Forecast ``horizon`` steps from every origin, all in one LightGBM call per level.

        Raises
        ------
        ForecastError
            If called before :meth:`fit` or asked for a quantile not trained.
        """
        check_series(y)
        o_arr = check_origins(origins, len(y))
        if self._fallback is not None:
            res = self._fallback.predict(y, o_arr, horizon, exog, quantiles)
            point, quants = res.point.copy(), {q: v.copy() for q, v in res.quantiles.items()}
            if self.near_models:
                self._overlay_near(y, exog, o_arr, horizon, quantiles, point, quants)
            return ForecastResult(res.origins, res.horizon, res.series, point, quants, self.name)
        n_o, n_s = len(o_arr), y.shape[1]
        feats = self._features(y, exog, len(y) + max(horizon, self.max_horizon))
        if feats.names() != self.feature_names:
            raise ForecastError(
                f"{self.name}: predict() got different exogenous columns than fit() "
                f"(features {feats.names()} vs {self.feature_names}); pass the same exog"
            )
        o = np.repeat(o_arr, horizon)
        k = np.tile(np.arange(horizon), n_o)
        k_model = np.minimum(k, self.max_horizon - 1)
        xs, scales = [], []
        for j in range(n_s):
            x, scale = feats.build(o, k, j)
            x[:, 0] = k_model + 1.0
            xs.append(x)
            scales.append(scale)
        x_all = np.vstack(xs)
        scale_all = np.concatenate(scales)
        levels = predict_levels(self.models, x_all, quantiles, self.params.num_threads, self.name)
        for step, models in enumerate(self.near_models[:horizon]):
            rows = np.flatnonzero(k == step)
            rows = (rows[None, :] + np.arange(n_s)[:, None] * len(k)).ravel()
            threads = self.params.num_threads
            near = predict_levels(models, x_all[rows], quantiles, threads, self.name)
            for q, values in near.items():
                levels[q][rows] = values

        def shape(a: np.ndarray) -> np.ndarray:
            return a.reshape(n_s, n_o, horizon).transpose(1, 2, 0)

        return ForecastResult(
            origins=o_arr,
            horizon=horizon,
            series=tuple(map(str, y.columns)),
            point=shape(levels[0.5] * scale_all),
            quantiles={float(q): shape(levels[float(q)] * scale_all) for q in quantiles},
            name=self.name,
        )
