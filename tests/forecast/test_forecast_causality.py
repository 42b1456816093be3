"""Causality: changing data at or after an origin never changes a forecast made at it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from bitgaram.forecast.base import CITYLEARN_SUFFIXES, Forecaster, rolling_forecast
from bitgaram.forecast.baselines import BestBaseline, Persistence, SeasonalNaive
from bitgaram.forecast.gbm import LightGBMParams
from bitgaram.forecast.load import LightGBMLoadForecaster
from bitgaram.forecast.pv import PVForecaster
from bitgaram.forecast.wind import PowerCurve, WindForecaster

SMALL = LightGBMParams(num_boost_round=15, min_data_in_leaf=20)


def _pv_series(exog: pd.DataFrame) -> pd.DataFrame:
    ghi = exog["direct_solar_irradiance"] + exog["diffuse_solar_irradiance"]
    cloud = 0.6 + 0.4 * np.cos(np.arange(len(exog)) / 17.0) ** 2
    return pd.DataFrame({"pv1": 4e-3 * ghi * cloud, "pv2": 2.5e-3 * ghi}, index=exog.index)


def _wind_series(exog: pd.DataFrame) -> pd.DataFrame:
    curve = PowerCurve.generic(rated_kw=100.0)
    hub = exog["wind_speed"].to_numpy() * (80 / 10) ** (1 / 7)
    return pd.DataFrame({"wt": 0.9 * curve.power(hub)}, index=exog.index)


CASES: dict[str, tuple[Callable[[], Forecaster], str]] = {
    "persistence": (Persistence, "load"),
    "seasonal_naive": (lambda: SeasonalNaive(24), "load"),
    "best_baseline": (lambda: BestBaseline(validation=24 * 5), "load"),
    "lightgbm_load": (
        lambda: LightGBMLoadForecaster(max_horizon=30, params=SMALL, min_train_rows=100),
        "load",
    ),
    "pv": (lambda: PVForecaster(max_horizon=30, params=SMALL), "pv"),
    "wind": (lambda: WindForecaster(PowerCurve.generic(100.0), hub_height=80.0), "wind"),
}


def _perturb(frame: pd.DataFrame, start: int, rng: np.random.Generator) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if col == "day_type":  # the calendar is known in advance
            continue
        values = out[col].to_numpy(dtype=float).copy()
        values[start:] = values[start:] * rng.uniform(0.2, 3.0, len(values) - start) + 1.0
        out[col] = values
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_forecast_ignores_data_from_the_origin_on(
    case: str, hourly: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    load, exog = hourly
    make, kind = CASES[case]
    y = {"load": load, "pv": _pv_series(exog), "wind": _wind_series(exog)}[kind]
    origins = np.array([24 * 20, 24 * 20 + 13, 24 * 22 + 5])
    cut = int(origins[1])
    kwargs = {"horizon": 30, "exog": exog, "refit_every": 24, "quantiles": (0.1, 0.5, 0.9)}
    before = rolling_forecast(make(), y, origins, **kwargs)  # type: ignore[arg-type]
    rng = np.random.default_rng(1)
    # Later observations change, and so do forecasts issued at or after the cut.
    y2 = _perturb(y, cut, rng)
    exog2 = _perturb(exog, cut, rng)
    assert any(c.endswith(CITYLEARN_SUFFIXES[0]) for c in exog2.columns)
    after = rolling_forecast(make(), y2, origins, **kwargs)  # type: ignore[arg-type]
    unaffected = origins <= cut
    np.testing.assert_array_equal(before.point[unaffected], after.point[unaffected])
    for q in (0.1, 0.5, 0.9):
        np.testing.assert_array_equal(before.quantile(q)[unaffected], after.quantile(q)[unaffected])
    # The test has teeth: the forecast from the last origin sees the change.
    assert not np.array_equal(before.point[~unaffected], after.point[~unaffected])
