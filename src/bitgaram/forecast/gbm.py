"""LightGBM quantile regression shared by the load and PV models."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np

from bitgaram.errors import ForecastError


@dataclass(frozen=True)
class LightGBMParams:
    """LightGBM settings (defaults chosen for 10^4-10^5 training rows).

    Small trees and few rounds keep each refit cheap; single-meter load is
    noisy, so larger models mostly fit noise.

    One thread by default: on a shared 2-core machine OpenMP threads contend
    with other processes and training runs up to ~10x slower than single-threaded.
    """

    num_boost_round: int = 80
    learning_rate: float = 0.1
    num_leaves: int = 15
    min_data_in_leaf: int = 200
    feature_fraction: float = 0.9
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    max_bin: int = 63
    bin_sample: int = 20000
    num_threads: int = 1
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def for_quantile(self, alpha: float) -> dict[str, Any]:
        """Training parameters for quantile level ``alpha``."""
        return {
            "objective": "quantile",
            "alpha": alpha,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "max_bin": self.max_bin,
            # Bin edges from a sample: building the histogram bins from every row costs
            # as much as training at 10^4-10^5 rows, for no measurable gain in accuracy.
            "bin_construct_sample_cnt": self.bin_sample,
            "num_threads": self.num_threads,
            "seed": self.seed,
            "deterministic": True,
            "verbosity": -1,
            **self.extra,
        }


def train_quantile_models(
    x: np.ndarray,
    y: np.ndarray,
    levels: Sequence[float],
    params: LightGBMParams,
    feature_names: Sequence[str],
    who: str,
) -> dict[float, lgb.Booster]:
    """One LightGBM booster per quantile level.

    Raises
    ------
    ForecastError
        If LightGBM fails.
    """
    try:
        data = lgb.Dataset(x, label=y, feature_name=list(feature_names), free_raw_data=False)
        return {
            q: lgb.train(params.for_quantile(q), data, num_boost_round=params.num_boost_round)
            for q in levels
        }
    except lgb.basic.LightGBMError as exc:
        raise ForecastError(f"{who}: LightGBM training failed: {exc}") from exc


def predict_levels(
    models: dict[float, lgb.Booster],
    x: np.ndarray,
    quantiles: Sequence[float],
    num_threads: int,
    who: str,
) -> dict[float, np.ndarray]:
    """Predictions at 0.5 and every level in ``quantiles``, sorted so they never cross.

    Raises
    ------
    ForecastError
        If no model was trained or a level was not trained.
    """
    if not models:
        raise ForecastError(f"{who}: call fit() before predict()")
    wanted = sorted({0.5, *(float(q) for q in quantiles)})
    preds = []
    for q in wanted:
        level = next((lv for lv in models if np.isclose(lv, q)), None)
        if level is None:
            raise ForecastError(
                f"{who}: quantile {q} was not trained (trained: {sorted(models)}); "
                "pass it to the constructor"
            )
        preds.append(np.asarray(models[level].predict(x, num_threads=num_threads), dtype=float))
    stacked = np.sort(np.stack(preds), axis=0) if preds else np.zeros((0, len(x)))
    return {q: stacked[i] for i, q in enumerate(wanted)}
