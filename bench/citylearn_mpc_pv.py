"""Which PV forecast the MPC plans on, and why the best next-hour one is not the best plan.

Usage (from the repository root)::

    nice .venv/bin/python bench/citylearn_mpc_pv.py [DATASET_DIR] [--rows all-horizon,shipped,...]

Computes the MPC's load forecasts and both PV forecasts of the shipped
:class:`bitgaram.forecast.pv.PVForecaster` (near-horizon models, and the same fit's
all-horizon model, :meth:`~bitgaram.forecast.pv.PVForecaster.predict_pair`) once, with
the MPC's refit blocks, then replays the full year with the product's MPC
(:class:`bitgaram.optimize.mpc.MPCController` on precomputed forecasts) for each PV
variant. Prints one Markdown row per variant: the next-hour PV MAE per building over the
origins from day 28 [kWh], the mean absolute revision of the district PV forecast of a
target from the step-2 forecast to the step-1 forecast [kWh], the score and its KPI ratios.
Rows marked "diagnostic" use the actual PV and are not controllers.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from bitgaram.datasets.citylearn import read_citylearn
from bitgaram.forecast.base import actual_matrix, rolling_forecast
from bitgaram.forecast.feedback import error_feedback
from bitgaram.forecast.load import LightGBMLoadForecaster
from bitgaram.forecast.pv import PVForecaster
from bitgaram.optimize.forecasts import (
    NEAR_STEPS,
    REFIT_EVERY,
    SiteForecast,
    pv_blend,
    site_forecast,
)
from bitgaram.optimize.mpc import MPCConfig, MPCController
from bitgaram.simulate import SiteData, simulate, site_from_citylearn

ROOT = Path(__file__).resolve().parents[1]


def _frame(values: np.ndarray, site: SiteData, names: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(values, index=site.index, columns=list(names))


def _forecasts(site: SiteData, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Load, shipped PV and corrected all-horizon PV forecasts of origins 1..N-1 [kWh]."""
    origins = np.arange(1, site.n_steps)
    exog = site.weather if len(site.weather.columns) else None
    load_model = LightGBMLoadForecaster(
        max_horizon=h, quantiles=(), near_steps=NEAR_STEPS, country=site.holiday_country
    )
    load = rolling_forecast(
        load_model, _frame(site.load_kwh, site, site.names), origins, h, exog, REFIT_EVERY
    ).point
    pv_y = _frame(site.pv_kwh, site, site.names)
    kwp = dict(zip(site.names, site.pv_kwp.tolist(), strict=True))
    model = PVForecaster(kwp=kwp, quantiles=())
    shipped, far = [], []
    for start in range(0, origins.size, REFIT_EVERY):
        block = origins[start : start + REFIT_EVERY]
        model.fit(pv_y, exog, end=int(block[0]))
        near_res, far_res = model.predict_pair(pv_y, block, h, exog)
        shipped.append(near_res.point)
        far.append(far_res.point)
    ship = np.nan_to_num(np.concatenate(shipped))
    fixed = error_feedback(np.nan_to_num(np.concatenate(far)), site.pv_kwh, origins, REFIT_EVERY)
    return np.nan_to_num(load), ship, fixed


def main() -> None:
    """Run the variants and print the table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset", nargs="?", default=str(ROOT / "data" / "citylearn_2022_phase_1"))
    ap.add_argument("--rows", default=None, help="comma-separated variant keys (default all)")
    args = ap.parse_args()
    site = site_from_citylearn(read_citylearn(args.dataset))
    cfg = MPCConfig()
    h = cfg.horizon
    t0 = time.perf_counter()
    load, ship, fixed = _forecasts(site, h)
    print(f"forecasts {time.perf_counter() - t0:.0f} s", flush=True)
    origins = np.arange(1, site.n_steps)
    actual = np.nan_to_num(actual_matrix(site.pv_kwh, origins, h))

    def step1(base: np.ndarray, first: np.ndarray) -> np.ndarray:
        out = base.copy()
        out[:, 0] = first
        return out

    variants: dict[str, tuple[str, Callable[[], np.ndarray]]] = {
        "all-horizon": ("all-horizon + error feedback", lambda: fixed),
        "shipped": ("shipped (near models 1-6)", lambda: ship),
        "mix": ("all-horizon + feedback, step 1 shipped", lambda: step1(fixed, ship[:, 0])),
        "toward": (
            "all-horizon + feedback, step 1 30 % toward actual (diagnostic)",
            lambda: step1(fixed, fixed[:, 0] + 0.3 * (actual[:, 0] - fixed[:, 0])),
        ),
        "actual": (
            "all-horizon + feedback, step 1 actual (diagnostic)",
            lambda: step1(fixed, actual[:, 0]),
        ),
        "mean": ("mean of shipped and all-horizon + feedback (MPC)", lambda: pv_blend(ship, fixed)),
    }
    keys = args.rows.split(",") if args.rows else list(variants)
    # Price and carbon forecasts do not depend on the PV: take the product's.
    base = site_forecast(site, h, "naive")
    scored = origins >= 28 * 24
    print("| MPC's PV forecast | 1-h PV MAE | revision | score | C | G | R | L | wall [s] |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key in keys:
        label, make = variants[key]
        pv = np.clip(make(), 0.0, None)
        net = np.zeros((site.n_steps, h, len(site.names)))
        net[1:] = load - pv
        fc = SiteForecast(net_kwh=net, price=base.price, carbon=base.carbon, source="models")
        t1 = time.perf_counter()
        res = simulate(site, MPCController(cfg, forecast=fc))
        wall = time.perf_counter() - t1
        mae = float(np.mean(np.abs(actual[scored, 0] - pv[scored, 0])))
        district = pv.sum(axis=2)
        revision = float(np.mean(np.abs(district[1:, 0] - district[:-1, 1])[scored[1:]]))
        s = res.score
        print(
            f"| {label} | {mae:.4f} | {revision:.3f} | {s.score:.5f} | {s.price_cost:.4f} | "
            f"{s.emission_cost:.4f} | {s.ramping:.4f} | {s.load_factor:.4f} | {wall:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
