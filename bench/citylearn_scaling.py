"""MPC run time versus the number of buildings (synthetic copies).

Usage (from the repository root)::

    .venv/bin/python bench/citylearn_scaling.py [--steps 336] [--sizes 5,17,100] [--scenarios 7]

Buildings beyond the five shipped ones are copies shifted in time by whole
days (so their loads differ). For each size the MPC (seasonal-naive-free
``baseline`` load model + PV model forecasts) runs ``--steps`` steps; the
table gives the median wall and CPU time of one MPC decision (scenarios, LP
update, solve and bookkeeping) and the CPU time of a full year of decisions
(8,760 times the median). The forecasts are left out: they are computed once
per run, and their cost grows with the history rather than with the steps of
this short slice (``bench/citylearn_score.py`` times a whole year, forecasts
included). CPU time is reported because the shared machine is oversubscribed.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bitgaram.datasets.citylearn import read_citylearn
from bitgaram.optimize.forecasts import site_forecast
from bitgaram.optimize.mpc import MPCConfig, MPCController
from bitgaram.simulate import SiteData, simulate, site_from_citylearn
from bitgaram.simulate.engine import Observation

ROOT = Path(__file__).resolve().parents[1]


def copies(site: SiteData, n: int) -> SiteData:
    """``n`` buildings: the originals, then copies shifted by 1, 2, ... days."""
    b = len(site.names)
    idx = [i % b for i in range(n)]
    shift = [24 * (i // b) for i in range(n)]
    load = np.column_stack(
        [np.roll(site.load_kwh[:, j], s) for j, s in zip(idx, shift, strict=True)]
    )
    pv = np.column_stack([np.roll(site.pv_kwh[:, j], s) for j, s in zip(idx, shift, strict=True)])
    return replace(
        site,
        names=tuple(f"Building_{i + 1}" for i in range(n)),
        load_kwh=load,
        pv_kwh=pv,
        batteries=tuple(site.batteries[j] for j in idx),
        pv_kwp=site.pv_kwp[idx],
    )


class Timed:
    """Wraps a controller and records the time of each decision."""

    def __init__(self, inner: MPCController) -> None:
        self.inner = inner
        self.name = inner.name
        self.times: list[float] = []
        self.cpu: list[float] = []

    def prepare(self, site: SiteData) -> None:
        self.inner.prepare(site)

    def act(self, obs: Observation) -> np.ndarray:
        t0, c0 = time.perf_counter(), time.process_time()
        out = self.inner.act(obs)
        self.times.append(time.perf_counter() - t0)
        self.cpu.append(time.process_time() - c0)
        return out


def main() -> None:
    """Run the scaling benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=336)
    ap.add_argument("--sizes", default="5,17,100")
    ap.add_argument("--scenarios", type=int, default=7)
    args = ap.parse_args()
    full = site_from_citylearn(read_citylearn(ROOT / "data" / "citylearn_2022_phase_1"))
    print(
        "| buildings | step wall median [ms] | step CPU median [ms] | year of decisions CPU [s] |"
    )
    print("|---|---|---|---|")
    for n in map(int, args.sizes.split(",")):
        site = copies(full, n).slice(0, args.steps)
        fc = site_forecast(site, 24, "models", "baseline")
        cfg = MPCConfig(source="models", load_model="baseline", n_scenarios=args.scenarios)
        ctrl = Timed(MPCController(cfg, forecast=fc))
        simulate(site, ctrl)
        med = float(np.median(ctrl.times[1:]))
        med_cpu = float(np.median(ctrl.cpu[1:]))
        print(
            f"| {n} | {med * 1000:.1f} | {med_cpu * 1000:.1f} | {med_cpu * 8760:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
