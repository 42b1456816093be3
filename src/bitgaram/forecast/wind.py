"""Wind forecasting: wind-speed forecasts, hub-height extrapolation, power curve.

The latest wind-speed forecast for each target step (at the measurement
height, :func:`~bitgaram.forecast.base.latest_weather_forecast`) is raised to
hub height with the power law or the log law, turned into power with the
turbine's power curve, and scaled by a learned availability factor (measured
output over modelled output on past data: losses, curtailment, wake).
Quantiles add the empirical quantiles of the model's past errors (power curve
on measured speeds, so forecast-speed error is not included) and are clipped
to the curve's range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Self

import numpy as np
import pandas as pd

from bitgaram.errors import ConfigError, ForecastError
from bitgaram.forecast.base import (
    ForecastResult,
    check_origins,
    check_series,
    latest_weather_forecast,
    step_of,
)

#: Hellmann exponent of the power law for open, flat terrain (the "1/7 law").
DEFAULT_SHEAR_EXPONENT = 1.0 / 7.0

#: Surface roughness length [m] of the log law for open farmland.
DEFAULT_ROUGHNESS = 0.03


def power_law(speed: np.ndarray, height: float, hub_height: float, alpha: float) -> np.ndarray:
    """Wind speed at hub height by the power law ``v * (z_hub / z) ** alpha`` [m/s].

    Examples
    --------
    >>> float(power_law(np.array(5.0), 10.0, 80.0, 0.0))
    5.0
    """
    if height <= 0 or hub_height <= 0:
        raise ConfigError("heights must be positive [m]")
    return np.asarray(speed, dtype=float) * (hub_height / height) ** alpha


def log_law(speed: np.ndarray, height: float, hub_height: float, roughness: float) -> np.ndarray:
    """Wind speed at hub height by the log law ``v * ln(z_hub/z0) / ln(z/z0)`` [m/s]."""
    if roughness <= 0 or height <= roughness or hub_height <= roughness:
        raise ConfigError("heights must exceed the roughness length, which must be positive [m]")
    return (
        np.asarray(speed, dtype=float) * np.log(hub_height / roughness) / np.log(height / roughness)
    )


@dataclass(frozen=True)
class PowerCurve:
    """Turbine power curve.

    Attributes
    ----------
    speeds : tuple of float
        Hub-height wind speeds [m/s], increasing.
    power_kw : tuple of float
        Electrical power at those speeds [kW].
    cut_out : float
        Speed above which the turbine stops [m/s].
    """

    speeds: tuple[float, ...]
    power_kw: tuple[float, ...]
    cut_out: float = 25.0

    def __post_init__(self) -> None:
        if len(self.speeds) != len(self.power_kw) or len(self.speeds) < 2:
            raise ConfigError("power curve needs >= 2 (speed, power) points of equal count")
        if np.any(np.diff(self.speeds) <= 0):
            raise ConfigError("power curve speeds must be strictly increasing")
        if min(self.power_kw) < 0:
            raise ConfigError("power curve values must be >= 0 kW")

    @property
    def rated_kw(self) -> float:
        """Largest power on the curve [kW]."""
        return float(max(self.power_kw))

    @classmethod
    def generic(
        cls,
        rated_kw: float,
        cut_in: float = 3.0,
        rated_speed: float = 12.0,
        cut_out: float = 25.0,
    ) -> PowerCurve:
        """Cubic rise from cut-in to rated speed, flat to cut-out [kW]."""
        if not 0 < cut_in < rated_speed < cut_out or rated_kw <= 0:
            raise ConfigError("need 0 < cut_in < rated_speed < cut_out and rated_kw > 0")
        rise = np.linspace(cut_in, rated_speed, 19)
        frac = (rise**3 - cut_in**3) / (rated_speed**3 - cut_in**3)
        speeds = (*map(float, rise), float(cut_out))
        power = (*map(float, rated_kw * frac), float(rated_kw))
        return cls(speeds, power, cut_out)

    def power(self, speed: np.ndarray) -> np.ndarray:
        """Power at hub-height ``speed`` [kW]; 0 below the curve, above cut-out, or NaN."""
        v = np.asarray(speed, dtype=float)
        p = np.interp(v, self.speeds, self.power_kw, left=0.0, right=0.0)
        return np.where(np.isfinite(v) & (v <= self.cut_out), p, 0.0)


class WindForecaster:
    """Power-curve wind forecaster with a learned availability factor.

    Parameters
    ----------
    curves : PowerCurve or mapping of str to PowerCurve
        One curve for all series (each series one turbine or park of
        ``n_turbines``) or per series.
    hub_height : float
        Hub height [m].
    measurement_height : float
        Height of the wind-speed forecast [m].
    law : {"power", "log"}
        Vertical extrapolation law.
    alpha : float
        Power-law exponent [-].
    roughness : float
        Log-law roughness length [m].
    wind_speed : str
        Weather variable name (with ``_predicted_1/2/3`` forecast columns).
    n_turbines : int
        Turbines per series.
    """

    name = "wind_power_curve"

    def __init__(
        self,
        curves: PowerCurve | Mapping[str, PowerCurve],
        hub_height: float,
        measurement_height: float = 10.0,
        law: Literal["power", "log"] = "power",
        alpha: float = DEFAULT_SHEAR_EXPONENT,
        roughness: float = DEFAULT_ROUGHNESS,
        wind_speed: str = "wind_speed",
        n_turbines: int = 1,
        residual_window: int = 24 * 28,
    ) -> None:
        if law not in ("power", "log"):
            raise ConfigError(f"law must be 'power' or 'log', got {law!r}")
        self.curves = curves
        self.hub_height = hub_height
        self.measurement_height = measurement_height
        self.law = law
        self.alpha = alpha
        self.roughness = roughness
        self.wind_speed = wind_speed
        self.n_turbines = n_turbines
        self.residual_window = residual_window
        self.availability: np.ndarray | None = None
        self._end = 0

    def _curve(self, series: str) -> PowerCurve:
        if isinstance(self.curves, PowerCurve):
            return self.curves
        if series not in self.curves:
            raise ConfigError(f"no power curve for series {series!r}")
        return self.curves[series]

    def hub_speed(self, speed: np.ndarray) -> np.ndarray:
        """Wind speed at hub height [m/s] from speed at the measurement height."""
        if self.law == "power":
            return power_law(speed, self.measurement_height, self.hub_height, self.alpha)
        return log_law(speed, self.measurement_height, self.hub_height, self.roughness)

    def modelled(self, speed: np.ndarray, y: pd.DataFrame) -> np.ndarray:
        """Output per step of every series from measurement-height speeds [kWh per step].

        ``speed`` has any shape; a trailing series axis is added.
        """
        hours = step_of(pd.DatetimeIndex(y.index)) / pd.Timedelta(hours=1)
        hub = self.hub_speed(speed)
        return np.stack(
            [self._curve(str(c)).power(hub) * self.n_turbines * hours for c in y.columns],
            axis=-1,
        )

    def _require_exog(self, exog: pd.DataFrame | None) -> pd.DataFrame:
        if exog is None or self.wind_speed not in exog.columns:
            raise ForecastError(f"{self.name}: exog needs the '{self.wind_speed}' column")
        return exog

    def fit(
        self, y: pd.DataFrame, exog: pd.DataFrame | None = None, end: int | None = None
    ) -> Self:
        """Learn each series' availability factor from rows before ``end``.

        Raises
        ------
        ForecastError
            If ``exog`` lacks the wind-speed column.
        """
        check_series(y)
        ex = self._require_exog(exog)
        end = len(y) if end is None else int(end)
        self._end = end
        lo = max(0, end - self.residual_window)
        speed = ex[self.wind_speed].to_numpy(dtype=float)[lo:end]
        model = self.modelled(speed, y)
        actual = y.to_numpy(dtype=float)[lo:end]
        ok = np.isfinite(actual) & np.isfinite(model)
        num = np.where(ok, actual, 0.0).sum(axis=0)
        den = np.where(ok, model, 0.0).sum(axis=0)
        with np.errstate(all="ignore"):
            factor = np.where(den > 0, num / den, 1.0)
        self.availability = np.clip(factor, 0.0, 1.2)
        return self

    def predict(
        self,
        y: pd.DataFrame,
        origins: np.ndarray,
        horizon: int,
        exog: pd.DataFrame | None = None,
        quantiles: Sequence[float] = (),
    ) -> ForecastResult:
        """Forecast output [kWh per step] from the latest wind-speed forecasts.

        Raises
        ------
        ForecastError
            If not fitted or ``exog`` lacks the wind forecasts.
        """
        check_series(y)
        ex = self._require_exog(exog)
        if self.availability is None:
            raise ForecastError(f"{self.name}: call fit() before predict()")
        o = check_origins(origins, len(y))
        speed = latest_weather_forecast(ex, self.wind_speed, o, horizon)
        point = self.modelled(speed, y) * self.availability
        hours = step_of(pd.DatetimeIndex(y.index)) / pd.Timedelta(hours=1)
        rated = np.array([self._curve(str(c)).rated_kw for c in y.columns])
        upper = rated * self.n_turbines * hours
        qs: dict[float, np.ndarray] = {}
        if quantiles and o.size:
            end = min(self._end, int(o.min()))
            lo = max(0, end - self.residual_window)
            past = self.modelled(ex[self.wind_speed].to_numpy(dtype=float)[lo:end], y)
            err = y.to_numpy(dtype=float)[lo:end] - past * self.availability
            for q in sorted(quantiles):
                shift = np.nan_to_num(np.nanquantile(err, q, axis=0)) if len(err) else 0.0
                qs[float(q)] = np.clip(point + shift, 0.0, upper)
        return ForecastResult(
            origins=o,
            horizon=horizon,
            series=tuple(map(str, y.columns)),
            point=np.clip(point, 0.0, upper),
            quantiles=qs,
            name=self.name,
        )
