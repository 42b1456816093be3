"""Calibration of the next-hour P10/P90 of the district net load (issue 21).

The forecast is the MPC's own (``site_forecast``: LightGBM load with dedicated near-step
models, the shipped pvlib + LightGBM PV forecaster averaged with its all-horizon model
corrected by its last error; the district net load is the sum
of the buildings'); the interval is that forecast plus the 10 % and 90 % quantiles of its
own past next-hour errors at the same hour (+- 1 h) over the last 28 days
(:func:`bitgaram.forecast.residuals.empirical_interval`, the MPC's error scenarios as an
interval; causal). Reports, per quarter and over the year, the share of outcomes inside
[P10, P90] (target 80 % +- 5 %), below P10 and above P90, the mean interval width and the
pinball loss of each bound.

    .venv/bin/python bench/forecast_calibration.py [DATASET_DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bitgaram.datasets.citylearn import read_citylearn
from bitgaram.forecast.residuals import empirical_interval
from bitgaram.optimize.forecasts import site_forecast
from bitgaram.simulate import site_from_citylearn

ROOT = Path(__file__).resolve().parents[1]


def pinball(actual: np.ndarray, bound: np.ndarray, q: float) -> float:
    """Mean pinball loss of quantile ``q`` [unit of the series]."""
    d = actual - bound
    return float(np.mean(np.maximum(q * d, (q - 1) * d)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", nargs="?", default=str(ROOT / "data/citylearn_2022_phase_1"))
    args = ap.parse_args()
    site = site_from_citylearn(read_citylearn(args.dataset))
    tic = time.perf_counter()
    fc = site_forecast(site, 2, "models", "lightgbm")
    seconds = time.perf_counter() - tic
    point = fc.net_kwh[:, 0, :].sum(axis=1)
    actual = (site.load_kwh - site.pv_kwh).sum(axis=1)
    lo, hi = empirical_interval(point, actual)
    ok = np.isfinite(lo)
    quarter = site.index.quarter.to_numpy()
    print(f"forecasts {seconds:.0f} s; {int(ok.sum())} of {ok.size} hours with an interval")
    print(
        "| period | hours | inside [P10, P90] | below P10 | above P90 | mean width [kWh] "
        "| pinball P10 | pinball P90 | next-hour MAE [kWh] |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    groups = [(f"Q{q}", ok & (quarter == q)) for q in (1, 2, 3, 4)] + [("year", ok)]
    for name, m in groups:
        a, low, high = actual[m], lo[m], hi[m]
        print(
            f"| {name} | {int(m.sum())} | {np.mean((a >= low) & (a <= high)):.1%} "
            f"| {np.mean(a < low):.1%} | {np.mean(a > high):.1%} | {np.mean(high - low):.3f} "
            f"| {pinball(a, low, 0.1):.4f} | {pinball(a, high, 0.9):.4f} "
            f"| {np.mean(np.abs(a - point[m])):.4f} |"
        )


if __name__ == "__main__":
    main()
