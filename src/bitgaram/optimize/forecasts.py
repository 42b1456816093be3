"""Forecasts a site controller needs, assembled once for every origin.

:class:`SiteForecast` holds, for every origin ``o`` (the step being decided)
and step ``k`` of the horizon, the forecast of the no-battery net load of each
building, the import price and the carbon intensity of step ``o + k``. Sources:

- ``"models"``: the forecasting package's load and PV models (load:
  :class:`bitgaram.forecast.load.LightGBMLoadForecaster` with dedicated models
  for the first ``NEAR_STEPS`` steps ahead, or, faster,
  :class:`bitgaram.forecast.baselines.BestBaseline`; PV: the shipped
  :class:`bitgaram.forecast.pv.PVForecaster` (near-horizon models for the first
  hours) averaged with the same fitted model's all-horizon forecast corrected by
  its last measured error, :func:`bitgaram.forecast.feedback.error_feedback`;
  see :data:`PV_SHIPPED_WEIGHT`), the price from the dataset's
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

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from bitgaram.errors import ConfigError
from bitgaram.forecast.base import (
    ForecastResult,
    actual_matrix,
    iter_rolling_forecast,
    latest_weather_forecast,
    rolling_forecast,
)
from bitgaram.site.data import SiteData

if TYPE_CHECKING:
    from bitgaram.forecast.pv import PVForecaster

ForecastSource = Literal["models", "naive", "perfect"]
LoadModel = Literal["lightgbm", "baseline"]

#: Refit period of the load and PV models [steps]: every two weeks for hourly data
#: (weekly refits cost twice the CPU for a 0.2 % smaller next-hour error on the shipped data).
REFIT_EVERY = 24 * 14

#: Steps ahead with their own load model: the decision is applied at step 0, and the
#: next steps decide how much to keep for later.
NEAR_STEPS = 2

#: Weight of the shipped PV forecast (:class:`bitgaram.forecast.pv.PVForecaster`
#: defaults: near-horizon models for the first hours) in the MPC's PV forecast; the rest
#: goes to the same fitted model's all-horizon forecast corrected by error feedback. Equal
#: weights, not fitted. The MPC takes each forecast path at its word (plus unconditional
#: error scenarios) and sees it revised hour by hour; the shipped forecast alone, 15 %
#: better at 1 h, revises a target more as it comes close (the near models undo the
#: all-horizon model's daytime over-forecast step by step), and the MPC then stored less
#: PV around midday and exported it: CityLearn score 0.8004 against 0.7998 for the
#: corrected all-horizon model and 0.7981 for this mean (issue 21; BENCHMARKS.md, "PV
#: near-horizon models in the MPC").
PV_SHIPPED_WEIGHT = 0.5


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


class ForecastStream:
    """Site forecasts produced in background threads, one refit block at a time.

    :func:`site_forecast` is this stream run to completion. A controller that
    replays history needs the forecasts of origin ``t`` only when it decides
    step ``t``, so it can start as soon as the first refit block is ready and
    solve its LPs while later blocks are fitted: LightGBM, NumPy and the HiGHS
    C API release the GIL, so on two cores the forecasting and the replay
    overlap instead of adding up. The numbers are the same either way: each
    block is fitted on data before its first origin, whatever the replay does.

    Parameters
    ----------
    site : SiteData
        The site history.
    horizon : int
        Steps per forecast H.
    source : {"models", "naive", "perfect"}
        Forecast source (see module docstring); only ``"models"`` runs in the
        background, the others are computed at once.
    load_model : {"lightgbm", "baseline"}
        Load model of the ``"models"`` source.
    on_progress : callable, optional
        Called with a short label before each model stage.

    Raises
    ------
    ConfigError
        If ``source`` is unknown.

    Notes
    -----
    The arrays ``net_kwh``, ``price`` and ``carbon`` are filled in place; read
    row ``t`` of ``net_kwh`` only after :meth:`wait` has returned for ``t``.
    """

    def __init__(
        self,
        site: SiteData,
        horizon: int,
        source: ForecastSource = "models",
        load_model: LoadModel = "baseline",
        on_progress: Callable[[str], None] | None = None,
    ) -> None:
        if source not in ("models", "naive", "perfect"):
            raise ConfigError(f"unknown forecast source '{source}'; use models, naive or perfect")
        n, h = site.n_steps, horizon
        self.source = source
        self._site = site
        self._load_model = load_model
        self._on_progress = on_progress
        self.net_kwh = np.zeros((n, h, len(site.names)))
        self.price, self.carbon = _price_and_carbon(site, h, source)
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._threads: list[threading.Thread] = []
        # Origins [0, ready) are final; origin 0 has no history and stays 0.
        self._ready = 1 if source == "models" and n > 1 else n
        if source == "perfect":
            all_o = np.arange(n)
            self.net_kwh[:] = _fill_forward(actual_matrix(site.net_load_kwh, all_o, h), 0.0)
        elif source == "naive" and n > 1:
            naive = _seasonal_naive(site.net_load_kwh, site.index, np.arange(1, n), h)
            self.net_kwh[1:] = _fill_forward(naive, 0.0)
        has_pv = site.pv_kwp > 0
        self._has_pv = has_pv
        # Load and PV parts of the net load, filled by the background models only.
        background = self._ready < n
        self._load = np.zeros_like(self.net_kwh) if background else self.net_kwh[:0]
        self._pv = np.zeros_like(self.net_kwh) if background else self.net_kwh[:0]
        self._done = {"load": 1, "pv": 1 if has_pv.any() else n}

    @property
    def horizon(self) -> int:
        """Steps per forecast H."""
        return int(self.net_kwh.shape[1])

    def start(self) -> ForecastStream:
        """Start the background model runs (no-op for other sources or once started)."""
        if self._ready >= self.net_kwh.shape[0] or self._threads:
            return self
        if self._on_progress:
            label = "load and PV forecasts" if self._has_pv.any() else "load forecasts"
            self._on_progress(label)
        jobs = [("load", self._run_load)]
        if self._has_pv.any():
            jobs.append(("pv", self._run_pv))
        for name, job in jobs:
            thread = threading.Thread(
                target=self._guard, args=(job,), name=f"bitgaram-{name}-forecast", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        return self

    def ready(self) -> int:
        """Number of leading origins whose forecasts are final."""
        with self._cond:
            return self._ready

    def wait(self, origin: int) -> int:
        """Block until the forecasts of ``origin`` are final.

        Returns
        -------
        int
            Number of leading origins that are final (``> origin``).

        Raises
        ------
        ForecastError
            Or whatever a model raised in the background.
        """
        n = self.net_kwh.shape[0]
        if origin >= n:
            raise ConfigError(f"origin {origin} is past the end of the data ({n} steps)")
        self.start()
        with self._cond:
            while self._ready <= origin and self._error is None:
                self._cond.wait()
            if self._error is not None:
                raise self._error
            return self._ready

    def result(self) -> SiteForecast:
        """All forecasts, once every block is done."""
        n = self.net_kwh.shape[0]
        if n:
            self.wait(n - 1)
        return SiteForecast(
            net_kwh=self.net_kwh, price=self.price, carbon=self.carbon, source=self.source
        )

    def _guard(self, job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:  # handed to the waiting consumer
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def _advance(self, part: str, done: int) -> None:
        """Record that ``part`` is final up to ``done`` and publish the net load rows."""
        with self._cond:
            self._done[part] = done
            ready = min(self._done.values())
            if ready > self._ready:
                rows = slice(self._ready, ready)
                net = self._load[rows] - np.clip(self._pv[rows], 0.0, None)
                self.net_kwh[rows] = _fill_forward(net, 0.0)
                self._ready = ready
                self._cond.notify_all()

    def _origins(self) -> np.ndarray:
        # Origin 0 has no history: rolling forecasts need origins >= 1.
        return np.arange(1, self.net_kwh.shape[0])

    def _run_load(self) -> None:
        from bitgaram.forecast.baselines import BestBaseline
        from bitgaram.forecast.load import LightGBMLoadForecaster

        site, h = self._site, self.horizon
        exog = site.weather if len(site.weather.columns) else None
        load_y = _frame(site.load_kwh, site.index, site.names)
        model: LightGBMLoadForecaster | BestBaseline = (
            LightGBMLoadForecaster(
                max_horizon=h,
                quantiles=(),
                near_steps=NEAR_STEPS,
                country=site.holiday_country,
            )
            if self._load_model == "lightgbm"
            else BestBaseline()
        )
        blocks = iter_rolling_forecast(
            model, load_y, self._origins(), h, exog=exog, refit_every=REFIT_EVERY
        )
        for part in blocks:
            self._load[part.origins] = part.point
            self._advance("load", int(part.origins[-1]) + 1)

    def _run_pv(self) -> None:
        from bitgaram.forecast.feedback import error_feedback
        from bitgaram.forecast.pv import PVForecaster

        site, h, has_pv = self._site, self.horizon, self._has_pv
        exog = site.weather if len(site.weather.columns) else None
        cols = tuple(n for n, ok in zip(site.names, has_pv, strict=True) if ok)
        pv_y = _frame(site.pv_kwh[:, has_pv], site.index, cols)
        kwp = dict(zip(cols, site.pv_kwp[has_pv].tolist(), strict=True))
        origins = self._origins()
        n_s = len(cols)
        shipped = np.zeros((len(origins), h, n_s))
        far = np.zeros_like(shipped)
        model = _ShippedAndAllHorizonPV(PVForecaster(kwp=kwp, quantiles=()))
        blocks = iter_rolling_forecast(model, pv_y, origins, h, exog=exog, refit_every=REFIT_EVERY)
        done = 0
        for part in blocks:
            rows = part.origins - 1
            point = np.nan_to_num(part.point)
            shipped[rows], far[rows] = point[..., :n_s], point[..., n_s:]
            end = int(rows[-1]) + 1
            # The correction of a row depends on earlier rows only: the prefix gives
            # the same values as the whole series.
            fixed = error_feedback(far[:end], site.pv_kwh[:, has_pv], origins[:end], REFIT_EVERY)
            pv = np.zeros((end - done, h, len(site.names)))
            pv[..., has_pv] = pv_blend(shipped[done:end], fixed[done:end])
            self._pv[done + 1 : end + 1] = pv
            done = end
            self._advance("pv", end + 1)


def pv_blend(shipped: np.ndarray, all_horizon_corrected: np.ndarray) -> np.ndarray:
    """The MPC's PV forecast from the shipped forecast and the corrected all-horizon one.

    Parameters
    ----------
    shipped : numpy.ndarray
        :class:`bitgaram.forecast.pv.PVForecaster` forecasts with its default
        near-horizon models [kWh], any shape.
    all_horizon_corrected : numpy.ndarray
        The same fitted model's all-horizon forecasts corrected by
        :func:`bitgaram.forecast.feedback.error_feedback` [kWh], same shape.

    Returns
    -------
    numpy.ndarray
        ``w * shipped + (1 - w) * all_horizon_corrected`` with ``w =``
        :data:`PV_SHIPPED_WEIGHT` [kWh].
    """
    w = PV_SHIPPED_WEIGHT
    return w * np.asarray(shipped, dtype=float) + (1.0 - w) * np.asarray(all_horizon_corrected)


class _ShippedAndAllHorizonPV:
    """A PV forecaster whose forecasts are the shipped and the all-horizon ones side by side.

    ``predict`` returns ``2 S`` series: the :meth:`PVForecaster.predict` forecasts of
    the ``S`` series, then those of the all-horizon model alone
    (:meth:`PVForecaster.predict_pair`: one fit, one feature pass).
    """

    def __init__(self, model: PVForecaster) -> None:
        self.model = model
        self.name = model.name

    def fit(
        self, y: pd.DataFrame, exog: pd.DataFrame | None = None, end: int | None = None
    ) -> _ShippedAndAllHorizonPV:
        self.model.fit(y, exog, end)
        return self

    def predict(
        self,
        y: pd.DataFrame,
        origins: np.ndarray,
        horizon: int,
        exog: pd.DataFrame | None = None,
        quantiles: Sequence[float] = (),
    ) -> ForecastResult:
        if quantiles:
            raise ConfigError("the MPC's PV forecast is a point forecast; pass no quantiles")
        near, far = self.model.predict_pair(y, origins, horizon, exog)
        series = (*near.series, *(f"{s} (all-horizon)" for s in far.series))
        point = np.concatenate([near.point, far.point], axis=2)
        return ForecastResult(near.origins, horizon, series, point, {}, self.name)


def _price_and_carbon(
    site: SiteData, h: int, source: ForecastSource
) -> tuple[np.ndarray, np.ndarray]:
    """Price and carbon-intensity forecasts of every origin, (N, H) each."""
    n = site.n_steps
    if source == "perfect":
        all_o = np.arange(n)
        carbon = actual_matrix(site.carbon[:, None], all_o, h)[..., 0]
        carbon = _fill_forward(carbon, float(site.carbon[-1]))
        price = _fill_forward(_price_forecast(site, all_o, h, source), float(site.price[-1]))
        return price, carbon
    origins = np.arange(1, n)
    carbon = np.zeros((n, h))
    price = np.zeros((n, h))
    if n > 1:
        carbon[1:] = _seasonal_naive(site.carbon[:, None], site.index, origins, h)[..., 0]
        price[1:] = _price_forecast(site, origins, h, source)
    # Before any observation, carbon and price are unknown: use the first measured value
    # from then on (no look-ahead: row t only uses values of rows < t).
    for arr, series in ((carbon, site.carbon), (price, site.price)):
        for t in range(min(n, 48)):
            bad = ~np.isfinite(arr[t])
            if bad.any():
                arr[t, bad] = series[t - 1] if t > 0 else 0.0
        arr[~np.isfinite(arr)] = 0.0
    return price, carbon


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
    return ForecastStream(site, horizon, source, load_model, on_progress).result()
