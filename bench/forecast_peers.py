"""Peer-library forecaster for the backtest harness: statsforecast AutoETS.

Cost control: per series, an ETS model (season 24, error/season type chosen
by AutoETS, no trend) is estimated once per refit block on the last
``window`` steps before the block; for each origin in the block the fitted
parameters are re-applied to the ``window`` steps before that origin
(``forward``), so every forecast uses only data before its origin. Forecasts
of series that were never negative are clipped at zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from statsforecast.models import AutoETS

from bitgaram.forecast.base import ForecastResult, check_origins


class StatsForecastETS:
    """statsforecast AutoETS(season_length, model="ZNZ") in the bitgaram Forecaster protocol."""

    def __init__(self, season_length: int = 24, window: int = 24 * 28, model: str = "ZNZ") -> None:
        self.season_length = season_length
        self.window = window
        self.model = model
        self.name = f"statsforecast_autoets_{model}"
        self.models: list[Any] = []

    def fit(
        self, y: pd.DataFrame, exog: pd.DataFrame | None = None, end: int | None = None
    ) -> Self:
        end = len(y) if end is None else end
        values = y.to_numpy(dtype=float)[max(0, end - self.window) : end]
        self.models = []
        for j in range(values.shape[1]):
            m = AutoETS(season_length=self.season_length, model=self.model)
            self.models.append(m.fit(np.nan_to_num(values[:, j])))
        return self

    def predict(
        self,
        y: pd.DataFrame,
        origins: np.ndarray,
        horizon: int,
        exog: pd.DataFrame | None = None,
        quantiles: Sequence[float] = (),
    ) -> ForecastResult:
        o_arr = check_origins(origins, len(y))
        values = y.to_numpy(dtype=float)
        point = np.zeros((len(o_arr), horizon, values.shape[1]))
        for i, o in enumerate(o_arr):
            lo = max(0, int(o) - self.window)
            for j, m in enumerate(self.models):
                window = np.nan_to_num(values[lo:o, j])
                if len(window) < 2 * self.season_length:
                    point[i, :, j] = window[-1] if len(window) else 0.0
                    continue
                fc = m.forward(window, h=horizon)["mean"]
                # Non-negative series (PV) get non-negative forecasts, as any user would clip.
                point[i, :, j] = np.clip(fc, 0.0, None) if (window >= 0).all() else fc
        return ForecastResult(o_arr, horizon, tuple(map(str, y.columns)), point, {}, self.name)
