"""Per-step LP solve time of the CityLearn MPC: compact SiteProblem vs the direct formulation.

Usage (from the repository root)::

    .venv/bin/python bench/mpc_solve_speed.py [DATASET_DIR] [--steps 500] [--repeats 3]
        [--no-cold] [--end-to-end]

1. Runs the MPC (``MPCController`` with the default ``MPCConfig``: H = 24, K = 7,
   peak and ramping terms) on the first ``--steps`` steps of the dataset and
   captures every ``HorizonInput`` passed to ``SiteProblem.solve``.
2. Re-solves the captured sequence ``--repeats`` times on a fresh
   ``ReferenceSiteProblem`` (the previous implementation: one row per
   scenario, Python-binding HiGHS session, warm start from the unshifted
   basis) and on a fresh ``SiteProblem`` (compact form, HiGHS C API, basis
   shifted one step). Per solve: CPU time of the calling thread in ``solve``
   (median over repeats; HiGHS runs single-threaded in that thread), split
   into HiGHS ``run`` and the rest (Python: costs/bounds, passing them, basis
   moves, reading the solution); and the wall time, which on a shared machine
   also counts time spent descheduled.
3. Checks the compact optimum against the reference: objective to 1e-6
   relative; counts first-step actions that differ, and (unless
   ``--no-cold``) how many differ between the reference warm-started and the
   reference solved from scratch, which measures how often the LP has several
   optimal plans (degeneracy) at all.

With ``--end-to-end`` it instead runs the whole MPC simulation over the
first ``--steps`` steps twice, with the MPC's LP being the reference and then
the compact one, and prints the CPU time and CityLearn score of each.

Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bitgaram.datasets.citylearn import read_citylearn
from bitgaram.optimize import mpc as mpc_module
from bitgaram.optimize import site as site_module
from bitgaram.optimize.mpc import MPCConfig, MPCController
from bitgaram.optimize.site import HorizonInput, ReferenceSiteProblem, Schedule, SiteProblem
from bitgaram.simulate import simulate, site_from_citylearn

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Capture:
    """Constructor arguments of the MPC's SiteProblem and every input it solved."""

    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] | None = None
    inputs: list[HorizonInput] | None = None


def capture(dataset: str, steps: int) -> tuple[Capture, float]:
    """Run the MPC on the first ``steps`` steps; returns the capture and the run's CPU [s]."""
    site = site_from_citylearn(read_citylearn(dataset)).slice(0, steps)
    cap = Capture(inputs=[])
    cls = site_module.SiteProblem
    init, solve = cls.__init__, cls.solve

    def wrapped_init(self: SiteProblem, *args: Any, **kwargs: Any) -> None:
        cap.args, cap.kwargs = args, kwargs
        init(self, *args, **kwargs)

    def wrapped_solve(self: SiteProblem, inp: HorizonInput) -> Schedule:
        assert cap.inputs is not None
        cap.inputs.append(inp)
        return solve(self, inp)

    cls.__init__ = wrapped_init  # type: ignore[method-assign]
    cls.solve = wrapped_solve  # type: ignore[method-assign]
    try:
        cpu0 = time.process_time()
        simulate(site, MPCController(MPCConfig()))
        cpu = time.process_time() - cpu0
    finally:
        cls.__init__ = init  # type: ignore[method-assign]
        cls.solve = solve  # type: ignore[method-assign]
    return cap, cpu


@dataclass
class Timing:
    """Per-solve figures of one implementation (arrays over the captured solves)."""

    total: np.ndarray  # wall [s]
    run: np.ndarray  # wall of HiGHS run [s]
    cpu: np.ndarray  # thread CPU [s]
    run_cpu: np.ndarray  # thread CPU of HiGHS run [s]
    iterations: np.ndarray
    objective: np.ndarray
    action: np.ndarray  # first-step battery energies (n, B)
    cost_range: np.ndarray  # (n, 2) smallest and largest non-zero |objective coefficient|
    rows: int
    cols: int


def replay(cls: type[Any], cap: Capture, repeats: int, **extra: Any) -> Timing:
    """Solve the captured sequence ``repeats`` times on fresh problems; medians over repeats."""
    assert cap.inputs is not None and cap.kwargs is not None
    n = len(cap.inputs)
    total = np.empty((repeats, n))
    run = np.empty((repeats, n))
    cpu = np.empty((repeats, n))
    run_cpu = np.empty((repeats, n))
    its = np.empty((repeats, n))
    objective = np.empty(n)
    ranges = np.zeros((n, 2))
    action: list[np.ndarray] = []
    for r in range(repeats):
        problem = cls(*cap.args, **cap.kwargs, **extra)
        session = problem._session
        for i, inp in enumerate(cap.inputs):
            c0 = time.thread_time()
            t0 = time.perf_counter()
            sched = problem.solve(inp)
            total[r, i] = time.perf_counter() - t0
            cpu[r, i] = time.thread_time() - c0
            run[r, i] = session.last_run_seconds
            run_cpu[r, i] = session.last_run_cpu_seconds
            its[r, i] = session.iterations()
            if r == 0:
                objective[i] = sched.objective
                ranges[i] = getattr(problem, "cost_range", (0.0, 0.0))
                action.append(sched.battery_kwh[:, 0].copy())
    return Timing(
        total=np.median(total, axis=0),
        run=np.median(run, axis=0),
        cpu=np.median(cpu, axis=0),
        run_cpu=np.median(run_cpu, axis=0),
        iterations=np.median(its, axis=0),
        objective=objective,
        action=np.array(action),
        cost_range=ranges,
        rows=problem.lp.n_rows,
        cols=problem.lp.n_cols,
    )


