"""Synthetic hourly data for forecasting tests: short, structured, deterministic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bitgaram.forecast.base import CITYLEARN_LEADS, CITYLEARN_SUFFIXES


def with_forecast_columns(frame: pd.DataFrame, variables: list[str], seed: int = 0) -> pd.DataFrame:
    """Add CityLearn-style ``X_predicted_i`` columns: row r forecasts row r + lead (noisy)."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    for var in variables:
        values = frame[var].to_numpy(dtype=float)
        for lead, suffix in zip(CITYLEARN_LEADS, CITYLEARN_SUFFIXES, strict=True):
            shifted = np.concatenate([values[lead:], values[-1:].repeat(lead)])
            out[var + suffix] = shifted + rng.normal(0, 0.02 * (np.std(values) + 1e-9), len(values))
    return out


@pytest.fixture(scope="session")
def hourly() -> tuple[pd.DataFrame, pd.DataFrame]:
    """35 days of hourly load for 2 meters (daily/weekly shape, temperature-driven) and exog."""
    n = 24 * 35
    index = pd.date_range("2024-03-04", periods=n, freq="h")
    rng = np.random.default_rng(42)
    hour = index.hour.to_numpy()
    dow = index.day_of_week.to_numpy()
    temp = 12 + 8 * np.sin(2 * np.pi * (hour - 9) / 24) + np.cumsum(rng.normal(0, 0.3, n)) / 5
    shape = 1.0 + 0.8 * np.exp(-0.5 * ((hour - 19) / 2.5) ** 2) + 0.4 * (hour >= 7) * (hour <= 9)
    weekend = np.where(dow >= 5, 1.25, 1.0)
    base = shape * weekend * (1 + 0.04 * np.maximum(temp - 15, 0))
    load = pd.DataFrame(
        {
            "m1": 2.0 * base + rng.normal(0, 0.08, n),
            "m2": 7.0 * base * (1 + 0.1 * np.sin(np.arange(n) / 50)) + rng.normal(0, 0.3, n),
        },
        index=index,
    )
    ghi = np.clip(np.sin(np.pi * (hour - 6) / 13), 0, None) * 800
    exog = pd.DataFrame(
        {
            "outdoor_dry_bulb_temperature": temp,
            "outdoor_relative_humidity": 60 + 10 * np.cos(2 * np.pi * hour / 24),
            "direct_solar_irradiance": ghi * 0.8,
            "diffuse_solar_irradiance": ghi * 0.2,
            "wind_speed": np.abs(6 + 3 * np.sin(np.arange(n) / 7) + rng.normal(0, 1, n)),
        },
        index=index,
    )
    exog = with_forecast_columns(exog, list(exog.columns))
    exog["day_type"] = dow + 1
    return load, exog
