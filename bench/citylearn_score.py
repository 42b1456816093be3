"""CityLearn 2022 scores of the none / rule / mpc / oracle controllers.

Usage (from the repository root)::

    .venv/bin/python bench/citylearn_score.py [DATASET_DIR] [--controllers none,rule,mpc,oracle]
        [--load-model baseline|lightgbm] [--forecast models|naive|perfect]
        [--scenarios 7] [--start 0] [--stop 8760] [--perfect-steps N]

Prints one Markdown table row per controller: score, the KPI ratios (C, G,
R, L, D), the wall time of prepare + replay [s] and its CPU time [s] (the
shared machine is oversubscribed, so wall time overstates the cost). ``--start/--stop`` score a
part of the period against its own no-battery baseline (e.g. the second half
year as a held-out check). ``--perfect-steps N`` is a diagnostic, not a
controller: the MPC's model forecasts with their first N steps ahead replaced
by the realised net load (it shows how much of the gap to the oracle lies in
the next hours' forecast).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from bitgaram.datasets.citylearn import read_citylearn
from bitgaram.optimize.forecasts import site_forecast
from bitgaram.optimize.mpc import MPCConfig, MPCController
from bitgaram.optimize.oracle import OracleController
from bitgaram.simulate import SiteData, simulate, site_from_citylearn
from bitgaram.simulate.controllers import NoBatteryController, RuleController
from bitgaram.simulate.engine import Controller

ROOT = Path(__file__).resolve().parents[1]


def make(
    name: str, load_model: str, source: str, scenarios: int, site: SiteData, perfect_steps: int
) -> Controller:
    """A controller by name."""
    if name == "none":
        return NoBatteryController()
    if name == "rule":
        return RuleController()
    if name == "oracle":
        return OracleController()
    if name == "mpc":
        cfg = MPCConfig(source=source, load_model=load_model, n_scenarios=scenarios)  # type: ignore[arg-type]
        if perfect_steps <= 0:
            return MPCController(cfg)
        fc = site_forecast(site, cfg.horizon, cfg.source, cfg.load_model)
        truth = site_forecast(site, cfg.horizon, "perfect")
        net = fc.net_kwh.copy()
        net[:, :perfect_steps] = truth.net_kwh[:, :perfect_steps]
        return MPCController(cfg, forecast=replace(fc, net_kwh=net))
    raise SystemExit(f"unknown controller {name}")


def main() -> None:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset", nargs="?", default=str(ROOT / "data" / "citylearn_2022_phase_1"))
    ap.add_argument("--controllers", default="none,rule,mpc,oracle")
    ap.add_argument("--load-model", default="lightgbm", choices=["lightgbm", "baseline"])
    ap.add_argument("--forecast", default="models", choices=["models", "naive", "perfect"])
    ap.add_argument("--scenarios", type=int, default=7)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--stop", type=int, default=None)
    ap.add_argument("--perfect-steps", type=int, default=0)
    args = ap.parse_args()
    site = site_from_citylearn(read_citylearn(args.dataset))
    site = site.slice(args.start, args.stop or site.n_steps)
    stop = args.start + site.n_steps
    print(f"{args.dataset}: steps {args.start}..{stop}, {len(site.names)} buildings")
    print("| controller | score | C | G | R | L | D | wall [s] | CPU [s] |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.controllers.split(","):
        cpu0 = time.process_time()
        ctrl = make(name, args.load_model, args.forecast, args.scenarios, site, args.perfect_steps)
        res = simulate(site, ctrl)
        cpu = time.process_time() - cpu0
        s = res.score
        label = name
        if name == "mpc":
            label = f"mpc ({args.forecast}, {args.load_model}, K={args.scenarios})"
            if args.perfect_steps > 0:
                label += f", first {args.perfect_steps} step(s) perfect (diagnostic)"
        print(
            f"| {label} | {s.score:.3f} | {s.price_cost:.3f} | {s.emission_cost:.3f} | "
            f"{s.ramping:.3f} | {s.load_factor:.3f} | {s.grid_cost:.3f} | {res.seconds:.1f} "
            f"| {cpu:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