def cold_actions(cap: Capture) -> np.ndarray:
    """First-step actions of the reference solved from scratch for every input."""
    assert cap.inputs is not None and cap.kwargs is not None
    return np.array(
        [
            ReferenceSiteProblem(*cap.args, **cap.kwargs).solve(inp).battery_kwh[:, 0]
            for inp in cap.inputs
        ]
    )


def ms(a: np.ndarray, q: float = 50.0) -> str:
    return f"{np.percentile(a, q) * 1e3:.2f}"


def end_to_end(dataset: str, steps: int) -> None:
    """Whole MPC runs with each LP implementation: CPU time and score."""
    site = site_from_citylearn(read_citylearn(dataset)).slice(0, steps)
    cfg = MPCConfig()
    cpu0 = time.process_time()
    warm = MPCController(cfg)
    warm.prepare(site)  # forecasts once, shared by both runs
    print(
        f"{dataset}: MPC (default MPCConfig) over the first {site.n_steps} steps; "
        f"forecasts {time.process_time() - cpu0:.1f} s CPU (computed once, not in the rows below)"
    )
    print("| LP implementation | MPC replay CPU [s] | MPC replay wall [s] | score |")
    print("|---|---|---|---|")
    original = mpc_module.SiteProblem
    implementations: list[tuple[str, Any]] = [
        ("before: ReferenceSiteProblem", ReferenceSiteProblem),
        ("after: SiteProblem", SiteProblem),
    ]
    try:
        for label, cls in implementations:
            mpc_module.SiteProblem = cls  # type: ignore[misc]
            cpu0, t0 = time.process_time(), time.perf_counter()
            res = simulate(site, MPCController(cfg, forecast=warm.forecast))
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
            print(f"| {label} | {cpu:.1f} | {wall:.1f} | {res.score.score:.4f} |", flush=True)
    finally:
        mpc_module.SiteProblem = original  # type: ignore[misc]


def main() -> None:
    """Capture, replay, print."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset", nargs="?", default=str(ROOT / "data" / "citylearn_2022_phase_1"))
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-cold", action="store_true", help="skip the from-scratch degeneracy check")
    ap.add_argument("--end-to-end", action="store_true", help="time whole MPC runs instead")
    args = ap.parse_args()
    if args.end_to_end:
        end_to_end(args.dataset, args.steps)
        return

    cap, mpc_cpu = capture(args.dataset, args.steps)
    assert cap.inputs is not None
    n = len(cap.inputs)
    inp0 = cap.inputs[0]
    print(
        f"{args.dataset}: first {args.steps} steps, {n} LP solves "
        f"(B={inp0.soc_kwh.size}, H={inp0.price.size}, "
        f"K={cap.args[2] if len(cap.args) > 2 else 1}); MPC run {mpc_cpu:.1f} s CPU; "
        f"medians over {args.repeats} repeats"
    )
    ref = replay(ReferenceSiteProblem, cap, args.repeats)
    new = replay(SiteProblem, cap, args.repeats)
    noshift = replay(SiteProblem, cap, args.repeats, shift_basis=False)

    print()
    print(
        "| implementation | rows | cols | solve CPU median [ms] | solve CPU p90 [ms] "
        "| of which HiGHS run [ms] | of which Python [ms] | solve wall median [ms] "
        "| solve wall p90 [ms] | simplex iterations median |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, t in (
        ("before: direct formulation (ReferenceSiteProblem)", ref),
        ("compact formulation, basis not shifted", noshift),
        ("after: compact + shifted basis (SiteProblem)", new),
    ):
        print(
            f"| {label} | {t.rows} | {t.cols} | {ms(t.cpu)} | {ms(t.cpu, 90)} | {ms(t.run_cpu)} "
            f"| {ms(t.cpu - t.run_cpu)} | {ms(t.total)} | {ms(t.total, 90)} "
            f"| {np.median(t.iterations):.0f} |"
        )
    print(
        f"\nSpeed-up of the median solve: {np.median(ref.total) / np.median(new.total):.2f}x wall, "
        f"{np.median(ref.cpu) / np.median(new.cpu):.2f}x CPU."
    )

    scale = np.maximum(np.abs(ref.objective), 1.0)
    print("\n| check against the reference | value |")
    print("|---|---|")
    for label, t in (("compact + shift", new), ("compact, no shift", noshift)):
        rel = np.abs(t.objective - ref.objective) / scale
        diff = np.abs(t.action - ref.action).max(axis=1) > 1e-6
        print(f"| {label}: max relative objective difference | {rel.max():.1e} |")
        absdiff = np.abs(t.objective - ref.objective).max()
        print(f"| {label}: max absolute objective difference | {absdiff:.1e} |")
        print(
            f"| {label}: solves whose first-step actions differ (> 1e-6 kWh) | {diff.sum()} / {n} |"
        )
    lo, hi = new.cost_range[:, 0], new.cost_range[:, 1]
    print(
        f"| objective coefficients (non-zero abs), all solves | {lo.min():.1e} .. {hi.max():.1e} "
        f"(documented range {site_module.COST_RANGE[0]:.0e} .. {site_module.COST_RANGE[1]:.0e}) |"
    )
    if not args.no_cold:
        cold = cold_actions(cap)
        diff = np.abs(cold - ref.action).max(axis=1) > 1e-6
        label = "reference warm vs reference from scratch: first-step actions differ"
        print(f"| {label} | {diff.sum()} / {n} |")
    worst = (np.abs(new.objective - ref.objective) / scale).max()
    if worst > 1e-6:
        raise SystemExit(f"compact optimum differs from the reference by {worst:.1e} (relative)")


if __name__ == "__main__":
    main()
