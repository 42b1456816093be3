"""Forecasts a site controller needs, assembled once for every origin.

:class:`SiteForecast` holds, for every origin ``o`` (the step being decided)
and step ``k`` of the horizon, the forecast of the no-battery net load of each
building, the import price and the carbon intensity of step ``o + k``. Sources:

- ``"models"``: the forecasting package's load and PV models (load:
  :class:`bitgaram.forecast.load.LightGBMLoadForecaster` with dedicated models
  for the first ``NEAR_STEPS`` steps ahead, or, faster,
  :class:`bitgaram.forecast.baselines.BestBaseline`; PV:
  :class:`bitgaram.forecast.pv.PVForecaster` corrected by its last measured
  error, :func:`bitgaram.forecast.feedback.error_feedback`), the price from the dataset's
  price-forecast columns (most recent issue before ``o``) and the carbon
  intensity from :class:`bitgaram.forecast.baselines.BestBaseline`;
- ``"naive"``: seasonal naive (same hour yesterday) for everything that has no
  forecast column;
- ``"perfect"``: the realised values (for bounds and tests, never the product).

All model forecasts go through :func:`bitgaram.forecast.base.rolling_forecast`,
which fits each model only on data before each refit block: causal by
construction. Forecast values that cannot exist yet (start of the data) are
filled with 0 (net load) or the last known value.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from bitgaram.errors import ConfigError
from bitgaram.forecast.base import actual_matrix, latest_weather_forecast, rolling_forecast
from bitgaram.simulate.site import SiteData

ForecastSource = Literal["models", "naive", "perfect"]
LoadModel = Literal["lightgbm", "baseline"]

#: Refit period of the load and PV models [steps]: every two weeks for hourly data
#: (weekly refits cost twice the CPU for a 0.2 % smaller next-hour error on the shipped data).
REFIT_EVERY = 24 * 14

#: Steps ahead with their own load model: the decision is applied at step 0, and the
#: next steps decide how much to keep for later.
NEAR_STEPS = 2


@dataclass(frozen=True)
class SiteForecast:
    """Forecasts for every origin ``0 .. N-1`` of a site.

    Attributes
    ----------
    net_kwh : numpy.ndarray
        No-battery net load ``load - PV`` per building, (N, H, B) [kWh].
    price : numpy.ndarray
        Import price, (N, H) [currency/kWh].
    carbon : numpy.ndarray
        Carbon intensity, (N, H) [kgCO2/kWh].
    source : str
        Where the forecasts come from.
    """

    net_kwh: np.ndarray
    price: np.ndarray
    carbon: np.ndarray
    source: str

    @property
    def horizon(self) -> int:
        """Steps per forecast H."""
        return int(self.price.shape[1])


def _frame(values: np.ndarray, index: pd.DatetimeIndex, names: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(values, dtype=float), index=index, columns=list(names))


def _fill_forward(values: np.ndarray, fallback: float) -> np.ndarray:
    """Replace NaN by ``fallback`` (start of the data, nothing known yet)."""
    return np.where(np.isfinite(values), values, fallback)


def _seasonal_naive(
    values: np.ndarray, index: pd.DatetimeIndex, origins: np.ndarray, h: int
) -> np.ndarray:
    from bitgaram.forecast.baselines import SeasonalNaive

    y = _frame(values, index, tuple(f"s{j}" for j in range(values.shape[1])))
    res = rolling_forecast(SeasonalNaive(period=24), y, origins, h, refit_every=None)
    return res.point


def _price_forecast(
    site: SiteData, origins: np.ndarray, h: int, source: ForecastSource
) -> np.ndarray:
    if source == "perfect":
        return actual_matrix(site.price[:, None], origins, h)[..., 0]
    frame = site.price_frame
    if "electricity_pricing_predicted_1" in frame.columns:
        return latest_weather_forecast(frame, "electricity_pricing", origins, h)
    return _seasonal_naive(site.price[:, None], site.index, origins, h)[..., 0]


def _model_net(
    site: SiteData,
    origins: np.ndarray,
    h: int,
    load_model: LoadModel,
    on_progress: Callable[[str], None] | None,
) -> np.ndarray:
    """Load minus PV forecasts; the two models run side by side in two threads.

    LightGBM and NumPy release the GIL while they compute, so on a machine with
    two cores the two rolling forecasts take about the time of the longer one.
    """
    from bitgaram.forecast.baselines import BestBaseline
    from bitgaram.forecast.feedback import error_feedback
    from bitgaram.forecast.load import LightGBMLoadForecaster
    from bitgaram.forecast.pv import PVForecaster

    exog = site.weather if len(site.weather.columns) else None
    has_pv = site.pv_kwp > 0

    def load_forecast() -> np.ndarray:
        load_y = _frame(site.load_kwh, site.index, site.names)
        model: LightGBMLoadForecaster | BestBaseline = (
            LightGBMLoadForecaster(max_horizon=h, quantiles=(), near_steps=NEAR_STEPS)
            if load_model == "lightgbm"
            else BestBaseline()
        )
        return rolling_forecast(model, load_y, origins, h, exog=exog, refit_every=REFIT_EVERY).point

    def pv_forecast() -> np.ndarray:
        cols = tuple(n for n, ok in zip(site.names, has_pv, strict=True) if ok)
        pv_y = _frame(site.pv_kwh[:, has_pv], site.index, cols)
        kwp = dict(zip(cols, site.pv_kwp[has_pv].tolist(), strict=True))
        point = rolling_forecast(
            PVForecaster(kwp=kwp, quantiles=()),
            pv_y,
            origins,
            h,
            exog=exog,
            refit_every=REFIT_EVERY,
        ).point
        return error_feedback(np.nan_to_num(point), site.pv_kwh[:, has_pv], origins, REFIT_EVERY)

    if on_progress:
        on_progress("load and PV forecasts" if has_pv.any() else "load forecasts")
    with ThreadPoolExecutor(max_workers=2) as pool:
        pv_job = pool.submit(pv_forecast) if has_pv.any() else None
        load = load_forecast()
        pv = np.zeros_like(load)
        if pv_job is not None:
            pv[..., has_pv] = pv_job.result()
    return load - np.clip(pv, 0.0, None)


def site_forecast(
    site: SiteData,
    horizon: int,
    source: ForecastSource = "models",
    load_model: LoadModel = "baseline",
    on_progress: Callable[[str], None] | None = None,
) -> SiteForecast:
    """Forecasts of net load, price and carbon intensity for every origin.

    Parameters
    ----------
    site : SiteData
        The site history.
    horizon : int
        Steps per forecast H.
    source : {"models", "naive", "perfect"}
        Forecast source (see module docstring).
    load_model : {"lightgbm", "baseline"}
        Load model of the ``"models"`` source.
    on_progress : callable, optional
        Called with a short label before each model stage.

    Returns
    -------
    SiteForecast

    Raises
    ------
    ConfigError
        If ``source`` is unknown.
    ForecastError
        If a model cannot be fitted.
    """
    n = site.n_steps
    # Origin 0 has no history: rolling_forecast needs origins >= 1; row 0 stays empty.
    origins = np.arange(1, n)
    h = horizon
    net = np.zeros((n, h, len(site.names)))
    carbon = np.zeros((n, h))
    if source == "perfect":
        all_o = np.arange(n)
        net = _fill_forward(actual_matrix(site.net_load_kwh, all_o, h), 0.0)
        carbon = actual_matrix(site.carbon[:, None], all_o, h)[..., 0]
        carbon = _fill_forward(carbon, float(site.carbon[-1]))
        price = _fill_forward(_price_forecast(site, all_o, h, source), float(site.price[-1]))
        return SiteForecast(net_kwh=net, price=price, carbon=carbon, source=source)
    if n > 1:
        if source == "naive":
            net[1:] = _seasonal_naive(site.net_load_kwh, site.index, origins, h)
        elif source == "models":
            net[1:] = _model_net(site, origins, h, load_model, on_progress)
        else:
            raise ConfigError(f"unknown forecast source '{source}'; use models, naive or perfect")
        if on_progress:
            on_progress("carbon forecasts")
        carbon[1:] = _seasonal_naive(site.carbon[:, None], site.index, origins, h)[..., 0]
    price = np.zeros((n, h))
    price[1:] = _price_forecast(site, origins, h, source) if n > 1 else price[1:]
    net = _fill_forward(net, 0.0)
    # Before any observation, carbon and price are unknown: use the first measured value
    # from then on (no look-ahead: row t only uses values of rows < t).
    for arr, series in ((carbon, site.carbon), (price, site.price)):
        for t in range(min(n, 48)):
            bad = ~np.isfinite(arr[t])
            if bad.any():
                arr[t, bad] = series[t - 1] if t > 0 else 0.0
        arr[~np.isfinite(arr)] = 0.0
    return SiteForecast(net_kwh=net, price=price, carbon=carbon, source=source)
