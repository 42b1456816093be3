"""PV forecasting: pvlib geometry and transposition, corrected by a learned model.

For each target hour the physical chain gives, with pvlib, the solar position
at the middle of the interval, the clear-sky irradiance (Haurwitz) and the
plane-of-array irradiance for the array's tilt and azimuth (isotropic sky),
both clear-sky and from the **latest irradiance forecast** available at the
origin (:func:`~bitgaram.forecast.base.latest_weather_forecast`). A LightGBM
quantile model then maps these, the recent clear-sky index of the measured
output (how cloudy it has been, how the array performs) and the step ahead to
the output per kWp. Without irradiance forecasts the same model runs on
clear-sky irradiance times the learned cloudiness (the recent clear-sky
index). Output is zero whenever the sun is below the horizon for the whole
interval.

The first :data:`DEFAULT_NEAR_STEPS` steps ahead have their own models, trained
on every daytime origin at that step ahead, which also read the clear-sky index
of the last hours, measured against both the modelled clear-sky output and the
array's own recent clear-sky envelope, and the persistence forecasts these
give: what a recursive model with lags 1-3 exploits, as physics.

When the site location is unknown (CityLearn files carry none), the latitude
and the solar-noon offset of the clock are estimated from the hours with
measured output (:func:`estimate_solar_geometry`); remaining mismatch in
orientation is absorbed by the learned correction. Per-series capacity
[kWp] is used when given, else estimated as a high quantile of past output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Self

import lightgbm as lgb
import numpy as np
import pandas as pd
import pvlib

from bitgaram.errors import ForecastError
from bitgaram.forecast.base import (
    DEFAULT_QUANTILES,
    ForecastResult,
    check_origins,
    check_series,
    step_of,
    steps_per_day,
    timestamps_at,
)
from bitgaram.forecast.baselines import SeasonalNaive
from bitgaram.forecast.features import (
    RunningSums,
    gather,
    nan_reduce,
    pairwise_forecast,
    seasonal_lag,
)
from bitgaram.forecast.gbm import LightGBMParams, predict_levels, train_quantile_models

#: Default latitude [deg] when the location is unknown and cannot be estimated
#: (mid-latitude, close to Korea's industrial parks).
DEFAULT_LATITUDE = 36.0

#: Default array tilt [deg] when unknown: a typical fixed rooftop/ground mount.
DEFAULT_TILT = 25.0

#: Sun elevation [deg] below which an interval end counts as night.
NIGHT_ELEVATION = -0.5

#: Steps ahead with their own near-horizon model (``PVForecaster(near_steps=...)``).
#: The persistence of the clear-sky index decays over a few hours: on the shipped
#: CityLearn data the dedicated models' gain over the all-horizon model falls from
#: 24-30 % of its MAE at 2 h to 2-4 % at 6 h (in each half-year), so further models
#: would cost a refit each for about 1 %.
DEFAULT_NEAR_STEPS = 6

#: Past steps whose clear-sky index the near-horizon models read.
NEAR_LAGS = 3

#: Modelled clear-sky plane-of-array irradiance [W/m2] below which the clear-sky
#: index is not defined: at sunrise and sunset the ratio of two small numbers is noise.
MIN_CLEAR_POA = 10.0

#: Days over which the near-horizon models take the array's own clear-sky envelope.
ENVELOPE_DAYS = 14

#: Upper bound of the clear-sky index: cloud-edge enhancement and model error rarely
#: exceed 1.5, and a larger ratio is a mismatch of geometry, not sky.
MAX_CLEAR_INDEX = 2.0


@dataclass(frozen=True)
class SolarGeometry:
    """Where the sun is seen from, in the clock of the data.

    Attributes
    ----------
    latitude : float
        [deg], north positive.
    longitude : float
        [deg], east positive.
    timezone : str
        Timezone of naive timestamps (e.g. ``"Asia/Seoul"``); ``"UTC"`` with an
        *effective* longitude when estimated from data.
    estimated : bool
        True when estimated from measured output rather than given.
    """

    latitude: float
    longitude: float
    timezone: str = "UTC"
    estimated: bool = False


def _cos_zenith(
    hours_utc: np.ndarray, doy: np.ndarray, latitude: np.ndarray, longitude: float
) -> np.ndarray:
    """Cosine of the solar zenith (Spencer declination and equation of time), broadcast."""
    dec = np.asarray(pvlib.solarposition.declination_spencer71(doy))
    eot_h = np.asarray(pvlib.solarposition.equation_of_time_spencer71(doy)) / 60.0
    hour_angle = np.radians(15.0 * (hours_utc + longitude / 15.0 + eot_h - 12.0))
    lat = np.radians(latitude)
    return np.sin(lat) * np.sin(dec) + np.cos(lat) * np.cos(dec) * np.cos(hour_angle)


def estimate_solar_geometry(
    production: np.ndarray, index: pd.DatetimeIndex, min_days: int = 3
) -> SolarGeometry:
    """Estimate latitude and solar-noon longitude from the shape of PV output.

    The energy-weighted centre of each day's output falls on solar noon of the
    data's clock; with the equation of time it gives an *effective* longitude
    (timestamps taken as UTC). The latitude is the one whose clear-sky
    profile (mean cosine of the zenith over each interval, scaled to the day's
    maximum) best matches the observed daily profiles (least squares over a
    1-degree grid, both hemispheres).

    Parameters
    ----------
    production : numpy.ndarray
        Total measured output per step, shape (n_steps,) [kWh].
    index : pandas.DatetimeIndex
        Interval-start timestamps of ``production``.
    min_days : int
        Days with output needed; fewer give :data:`DEFAULT_LATITUDE` at solar
        noon 12:00.

    Returns
    -------
    SolarGeometry
        The estimate (``estimated=True``).
    """
    default = SolarGeometry(DEFAULT_LATITUDE, 0.0, "UTC", estimated=True)
    p = np.nan_to_num(np.asarray(production, dtype=float))
    if len(p) == 0 or p.max() <= 0:
        return default
    step_h = step_of(index) / pd.Timedelta(hours=1)
    mid_h = (index.hour + index.minute / 60.0).to_numpy(dtype=float) + step_h / 2
    day = index.normalize()
    frame = pd.DataFrame({"day": day, "p": p, "pm": p * mid_h})
    per_day = frame.groupby("day").agg(n=("p", "size"), e=("p", "sum"), pm=("pm", "sum"))
    full = per_day[(per_day["n"] == round(24 / step_h)) & (per_day["e"] > 0)]
    if len(full) < min_days:
        return default
    doy_day = pd.DatetimeIndex(full.index).day_of_year.to_numpy()
    centre = full["pm"].to_numpy() / full["e"].to_numpy()
    eot_h = np.asarray(pvlib.solarposition.equation_of_time_spencer71(doy_day)) / 60.0
    longitude = float(np.median(15.0 * (12.0 - centre - eot_h)))
    keep = day.isin(full.index)
    obs = pd.Series(p[keep]).groupby(day[keep]).transform("max").to_numpy()
    obs = p[keep] / np.where(obs > 0, obs, 1.0)
    doy = index.day_of_year.to_numpy()[keep]
    start_h = mid_h[keep] - step_h / 2
    lats = np.arange(-66.0, 66.01, 1.0)[:, None]
    fracs = np.linspace(0.0, 1.0, 5)
    model = np.mean(
        [np.clip(_cos_zenith(start_h + f * step_h, doy, lats, longitude), 0, None) for f in fracs],
        axis=0,
    )
    day_keys = pd.factorize(day[keep])[0]
    day_max = np.zeros((len(lats), day_keys.max() + 1))
    for i in range(len(lats)):
        np.maximum.at(day_max[i], day_keys, model[i])
    model = model / np.where(day_max[:, day_keys] > 0, day_max[:, day_keys], 1.0)
    best = int(np.argmin(((model - obs[None, :]) ** 2).sum(axis=1)))
    return SolarGeometry(float(lats[best, 0]), longitude, "UTC", estimated=True)


@dataclass(frozen=True)
class _SkyTable:
    """Per-position sun and clear-sky quantities."""

    cos_zenith: np.ndarray
    elevation: np.ndarray
    night: np.ndarray
    clear_poa: np.ndarray
    zenith: np.ndarray
    azimuth: np.ndarray


def _sky_table(
    index: pd.DatetimeIndex, n_pos: int, geo: SolarGeometry, tilt: float, azimuth: float
) -> _SkyTable:
    step = step_of(index)
    starts = timestamps_at(index, np.arange(n_pos + 1))
    mids = (starts[:-1] + step / 2).tz_localize(
        geo.timezone, nonexistent="shift_forward", ambiguous="NaT"
    )
    pos = pvlib.solarposition.get_solarposition(
        mids, geo.latitude, geo.longitude, method="nrel_numpy"
    )
    edges = starts.tz_localize(geo.timezone, nonexistent="shift_forward", ambiguous="NaT")
    edge_el = pvlib.solarposition.get_solarposition(
        edges, geo.latitude, geo.longitude, method="nrel_numpy"
    )["apparent_elevation"].to_numpy()
    zen = pos["apparent_zenith"].to_numpy(dtype=float)
    az = pos["azimuth"].to_numpy(dtype=float)
    el = 90.0 - zen
    night = (np.nan_to_num(edge_el[:-1], nan=-90) <= NIGHT_ELEVATION) & (
        np.nan_to_num(edge_el[1:], nan=-90) <= NIGHT_ELEVATION
    )
    ghi = pvlib.clearsky.haurwitz(pd.Series(zen, index=mids))["ghi"].to_numpy(dtype=float)
    poa = _poa(ghi, zen, az, mids, tilt, azimuth, split=True)
    return _SkyTable(
        cos_zenith=np.cos(np.radians(np.clip(zen, 0, 90))),
        elevation=el,
        night=night,
        clear_poa=np.where(night, 0.0, poa),
        zenith=zen,
        azimuth=az,
    )


def _poa(
    ghi: np.ndarray,
    zenith: np.ndarray,
    sun_azimuth: np.ndarray,
    times: pd.DatetimeIndex,
    tilt: float,
    azimuth: float,
    split: bool = False,
    dni: np.ndarray | None = None,
    dhi: np.ndarray | None = None,
) -> np.ndarray:
    """Plane-of-array irradiance [W/m2], isotropic sky; Erbs split of GHI if ``split``."""
    cosz = np.cos(np.radians(np.clip(zenith, 0, 90)))
    if split or dni is None or dhi is None:
        parts = pvlib.irradiance.erbs(ghi, zenith, times)
        dni = np.asarray(parts["dni"], dtype=float)
        dhi = np.asarray(parts["dhi"], dtype=float)
    total = pvlib.irradiance.get_total_irradiance(
        tilt, azimuth, zenith, sun_azimuth, dni, dni * cosz + dhi, dhi, model="isotropic"
    )
    return np.nan_to_num(np.asarray(total["poa_global"], dtype=float))


class PVForecaster:
    """PV output forecaster: pvlib physics plus a learned quantile correction.

    Parameters
    ----------
    latitude, longitude : float, optional
        Site location [deg]; estimated from measured output when omitted.
    timezone : str
        Timezone of the (naive) timestamps when the location is given.
    tilt : float, optional
        Array tilt [deg]; default :data:`DEFAULT_TILT`.
    azimuth : float, optional
        Array azimuth [deg] (180 = south); default: facing the equator.
    kwp : mapping of str to float, optional
        Capacity of each series [kWp]; missing series use a high quantile of
        their past output.
    direct, diffuse, temperature : str
        Weather variable names (with ``_predicted_1/2/3`` forecast columns);
        the irradiance forecasts are used when ``exog`` has them.
    quantiles : sequence of float
        Quantile levels trained at each fit (0.5 always added).
    max_horizon : int
        Largest step ahead trained [steps].
    train_window : int
        Most recent steps used for training [steps].
    params : LightGBMParams, optional
        LightGBM settings.
    min_train_rows : int
        Below this many daytime training rows, forecast yesterday's output
        (seasonal naive), still zero at night.
    near_steps : int
        Steps ahead ``0 .. near_steps - 1`` that get a dedicated model trained
        on every daytime origin at that step ahead (0 = none); default
        :data:`DEFAULT_NEAR_STEPS`. The all-horizon model sees each step ahead
        in only ``1 / max_horizon`` of its rows; the next hours are where the
        last measured output (how the array and the sky are doing now) says
        most. The near models also read the clear-sky index of the last
        :data:`NEAR_LAGS` steps (:meth:`_near_features`).
    """

    name = "pvlib_lightgbm"

    def __init__(
        self,
        latitude: float | None = None,
        longitude: float | None = None,
        timezone: str = "UTC",
        tilt: float | None = None,
        azimuth: float | None = None,
        kwp: Mapping[str, float] | None = None,
        direct: str = "direct_solar_irradiance",
        diffuse: str = "diffuse_solar_irradiance",
        temperature: str = "outdoor_dry_bulb_temperature",
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        max_horizon: int = 48,
        train_window: int = 24 * 365,
        params: LightGBMParams | None = None,
        min_train_rows: int = 50,
        near_steps: int = DEFAULT_NEAR_STEPS,
    ) -> None:
        if (latitude is None) != (longitude is None):
            raise ForecastError("give both latitude and longitude, or neither")
        if near_steps < 0:
            raise ForecastError(f"near_steps must be >= 0, got {near_steps}")
        self.near_steps = near_steps
        self.near_models: list[dict[float, lgb.Booster]] = []
        self.geometry = (
            SolarGeometry(latitude, longitude, timezone)
            if latitude is not None and longitude is not None
            else None
        )
        self.tilt = tilt
        self.azimuth = azimuth
        self.kwp = dict(kwp or {})
        self.direct, self.diffuse, self.temperature = direct, diffuse, temperature
        self.levels = tuple(sorted({*map(float, quantiles), 0.5}))
        self.max_horizon = max_horizon
        self.train_window = train_window
        self.params = params or LightGBMParams(min_data_in_leaf=100)
        self.models: dict[float, lgb.Booster] = {}
        self.fitted_geometry: SolarGeometry | None = None
        self.capacity: np.ndarray | None = None
        self.feature_names: list[str] = []
        self._sky: tuple[pd.Timestamp, int, _SkyTable] | None = None
        self.min_train_rows = min_train_rows
        self._fallback: SeasonalNaive | None = None

    # -- physics --------------------------------------------------------------
    def _orientation(self, geo: SolarGeometry) -> tuple[float, float]:
        tilt = DEFAULT_TILT if self.tilt is None else self.tilt
        azimuth = (180.0 if geo.latitude >= 0 else 0.0) if self.azimuth is None else self.azimuth
        return tilt, azimuth

    def _sky_for(self, index: pd.DatetimeIndex, n_pos: int) -> _SkyTable:
        if self.fitted_geometry is None:
            raise ForecastError(f"{self.name}: call fit() before predict()")
        if self._sky is None or self._sky[0] != index[0] or self._sky[1] < n_pos:
            tilt, az = self._orientation(self.fitted_geometry)
            table = _sky_table(index, n_pos, self.fitted_geometry, tilt, az)
            self._sky = (index[0], n_pos, table)
        return self._sky[2]

    def _has_irradiance(self, exog: pd.DataFrame | None) -> bool:
        if exog is None:
            return False
        cols = [f"{v}_predicted_{i}" for v in (self.direct, self.diffuse) for i in (1, 2, 3)]
        return all(c in exog.columns for c in cols)

    def _has_temperature(self, exog: pd.DataFrame | None) -> bool:
        return exog is not None and all(
            f"{self.temperature}_predicted_{i}" in exog.columns for i in (1, 2, 3)
        )

    # -- features -------------------------------------------------------------
    def _features(
        self,
        y: pd.DataFrame,
        exog: pd.DataFrame | None,
        o: np.ndarray,
        k: np.ndarray,
        sky: _SkyTable,
        index: pd.DatetimeIndex,
    ) -> tuple[list[str], list[np.ndarray], np.ndarray]:
        """Per-series features for pairs (o, k); returns names, blocks, target positions."""
        assert self.capacity is not None
        t = o + k
        period = steps_per_day(index)
        lag_d = seasonal_lag(k, period)
        names = ["step_ahead", "cos_zenith", "elevation", "sun_azimuth", "clear_poa"]
        common = [k + 1.0, sky.cos_zenith[t], sky.elevation[t], sky.azimuth[t], sky.clear_poa[t]]
        if self._has_irradiance(exog):
            assert exog is not None
            dni = pairwise_forecast(exog, self.direct, o, k)
            dhi = pairwise_forecast(exog, self.diffuse, o, k)
            mids = timestamps_at(index, t)
            tilt, az = self._orientation(self.fitted_geometry or SolarGeometry(0, 0))
            poa = _poa(
                np.nan_to_num(dni) * sky.cos_zenith[t] + np.nan_to_num(dhi),
                sky.zenith[t],
                sky.azimuth[t],
                mids,
                tilt,
                az,
                dni=np.nan_to_num(dni),
                dhi=np.nan_to_num(dhi),
            )
            names += ["direct_forecast", "diffuse_forecast", "poa_forecast", "poa_forecast_ratio"]
            with np.errstate(all="ignore"):
                ratio = np.where(sky.clear_poa[t] > 10, poa / sky.clear_poa[t], np.nan)
            common += [dni, dhi, poa, ratio]
        if self._has_temperature(exog):
            assert exog is not None
            names.append("temperature_forecast")
            common.append(pairwise_forecast(exog, self.temperature, o, k))
        names += [
            "clear_index_day",
            "clear_index_week",
            "clear_index_lagday",
            "lag_day",
            "last",
            "clear_index_last",
            "median_7day",
            "max_7day",
        ]
        clear_sums = RunningSums.of(sky.clear_poa[: len(y)])
        blocks = []
        values = y.to_numpy(dtype=float)
        for j in range(values.shape[1]):
            v = values[:, j] / self.capacity[j]
            sums = RunningSums.of(v)
            with np.errstate(all="ignore"):
                ci_day = sums.mean(o, period) / clear_sums.mean(o, period) * 1000.0
                ci_week = sums.mean(o, 7 * period) / clear_sums.mean(o, 7 * period) * 1000.0
                lagged = gather(v, t - lag_d, o)
                clear_lag = gather(sky.clear_poa, t - lag_d)
                ci_lag = np.where(clear_lag > 10, lagged / clear_lag * 1000.0, np.nan)
                last = gather(v, o - 1, o)
                clear_last = gather(sky.clear_poa, o - 1)
                ci_last = np.where(clear_last > 10, last / clear_last * 1000.0, np.nan)
                days = np.stack([gather(v, t - lag_d - period * i, o) for i in range(7)])
                median7 = nan_reduce(np.nanmedian, days)
                max7 = nan_reduce(np.nanmax, days)
            blocks.append(
                np.column_stack(
                    [*common, ci_day, ci_week, ci_lag, lagged, last, ci_last, median7, max7]
                )
            )
        return names, blocks, t

    def _near_features(
        self, y: pd.DataFrame, o: np.ndarray, k: np.ndarray, sky: _SkyTable
    ) -> tuple[list[str], list[np.ndarray]]:
        """Features of the near-horizon models: the clear-sky index of the last hours.

        A recursive model reads the next hour off the last measured outputs
        (its lags 1, 2, 3); the physics behind it is the persistence of the
        clear-sky index, the ratio of measured output to the modelled
        clear-sky output. Per series and pair (o, k): the index of each of the
        last :data:`NEAR_LAGS` steps (NaN when the modelled clear-sky
        irradiance is below :data:`MIN_CLEAR_POA`, i.e. at night or a low sun),
        its change over the last step, its clear-sky-weighted mean over those
        steps, and the two persistence forecasts they give for the target
        [kWh/kWp]: index times the target's clear-sky irradiance. Then the
        last step's output against the array's own clear-sky envelope (its
        highest output at that time of day over the :data:`ENVELOPE_DAYS` days
        before), which absorbs orientation, shading and soiling that the
        modelled clear sky misses, and that index times the envelope at the
        target's time of day. Only positions ``< o`` are read.
        """
        assert self.capacity is not None
        t = o + k
        names = [f"clear_index_lag{i}" for i in range(1, NEAR_LAGS + 1)]
        names += ["clear_index_change", "clear_index_recent", "persist_last", "persist_recent"]
        names += ["envelope_index_last", "persist_envelope"]
        period = steps_per_day(pd.DatetimeIndex(y.index))
        days = np.arange(ENVELOPE_DAYS) * period
        lag_t = seasonal_lag(k, period)
        clear_t = sky.clear_poa[t] / 1000.0
        clear = [gather(sky.clear_poa, o - i) for i in range(1, NEAR_LAGS + 1)]
        lit = [np.where(c > MIN_CLEAR_POA, c, np.nan) / 1000.0 for c in clear]
        values = y.to_numpy(dtype=float)
        blocks = []
        for j in range(values.shape[1]):
            v = values[:, j] / self.capacity[j]
            lags = [gather(v, o - i, o) for i in range(1, NEAR_LAGS + 1)]
            with np.errstate(all="ignore"):
                ci = [
                    np.clip(lag / c, 0.0, MAX_CLEAR_INDEX) for lag, c in zip(lags, lit, strict=True)
                ]
                both = [np.isfinite(lag) & np.isfinite(c) for lag, c in zip(lags, lit, strict=True)]
                num = sum(np.where(b, lag, 0.0) for b, lag in zip(both, lags, strict=True))
                den = sum(np.where(b, c, 0.0) for b, c in zip(both, lit, strict=True))
                recent = np.where(den > 0, np.clip(num / den, 0.0, MAX_CLEAR_INDEX), np.nan)
                # The array's own clear-sky envelope: its highest output at that time of
                # day over the last days (orientation, shading and soiling included).
                env_last = nan_reduce(
                    np.nanmax, np.stack([gather(v, o - 1 - period - d, o) for d in days])
                )
                env_t = nan_reduce(np.nanmax, np.stack([gather(v, t - lag_t - d, o) for d in days]))
                env_ci = np.where(
                    env_last > 0, np.clip(lags[0] / env_last, 0.0, MAX_CLEAR_INDEX), np.nan
                )
            blocks.append(
                np.column_stack(
                    [
                        *ci,
                        ci[0] - ci[1],
                        recent,
                        ci[0] * clear_t,
                        recent * clear_t,
                        env_ci,
                        env_ci * env_t,
                    ]
                )
            )
        return names, blocks

    # -- protocol -------------------------------------------------------------
    def fit(
        self, y: pd.DataFrame, exog: pd.DataFrame | None = None, end: int | None = None
    ) -> Self:
        """Estimate geometry and capacity if needed, then train on daytime rows before ``end``.

        Raises
        ------
        ForecastError
            If LightGBM fails.
        """
        check_series(y)
        index = pd.DatetimeIndex(y.index)
        end = len(y) if end is None else int(end)
        values = y.to_numpy(dtype=float)[:end]
        if self.geometry is not None:
            geo = self.geometry
        else:
            geo = estimate_solar_geometry(np.nansum(values, axis=1), index[:end])
        if geo != self.fitted_geometry:
            self._sky = None
        self.fitted_geometry = geo
        cap = []
        for j, col in enumerate(y.columns):
            if str(col) in self.kwp and self.kwp[str(col)] > 0:
                cap.append(float(self.kwp[str(col)]))
            else:
                hist = values[:, j][np.isfinite(values[:, j])]
                q = float(np.quantile(hist, 0.995)) if hist.size else 0.0
                cap.append(q if q > 0 else 1.0)
        self.capacity = np.asarray(cap)
        sky = self._sky_for(index, len(y) + self.max_horizon)
        period = steps_per_day(index)
        first = max(period, end - self.train_window)
        o_all = np.arange(first, end)
        rng = np.random.default_rng(self.params.seed + end)
        room = np.minimum(end - o_all, self.max_horizon)
        k_all = (rng.random(o_all.size) * room).astype(np.int64)
        names, x_all, y_all = self._training_rows(y, exog, o_all, k_all, sky, index)
        self.feature_names = names
        self._fallback = None
        self.near_models = []
        if len(y_all) < self.min_train_rows:
            # Too little daylight history to learn from: yesterday's output (night-masked).
            self._fallback = SeasonalNaive(period).fit(y, exog, end)
            self.models = {}
            return self
        self.models = train_quantile_models(
            x_all, y_all, self.levels, self.params, names, self.name
        )
        for step in range(self.near_steps):
            o_near = np.arange(first, end - step)
            k_near = np.full(o_near.size, step, dtype=np.int64)
            near_names, x_near, y_near = self._training_rows(
                y, exog, o_near, k_near, sky, index, near=True
            )
            if len(y_near) < self.min_train_rows:
                break
            who = f"{self.name} (step {step + 1})"
            self.near_models.append(
                train_quantile_models(x_near, y_near, self.levels, self.params, near_names, who)
            )
        return self

    def _rows(
        self,
        y: pd.DataFrame,
        exog: pd.DataFrame | None,
        o: np.ndarray,
        k: np.ndarray,
        sky: _SkyTable,
        index: pd.DatetimeIndex,
        near: bool,
    ) -> tuple[list[str], list[np.ndarray], np.ndarray]:
        """Feature blocks per series of pairs (o, k), with the near-horizon ones if ``near``."""
        names, blocks, t = self._features(y, exog, o, k, sky, index)
        if near:
            near_names, near_blocks = self._near_features(y, o, k, sky)
            names = names + near_names
            blocks = [np.hstack([b, nb]) for b, nb in zip(blocks, near_blocks, strict=True)]
        return names, blocks, t

    def _training_rows(
        self,
        y: pd.DataFrame,
        exog: pd.DataFrame | None,
        o_all: np.ndarray,
        k_all: np.ndarray,
        sky: _SkyTable,
        index: pd.DatetimeIndex,
        near: bool = False,
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Features and targets [per kWp] of the daytime pairs among (o_all, k_all)."""
        assert self.capacity is not None
        day = ~sky.night[o_all + k_all]
        o, k = o_all[day], k_all[day]
        names, blocks, t = self._rows(y, exog, o, k, sky, index, near)
        xs, ys = [], []
        values = y.to_numpy(dtype=float)
        for j, x in enumerate(blocks):
            target = values[t, j] / self.capacity[j]
            ok = np.isfinite(target)
            xs.append(x[ok])
            ys.append(target[ok])
        x_all = np.vstack(xs) if xs else np.zeros((0, len(names)))
        y_all = np.concatenate(ys) if ys else np.zeros(0)
        return names, x_all, y_all

    def predict(
        self,
        y: pd.DataFrame,
        origins: np.ndarray,
        horizon: int,
        exog: pd.DataFrame | None = None,
        quantiles: Sequence[float] = (),
    ) -> ForecastResult:
        """Forecast output [unit of y] for ``horizon`` steps from every origin; zero at night.

        Raises
        ------
        ForecastError
            If called before :meth:`fit` or asked for a quantile not trained.
        """
        return self._predict(y, origins, horizon, exog, quantiles, all_horizon=False)[0]

    def predict_pair(
        self,
        y: pd.DataFrame,
        origins: np.ndarray,
        horizon: int,
        exog: pd.DataFrame | None = None,
    ) -> tuple[ForecastResult, ForecastResult]:
        """Point forecasts with and without the near-horizon models, from one feature pass.

        Parameters
        ----------
        y, origins, horizon, exog
            As for :meth:`predict`.

        Returns
        -------
        tuple of ForecastResult
            The forecasts of :meth:`predict` (near-horizon models at the first
            steps) and those of the all-horizon model at every step [unit of y];
            they differ only at the first ``len(self.near_models)`` steps.

        Raises
        ------
        ForecastError
            If called before :meth:`fit`.
        """
        near, far = self._predict(y, origins, horizon, exog, (), all_horizon=True)
        assert far is not None
        return near, far

    def _predict(
        self,
        y: pd.DataFrame,
        origins: np.ndarray,
        horizon: int,
        exog: pd.DataFrame | None,
        quantiles: Sequence[float],
        all_horizon: bool,
    ) -> tuple[ForecastResult, ForecastResult | None]:
        """:meth:`predict`, and the all-horizon model's forecasts too if ``all_horizon``."""
        check_series(y)
        o_arr = check_origins(origins, len(y))
        index = pd.DatetimeIndex(y.index)
        sky = self._sky_for(index, len(y) + horizon)
        assert self.capacity is not None
        n_o, n_s = len(o_arr), y.shape[1]
        o = np.repeat(o_arr, horizon)
        k = np.tile(np.arange(horizon), n_o)
        day = ~sky.night[o + k]
        out = {q: np.zeros((n_s, o.size)) for q in {0.5, *map(float, quantiles)}}
        far = np.zeros((n_s, o.size))
        if day.any() and self._fallback is not None:
            res = self._fallback.predict(y, o_arr, horizon, exog, quantiles)
            flat = {0.5: res.point, **res.quantiles}
            for q in out:
                values = np.clip(flat[q].transpose(2, 0, 1).reshape(n_s, -1), 0.0, None)
                out[q][:, day] = values[:, day]
            far[:] = out[0.5]
        elif day.any():
            names, blocks, _ = self._features(y, exog, o[day], k[day], sky, index)
            if names != self.feature_names:
                raise ForecastError(
                    f"{self.name}: predict() got different exogenous columns than fit(); "
                    "pass the same exog"
                )
            for b in blocks:
                b[:, 0] = np.minimum(b[:, 0], self.max_horizon)
            x_all = np.vstack(blocks)
            levels = predict_levels(
                self.models, x_all, quantiles, self.params.num_threads, self.name
            )
            n_day = int(day.sum())
            if all_horizon:
                far_pred = np.clip(levels[0.5], 0.0, None).reshape(n_s, n_day)
                far[:, day] = far_pred * self.capacity[:, None]
            self._predict_near(y, exog, o, k, day, sky, index, quantiles, levels)
            for q, pred in levels.items():
                per = np.clip(pred, 0.0, None).reshape(n_s, n_day) * self.capacity[:, None]
                out[q][:, day] = per

        def shape(a: np.ndarray) -> np.ndarray:
            return a.reshape(n_s, n_o, horizon).transpose(1, 2, 0)

        series = tuple(map(str, y.columns))
        result = ForecastResult(
            origins=o_arr,
            horizon=horizon,
            series=series,
            point=shape(out[0.5]),
            quantiles={float(q): shape(out[float(q)]) for q in quantiles},
            name=self.name,
        )
        if not all_horizon:
            return result, None
        return result, ForecastResult(o_arr, horizon, series, shape(far), {}, self.name)

    def _predict_near(
        self,
        y: pd.DataFrame,
        exog: pd.DataFrame | None,
        o: np.ndarray,
        k: np.ndarray,
        day: np.ndarray,
        sky: _SkyTable,
        index: pd.DatetimeIndex,
        quantiles: Sequence[float],
        levels: dict[float, np.ndarray],
    ) -> None:
        """Overwrite ``levels`` (rows: series-major daytime pairs) at the near-model steps."""
        n_near = len(self.near_models)
        close = day & (k < n_near)
        if not close.any():
            return
        n_s = y.shape[1]
        _, blocks, _ = self._rows(y, exog, o[close], k[close], sky, index, near=True)
        x_near = np.vstack(blocks)
        k_near = np.tile(k[close], n_s)
        k_rows = np.tile(k[day], n_s)
        for step, models in enumerate(self.near_models):
            rows = np.flatnonzero(k_rows == step)
            if rows.size:
                near = predict_levels(
                    models, x_near[k_near == step], quantiles, self.params.num_threads, self.name
                )
                for q, values in near.items():
                    levels[q][rows] = values
