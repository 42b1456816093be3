"""Forecasting inputs and the standard backtest for CityLearn 2022 datasets."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bitgaram.datasets.citylearn import CityLearnDataset
from bitgaram.errors import ForecastError
from bitgaram.forecast.backtest import BacktestReport, run_backtest
from bitgaram.forecast.base import DEFAULT_QUANTILES, Forecaster
from bitgaram.forecast.baselines import BestBaseline, Persistence, SeasonalNaive
from bitgaram.forecast.load import LightGBMLoadForecaster
from bitgaram.forecast.pv import PVForecaster

#: Days at the start of the data used only as history: the weekly baseline and the
#: best-baseline validation window need about four weeks.
DEFAULT_WARMUP_DAYS = 28


@dataclass(frozen=True)
class CityLearnFrames:
    """Load, PV and exogenous frames of a CityLearn dataset.

    Attributes
    ----------
    load : pandas.DataFrame
        Non-shiftable load per building [kWh per step].
    pv : pandas.DataFrame
        PV generation per building with PV [kWh per step].
    exog : pandas.DataFrame
        Weather (measured and ``_predicted_1/2/3`` forecasts) plus ``day_type``.
    kwp : dict of str to float
        PV capacity per building [kWp].
    """

    load: pd.DataFrame
    pv: pd.DataFrame
    exog: pd.DataFrame
    kwp: dict[str, float]


def citylearn_frames(ds: CityLearnDataset) -> CityLearnFrames:
    """Build forecasting frames from a dataset read by ``read_citylearn``."""
    names = ds.building_names
    load = pd.DataFrame(ds.load_matrix(), index=ds.index, columns=names)
    with_pv = [b for b in ds.buildings if b.pv_kwp > 0]
    pv = pd.DataFrame(
        {b.name: b.pv_kwh for b in with_pv}, index=ds.index, columns=[b.name for b in with_pv]
    )
    exog = ds.weather.copy()
    exog["day_type"] = ds.calendar["day_type"].to_numpy()
    return CityLearnFrames(load, pv, exog, {b.name: b.pv_kwp for b in with_pv})


def baseline_models(period: int = 24) -> dict[str, Forecaster]:
    """Persistence, seasonal naive (day, week) and the best of them per horizon."""
    return {
        "persistence": Persistence(),
        "seasonal_naive_day": SeasonalNaive(period),
        "seasonal_naive_week": SeasonalNaive(7 * period),
        "best_baseline": BestBaseline(),
    }


def backtest_citylearn(
    ds: CityLearnDataset,
    horizon: int = 24,
    refit_every: int = 24 * 14,
    warmup_days: int = DEFAULT_WARMUP_DAYS,
    country: str | None = "KR",
    subdiv: str | None = None,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    extra_models: Mapping[str, Mapping[str, Forecaster]] | None = None,
    on_model: Callable[[str], None] | None = None,
    trace_memory: bool = False,
) -> dict[str, BacktestReport]:
    """Full-period rolling-origin backtest of load and PV, every hourly origin.

    Origins run from ``warmup_days`` into the data to the last step with a full
    horizon ahead; every model refits every ``refit_every`` steps on data
    before each block. Skill references: the best naive baseline for load,
    yesterday's value (seasonal naive, one day) for PV.

    Parameters
    ----------
    ds : CityLearnDataset
        Dataset.
    horizon : int
        Steps per forecast [steps].
    refit_every : int
        Steps between refits.
    warmup_days : int
        Days of history before the first origin.
    country, subdiv : str or None
        Public-holiday calendar for the load model.
    quantiles : sequence of float
        Quantile levels.
    extra_models : mapping, optional
        ``{"load": {...}, "pv": {...}}`` more models (e.g. peer libraries).
    on_model : callable, optional
        Called with ``"<target>/<model>"`` before each model runs.
    trace_memory : bool
        Trace peak Python memory per model.

    Returns
    -------
    dict of str to BacktestReport
        ``"load"`` and, when any building has PV, ``"pv"``.
    """
    frames = citylearn_frames(ds)
    period = max(1, round(86400 / ds.seconds_per_time_step))
    first = warmup_days * period
    last = ds.n_steps - horizon
    if last <= first:
        raise ForecastError(
            f"{ds.n_steps} steps leave no origins after {warmup_days} warm-up days "
            f"with a {horizon}-step horizon"
        )
    origins = np.arange(first, last + 1)
    extra = extra_models or {}
    reports: dict[str, BacktestReport] = {}
    targets: list[tuple[str, pd.DataFrame, dict[str, Forecaster], str]] = []
    load_models = {
        **baseline_models(period),
        **extra.get("load", {}),
        "bitgaram_lightgbm": LightGBMLoadForecaster(
            max_horizon=horizon, quantiles=quantiles, country=country, subdiv=subdiv
        ),
    }
    targets.append(("load", frames.load, load_models, "best_baseline"))
    if frames.pv.shape[1]:
        pv_models = {
            **baseline_models(period),
            **extra.get("pv", {}),
            "bitgaram_pvlib_lightgbm": PVForecaster(
                kwp=frames.kwp, quantiles=quantiles, max_horizon=horizon
            ),
        }
        targets.append(("pv", frames.pv, pv_models, "seasonal_naive_day"))
    for target, y, models, reference in targets:

        def announce(name: str, target: str = target) -> None:
            if on_model is not None:
                on_model(f"{target}/{name}")

        reports[target] = run_backtest(
            models,
            y,
            origins,
            horizon,
            exog=frames.exog,
            refit_every=refit_every,
            quantiles=quantiles,
            report_horizons=[h for h in (1, 6, 24) if h <= horizon],
            reference=reference,
            trace_memory=trace_memory,
            on_model=announce,
        )
    return reports
