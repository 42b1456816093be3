"""Benchmark: the sample industrial park over a simulated month, four controllers.

Runs ``none``, ``rule``, ``mpc`` and ``oracle`` on ``data/industrial_park`` (June 2026, 15-min
steps) and prints bill (energy, demand, total), peak and carbon per controller, the share of the
oracle's bill reduction the MPC achieves, and the MPC solve time per step (median, p95)::

    .venv/bin/python bench/industrial_park.py [--days 30] [--json out.json] [--split]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bitgaram.assets.battery import initial_state
from bitgaram.assets.jobs import JobState
from bitgaram.optimize.park import frozen_profile, solve_park
from bitgaram.simulate.park import (
    CONTROLLERS,
    MPCControl,
    ParkCase,
    ParkState,
    load_park_case,
    make_controller,
    park_table,
    simulate_park,
    split_park_savings,
)


def speed(case: ParkCase, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Solve times [s] of ``n`` MPC steps spread over the period: the full MILP, and the same
    step with the jobs fixed at their earliest start (an LP: the reference)."""
    ctl = MPCControl(case)
    bat = initial_state(case.battery) if case.battery is not None else None
    full, ref = [], []
    for t in np.linspace(case.sim_start, case.sim_end - 1, n).astype(int):
        state = ParkState(
            step=int(t),
            battery=bat,
            # Sessions and jobs begun before t count as served (a consistent state at t).
            ev_kwh={
                v.id: v.arrival_kwh if v.arrival >= t else v.required_kwh for v in case.vehicles
            },
            jobs={
                j.id: JobState() if j.earliest >= t else JobState(j.duration, True)
                for j in case.jobs
            },
        )
        inp = ctl.inputs(case, state)
        tic = time.perf_counter()
        solve_park(inp)
        full.append(time.perf_counter() - tic)
        lp = frozen_profile(inp, vehicles=False, jobs=True, member=None)
        tic = time.perf_counter()
        solve_park(lp)
        ref.append(time.perf_counter() - tic)
    return np.array(full), np.array(ref)


def main() -> None:
    """Run the benchmark and print its table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--json", default=None)
    ap.add_argument("--speed-steps", type=int, default=60)
    ap.add_argument("--speed-only", action="store_true")
    ap.add_argument("--split", action="store_true", help="also split the MPC saving to tenants")
    args = ap.parse_args()
    case = load_park_case("data/industrial_park", days=args.days)
    full, ref = speed(case, args.speed_steps)
    print(
        f"MPC step (96 x 15 min, all assets, jobs MILP) over {full.size} steps: median "
        f"{np.median(full) * 1e3:.0f} ms, p95 {np.percentile(full, 95) * 1e3:.0f} ms; "
        f"same steps with jobs fixed (LP): median {np.median(ref) * 1e3:.0f} ms "
        f"(ratio {np.median(full) / np.median(ref):.1f}x)"
    )
    if args.speed_only:
        return
    runs = []
    for name in CONTROLLERS:
        tic = time.perf_counter()
        run = simulate_park(case, make_controller(name, case), name)
        runs.append(run)
        print(f"{name}: {time.perf_counter() - tic:.1f} s wall")
    rows = park_table(runs)
    for r in rows:
        print(r)
    base = rows[0]["total_krw"]
    gain = {r["controller"]: base - r["total_krw"] for r in rows}
    share = gain["mpc"] / gain["oracle"] if gain["oracle"] > 0 else float("nan")
    ss = np.array(runs[2].solve_seconds)
    print(f"mpc share of oracle bill reduction: {share:.1%}")
    print(
        f"mpc step solve: median {np.median(ss) * 1e3:.0f} ms, p95 "
        f"{np.percentile(ss, 95) * 1e3:.0f} ms, max {ss.max() * 1e3:.0f} ms over {ss.size} steps"
    )
    print(f"oracle solve (whole period, one MILP): {runs[3].solve_seconds[0]:.1f} s")
    split = None
    if args.split:
        saving = rows[0]["total_krw"] - rows[2]["total_krw"]
        tic = time.perf_counter()
        split = split_park_savings(case, float(saving))
        print(f"saving split ({time.perf_counter() - tic:.0f} s, {len(split.share) + 2} solves):")
        for m, v in split.share.items():
            print(
                f"  {m}: contribution {split.contribution[m]:,.0f} KRW, share {v:,.0f} KRW "
                f"({v / split.saving:.1%})"
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "rows": rows,
                    "mpc_share": share,
                    "mpc_solve_median_s": float(np.median(ss)),
                    "mpc_solve_p95_s": float(np.percentile(ss, 95)),
                },
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
