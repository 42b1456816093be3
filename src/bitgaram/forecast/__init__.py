"""Forecasting: load, PV and wind forecasters behind one interface.

The contract (:class:`~bitgaram.forecast.base.Forecaster`,
:class:`~bitgaram.forecast.base.ForecastResult`,
:func:`~bitgaram.forecast.base.rolling_forecast`) lives in
:mod:`bitgaram.forecast.base`; models live in one module each
(:mod:`~bitgaram.forecast.baselines`, :mod:`~bitgaram.forecast.load`,
:mod:`~bitgaram.forecast.pv`, :mod:`~bitgaram.forecast.wind`), error measures
in :mod:`~bitgaram.forecast.metrics` and the rolling-origin evaluation in
:mod:`~bitgaram.forecast.backtest`.
"""

from __future__ import annotations

from bitgaram.forecast.base import (
    DEFAULT_QUANTILES,
    Forecaster,
    ForecastResult,
    actual_matrix,
    latest_weather_forecast,
    rolling_forecast,
)

__all__ = [
    "DEFAULT_QUANTILES",
    "ForecastResult",
    "Forecaster",
    "actual_matrix",
    "latest_weather_forecast",
    "rolling_forecast",
]
