"""The forecasting contract: weather-forecast lookup, alignment and the rolling driver."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
import pandas as pd
import pytest

from bitgaram.errors import ForecastError
from bitgaram.forecast.base import (
    ForecastResult,
    actual_matrix,
    iter_rolling_forecast,
    latest_weather_forecast,
    refit_blocks,
    rolling_forecast,
)
from bitgaram.forecast.baselines import Persistence


def _forecast_table(n: int) -> pd.DataFrame:
    # Value = 1000 * lead + issue row: tells which column and row were read.
    rows = np.arange(n, dtype=float)
    return pd.DataFrame(
        {f"t_predicted_{i}": 1000 * lead + rows for i, lead in ((1, 6), (2, 12), (3, 24))}
    )


def test_latest_weather_forecast_picks_shortest_available_lead() -> None:
    w = _forecast_table(200)
    out = latest_weather_forecast(w, "t", np.array([100]), 48)[0]
    for k in range(48):
        lead = 6 if k < 6 else 12 if k < 12 else 24
        extra = 0 if k < 24 else 24
        issue = 100 + k - lead - extra
        assert out[k] == 1000 * lead + issue
        assert issue <= 99  # issued before the origin
        assert issue + lead + extra == 100 + k  # forecasts the target (or same hour a day before)


def test_latest_weather_forecast_nan_before_start_and_missing_column() -> None:
    w = _forecast_table(50)
    out = latest_weather_forecast(w, "t", np.array([3]), 6)
    assert np.isnan(out[0, :3]).all() and np.isfinite(out[0, 3:]).all()
    with pytest.raises(Exception, match="no forecast column"):
        latest_weather_forecast(w, "wind", np.array([3]), 6)


def test_actual_matrix_aligns_and_pads() -> None:
    values = np.arange(10.0)[:, None]
    a = actual_matrix(values, np.array([2, 8]), 3)
    assert a[0, :, 0].tolist() == [2.0, 3.0, 4.0]
    assert a[1, :2, 0].tolist() == [8.0, 9.0] and np.isnan(a[1, 2, 0])


def test_refit_blocks_cover_origins_in_order() -> None:
    origins = np.array([5, 6, 7, 20, 21, 40])
    blocks = refit_blocks(origins, 10)
    assert [b.tolist() for b in blocks] == [[5, 6, 7], [20, 21], [40]]
    assert len(refit_blocks(origins, None)) == 1


class _Spy:
    name = "spy"

    def __init__(self) -> None:
        self.fit_ends: list[int] = []

    def fit(
        self, y: pd.DataFrame, exog: pd.DataFrame | None = None, end: int | None = None
    ) -> Self:
        self.fit_ends.append(int(end if end is not None else len(y)))
        return self

    def predict(
        self,
        y: pd.DataFrame,
        origins: np.ndarray,
        horizon: int,
        exog: pd.DataFrame | None = None,
        quantiles: Sequence[float] = (),
    ) -> ForecastResult:
        assert min(origins) >= self.fit_ends[-1]  # never predicts before its training end
        point = np.zeros((len(origins), horizon, y.shape[1]))
        return ForecastResult(np.asarray(origins), horizon, tuple(y.columns), point, {}, self.name)


def test_rolling_forecast_refits_on_data_before_each_block() -> None:
    y = pd.DataFrame({"a": np.arange(100.0)}, index=pd.date_range("2024", periods=100, freq="h"))
    spy = _Spy()
    res = rolling_forecast(spy, y, np.arange(30, 90), 4, refit_every=24)
    assert spy.fit_ends == [30, 54, 78]
    assert res.point.shape == (60, 4, 1)
    assert res.origins.tolist() == list(range(30, 90))


def test_iter_rolling_forecast_fits_each_block_only_when_asked() -> None:
    y = pd.DataFrame({"a": np.arange(100.0)}, index=pd.date_range("2024", periods=100, freq="h"))
    spy = _Spy()
    blocks = iter_rolling_forecast(spy, y, np.arange(30, 90), 4, refit_every=24)
    first = next(blocks)
    assert spy.fit_ends == [30]  # the consumer has block 1 before block 2 is fitted
    assert first.origins.tolist() == list(range(30, 54))
    rest = list(blocks)
    assert spy.fit_ends == [30, 54, 78]
    assert [b.origins[0] for b in rest] == [54, 78]


def test_rolling_forecast_rejects_bad_origins() -> None:
    y = pd.DataFrame({"a": np.arange(10.0)}, index=pd.date_range("2024", periods=10, freq="h"))
    with pytest.raises(ForecastError):
        rolling_forecast(Persistence(), y, [0, 1], 2)
    with pytest.raises(ForecastError):
        rolling_forecast(Persistence(), y, [5, 4], 2)


def test_forecast_result_checks_shapes_and_builds_long_table() -> None:
    with pytest.raises(ForecastError):
        ForecastResult(np.array([1]), 2, ("a",), np.zeros((1, 3, 1)))
    index = pd.date_range("2024-01-01", periods=5, freq="h")
    res = ForecastResult(
        np.array([4]), 2, ("a", "b"), np.arange(4.0).reshape(1, 2, 2), {0.1: np.zeros((1, 2, 2))}
    )
    frame = res.to_frame(index)
    assert len(frame) == 4
    assert frame["target_time"].iloc[-1] == pd.Timestamp("2024-01-01 05:00")  # past the end
    assert frame["issue_time"].unique().tolist() == [pd.Timestamp("2024-01-01 04:00")]
    assert frame["point"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert res.quantile(0.1).shape == (1, 2, 2)
    with pytest.raises(ForecastError):
        res.quantile(0.9)
