"""Naive baselines on hand-made series."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from bitgaram.forecast.baselines import BestBaseline, Persistence, SeasonalNaive


def _frame(values: np.ndarray) -> pd.DataFrame:
    values = values.reshape(len(values), -1)
    index = pd.date_range("2024-01-01", periods=len(values), freq="h")
    return pd.DataFrame(values, index=index, columns=[f"s{i}" for i in range(values.shape[1])])


def test_persistence_repeats_last_value() -> None:
    y = _frame(np.array([1.0, 5.0, 2.0, 8.0, 3.0]))
    res = Persistence().fit(y, end=3).predict(y, np.array([3, 4]), 3)
    assert res.point[:, :, 0].tolist() == [[2.0, 2.0, 2.0], [8.0, 8.0, 8.0]]


def test_seasonal_naive_copies_same_phase_of_latest_period() -> None:
    y = _frame(np.arange(12.0))
    res = SeasonalNaive(period=3).fit(y).predict(y, np.array([6]), 5)
    # targets 6..8 copy 3, 4, 5 (one period back); 9, 10 copy 3, 4 (two periods back)
    assert res.point[0, :, 0].tolist() == [3.0, 4.0, 5.0, 3.0, 4.0]


def test_seasonal_naive_falls_back_to_last_value_without_a_full_period() -> None:
    y = _frame(np.arange(10.0))
    res = SeasonalNaive(period=24).fit(y).predict(y, np.array([5]), 2)
    assert res.point[0, :, 0].tolist() == [4.0, 4.0]


def test_best_baseline_picks_seasonal_on_periodic_and_persistence_on_walk() -> None:
    n = 24 * 30
    periodic = np.tile(np.r_[np.zeros(12), np.ones(12) * 5.0], n // 24)
    walk = np.cumsum(np.random.default_rng(0).normal(0, 1, n))
    y = _frame(np.column_stack([periodic, walk]))
    best = BestBaseline(validation=24 * 7)
    res = best.fit(y, end=n - 24).predict(y, np.array([n - 24]), 24)
    choice = best.choose(y.to_numpy(), n - 24, 24)
    # Seasonal candidates on the periodic series (at 24 steps persistence ties: o+23 = o-1 + 24).
    assert (choice[:23, 0] != 0).all()
    assert (choice[:1, 1] == 0).all()  # persistence one step ahead on the random walk
    assert np.allclose(res.point[0, :, 0], periodic[-24:])


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(-100, 100), min_size=60, max_size=120),
    st.integers(min_value=30, max_value=59),
)
def test_baseline_quantiles_are_ordered(values: list[float], origin: int) -> None:
    y = _frame(np.asarray(values))
    for model in (Persistence(), SeasonalNaive(period=7), BestBaseline(validation=14)):
        res = model.fit(y, end=origin).predict(y, np.array([origin]), 5, quantiles=(0.1, 0.5, 0.9))
        assert np.all(res.quantile(0.1) <= res.quantile(0.5) + 1e-12)
        assert np.all(res.quantile(0.5) <= res.quantile(0.9) + 1e-12)
