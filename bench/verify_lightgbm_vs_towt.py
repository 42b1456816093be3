"""Does LightGBM beat the time-of-week-and-temperature (TOWT) hourly baseline on held-out hours?

For each sample building and each baseline window of ``bench/verify_injected.py``,
both models are fitted on the window minus its last 14 days and scored on those
14 days (out-of-sample CV(RMSE) = RMSE / mean, no parameter correction, so the two
are comparable). LightGBM uses hour of week, hour, day-off flag and temperature
with fixed, untuned settings.

Run::

    .venv/bin/python bench/verify_lightgbm_vs_towt.py
"""

from __future__ import annotations

import statistics
import time

import lightgbm as lgb
import numpy as np
import pandas as pd

from bitgaram.verify.baseline import ENERGY, TEMPERATURE, fit_hourly, prepare_frame
from bitgaram.verify.features import is_day_off, time_of_week
from bitgaram.verify.inputs import from_citylearn

WINDOWS = (("2022-08-01", "2023-01-31"), ("2022-08-01", "2022-10-31"))
HOLDOUT_DAYS = 14
#: Fixed LightGBM settings (not tuned on these buildings).
LGB_PARAMS: dict[str, float | int | str] = {
    "objective": "regression",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "verbose": -1,
    "num_threads": 1,
}
LGB_ROUNDS = 300


def _features(frame: pd.DataFrame, holidays: frozenset) -> np.ndarray:
    idx = pd.DatetimeIndex(frame.index)
    return np.column_stack(
        [
            time_of_week(idx, holidays),
            idx.hour.to_numpy(),
            is_day_off(idx, holidays).astype(float),
            frame[TEMPERATURE].to_numpy(float),
        ]
    )


def _cv(y: np.ndarray, yhat: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - yhat) ** 2)) / np.mean(y))


def main() -> None:
    """Print out-of-sample CV(RMSE) of both models per building and window."""
    park = from_citylearn("data/citylearn_2022_phase_1")
    assert park.temperature_c is not None
    print("| window | building | TOWT held-out CV(RMSE) | LightGBM held-out CV(RMSE) | ratio |")
    print("|---|---|---|---|---|")
    ratios, t_towt, t_lgb = [], [], []
    for start, end in WINDOWS:
        for meter in park.energy_kwh.columns:
            frame = prepare_frame(park.energy_kwh[meter], park.temperature_c)
            frame = frame[start : pd.Timestamp(end) + pd.Timedelta(hours=23)]
            cut = frame.index.max().normalize() - pd.Timedelta(days=HOLDOUT_DAYS - 1)
            train, test = frame[frame.index < cut], frame[frame.index >= cut]
            t0 = time.perf_counter()
            towt = fit_hourly(train, park.holidays).model.predict(test).to_numpy()
            t_towt.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            data = lgb.Dataset(_features(train, park.holidays), train[ENERGY].to_numpy())
            booster = lgb.train(LGB_PARAMS, data, num_boost_round=LGB_ROUNDS)
            gbm = booster.predict(_features(test, park.holidays))
            t_lgb.append(time.perf_counter() - t0)
            y = test[ENERGY].to_numpy()
            a, b = _cv(y, towt), _cv(y, np.asarray(gbm))
            ratios.append(b / a)
            print(f"| {start}..{end} | {meter} | {a:.1%} | {b:.1%} | {b / a:.2f} |")
    print()
    print(
        f"median LightGBM/TOWT held-out CV(RMSE) ratio {statistics.median(ratios):.2f} "
        f"(LightGBM better in {sum(r < 1 for r in ratios)}/{len(ratios)}); median fit+predict "
        f"time TOWT {statistics.median(t_towt):.2f} s, LightGBM {statistics.median(t_lgb):.2f} s"
    )


if __name__ == "__main__":
    main()
