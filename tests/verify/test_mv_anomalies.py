"""Anomaly detection: off-hours use, outside the interval, drift; ranked by cost."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bitgaram.verify.anomalies import AnomalyKind, anomalies_frame, cusum_upper, detect_anomalies
from bitgaram.verify.baseline import fit_hourly, prepare_frame


def _site(weeks: int, seed: int = 0) -> tuple[pd.Series, pd.Series]:
    idx = pd.date_range("2024-01-01", periods=weeks * 168, freq="h")
    rng = np.random.default_rng(seed)
    busy = (idx.day_of_week < 5) & (idx.hour >= 8) & (idx.hour < 18)
    load = np.where(busy, 20.0, 5.0) + rng.normal(0, 0.5, len(idx))
    temp = pd.Series(15.0 + rng.normal(0, 1, len(idx)), index=idx)
    return pd.Series(load, index=idx), temp


def test_cusum_by_hand() -> None:
    assert list(cusum_upper(np.array([1.0, 1.0, -3.0, 2.0]), k=0.5)) == [0.5, 1.0, 0.0, 1.5]


def test_off_hours_event_found_with_range_size_and_cost() -> None:
    load, temp = _site(6)
    base = prepare_frame(load[: 4 * 168], temp)
    fit = fit_hourly(base)
    rep_load = load[4 * 168 :].copy()
    start = pd.Timestamp("2024-02-03 01:00")  # a Saturday night
    rep_load[start : start + pd.Timedelta(hours=5)] += 10.0  # 6 hours, +60 kWh
    rep = prepare_frame(rep_load, temp)
    found = detect_anomalies(fit, rep, price=100.0, meter="m")
    top = found[0]
    assert top.kind is AnomalyKind.OFF_HOURS
    assert top.start == start and top.end == start + pd.Timedelta(hours=6)
    assert top.excess_kwh == pytest.approx(60.0, abs=3.0)
    assert top.cost == pytest.approx(100.0 * top.excess_kwh)
    costs = [a.cost for a in found]
    assert costs == sorted(costs, reverse=True)
    table = anomalies_frame(found)
    assert list(table["rank"][:2]) == [1, 2]


def test_price_series_sets_the_cost() -> None:
    load, temp = _site(5, seed=1)
    fit = fit_hourly(prepare_frame(load[: 4 * 168], temp))
    rep_load = load[4 * 168 :].copy()
    t0 = pd.Timestamp("2024-01-30 12:00")  # a Tuesday, occupied
    rep_load[t0] += 30.0
    price = pd.Series(50.0, index=load.index)
    price[t0] = 300.0
    found = detect_anomalies(fit, prepare_frame(rep_load, temp), price)
    hit = [a for a in found if a.start == t0]
    assert hit and hit[0].kind is AnomalyKind.OUTSIDE_INTERVAL
    assert hit[0].cost == pytest.approx(300.0 * hit[0].excess_kwh)


def test_drift_detected() -> None:
    load, temp = _site(8, seed=2)
    fit = fit_hourly(prepare_frame(load[: 4 * 168], temp))
    rep_load = load[4 * 168 :] * 1.0
    rep_load[pd.Timestamp("2024-02-12") :] += 0.8  # +19 kWh/day from a date on
    found = detect_anomalies(fit, prepare_frame(rep_load, temp), 1.0)
    drift = [a for a in found if a.kind is AnomalyKind.DRIFT]
    assert len(drift) == 1
    shift = pd.Timestamp("2024-02-12")
    # CUSUM dates a change from the last zero of the statistic: at or a few days before it.
    assert shift - pd.Timedelta(days=7) <= drift[0].start <= shift
    assert drift[0].excess_kwh == pytest.approx(0.8 * 24 * 14, rel=0.25)
