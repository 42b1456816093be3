"""The deferrable-job block of a park problem (MILP).

For each job not yet finished, over its window inside the horizon:

- **non-interruptible, not started**: a binary ``x[s]`` per allowed start ``s``
  (``earliest <= s <= deadline - duration``, ``s >= now``) and, when the latest
  start lies beyond the horizon, a binary ``later``; exactly one is 1. The job's
  profile follows the chosen start; the part that falls after the horizon, and a
  ``later`` start, are priced at the rates after the horizon when the planner gives
  them (``tail_rate`` as an array: the cheapest later start), else at one rate
  (e.g. the horizon's mean);
- **non-interruptible, started**: its remaining profile is fixed (part of the
  firm load, :func:`committed_kw`);
- **interruptible**: a binary ``u[t]`` per allowed step; ``sum u + later =
  remaining steps``, ``later`` (continuous) at most the allowed steps after the
  horizon, priced at their rates (one column per distinct rate: the cheapest
  steps first) or at one rate; when the deadline is inside the horizon
  ``later = 0``.

Every job is checked before the solve: one that cannot finish by its deadline
raises :class:`~bitgaram.errors.DataError` naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bitgaram.assets.jobs import Job, JobState, remaining
from bitgaram.errors import DataError
from bitgaram.optimize.cost_to_go import later_rates, rate_groups
from bitgaram.optimize.ev import BusTerm
from bitgaram.optimize.problem import LinearProgram


@dataclass(frozen=True)
class JobBlock:
    """Columns of the job block.

    Attributes
    ----------
    jobs : tuple of Job
        Jobs with decision variables, in order.
    run_steps : tuple of numpy.ndarray
        Per job, the horizon steps of its run indicators.
    run_cols : tuple of numpy.ndarray
        Per job, for each entry of ``run_steps``, the column (start binary for
        non-interruptible jobs, run binary for interruptible ones).
    run_coef : tuple of numpy.ndarray
        Per job, the energy [kWh] the column draws in that step.
    starts : tuple of numpy.ndarray
        Per job, the absolute start steps of its start binaries (empty if interruptible).
    start_cols : tuple of numpy.ndarray
        Per job, the start (or run) binaries.
    """

    jobs: tuple[Job, ...]
    run_steps: tuple[np.ndarray, ...]
    run_cols: tuple[np.ndarray, ...]
    run_coef: tuple[np.ndarray, ...]
    starts: tuple[np.ndarray, ...]
    start_cols: tuple[np.ndarray, ...]

    def bus_terms(self) -> list[BusTerm]:
        """Terms of the jobs' energy per horizon step [kWh] (coefficients are arrays)."""
        return [
            (t, c, k)  # type: ignore[misc]
            for t, c, k in zip(self.run_steps, self.run_cols, self.run_coef, strict=True)
        ]

    def runs_now(self, x: np.ndarray) -> list[bool]:
        """Whether each job is planned to run (or start) in the first horizon step."""
        out = []
        for t, c in zip(self.run_steps, self.run_cols, strict=True):
            sel = t == 0
            out.append(bool(sel.any() and np.max(x[c[sel]]) > 0.5))
        return out

    def run_plan(self, x: np.ndarray, horizon: int) -> dict[str, np.ndarray]:
        """Per job, the steps it is planned to run (interruptible) or start (others), (H,)."""
        out: dict[str, np.ndarray] = {}
        for job, s_abs, cols, t, c in zip(
            self.jobs, self.starts, self.start_cols, self.run_steps, self.run_cols, strict=True
        ):
            plan = np.zeros(horizon, dtype=bool)
            if job.interruptible:
                plan[t[x[c] > 0.5]] = True
            else:
                chosen = s_abs[x[cols] > 0.5] - (s_abs[0] - int(t.min()) if t.size else 0)
                plan[chosen[(chosen >= 0) & (chosen < horizon)]] = True
            out[job.id] = plan
        return out

    def kwh(self, x: np.ndarray, horizon: int, step_hours: float) -> np.ndarray:
        """Planned job energy per step [kWh], shape (H,)."""
        out = np.zeros(horizon)
        for t, c, k in zip(self.run_steps, self.run_cols, self.run_coef, strict=True):
            np.add.at(out, t, np.round(x[c]) * k)
        return out


def committed_kw(job: Job, state: JobState, start: int, horizon: int) -> np.ndarray:
    """Remaining profile of a started non-interruptible job over the horizon [kW]."""
    out = np.zeros(horizon)
    rest = job.power_kw[state.done :]
    n = min(len(rest), horizon)
    out[:n] = rest[:n]
    return out


def check_job_window(job: Job, state: JobState, now: int) -> None:
    """Raise :class:`DataError` naming ``job`` if it cannot finish by its deadline from ``now``."""
    left = remaining(job, state)
    if left <= 0:
        return
    first = max(job.earliest, now)
    if job.deadline - first < left:
        raise DataError(
            f"job {job.id!r} cannot fit: {left} running steps left but only "
            f"{max(job.deadline - first, 0)} steps between step {first} and its deadline "
            f"{job.deadline}; move the deadline or the earliest start"
        )


def add_job_block(
    lp: LinearProgram,
    jobs: Sequence[tuple[Job, JobState]],
    start: int,
    horizon: int,
    step_hours: float,
    tail_rate: float | np.ndarray,
) -> JobBlock:
    """Add the unfinished, uncommitted jobs over ``start .. start + horizon``.

    Parameters
    ----------
    lp : LinearProgram
        The problem.
    jobs : sequence of (Job, JobState)
        Jobs with their progress; started non-interruptible ones are skipped
        (give their :func:`committed_kw` as firm load).
    start, horizon : int
        Absolute first step and number of steps H.
    step_hours : float
        Step length [h].
    tail_rate : float or numpy.ndarray
        Price of energy the plan leaves after the horizon [currency/kWh]: one rate, or the
        rates of the steps after the horizon (steps beyond them cost their mean).

    Raises
    ------
    DataError
        If a job cannot finish by its deadline (checked for every job before building).
    """
    for job, state in jobs:
        check_job_window(job, state, start)
    kept: list[Job] = []
    run_steps, run_cols, run_coef, starts, start_cols = [], [], [], [], []
    end = start + horizon
    rates = None if np.ndim(tail_rate) == 0 else np.asarray(tail_rate, dtype=float)
    flat = float(np.mean(tail_rate))
    for job, state in jobs:
        left = remaining(job, state)
        if left <= 0 or (state.started and not job.interruptible) or job.earliest >= end:
            continue
        first = max(job.earliest, start)
        if job.interruptible:
            p = job.power_kw[0] * step_hours
            t = np.arange(first, min(job.deadline, end)) - start
            u = lp.add_variables((t.size,), 0.0, 1.0, integer=True)
            after = max(job.deadline - max(end, first), 0)
            if rates is None:
                later = lp.add_variables((1,), 0.0, float(min(after, left)), cost=flat * p)
            else:
                values, count = rate_groups(later_rates(rates, max(first - end, 0), after))
                later = lp.add_variables((values.size,), 0.0, count, cost=values * p)
            lp.add_rows(
                1,
                [(0, u, 1.0), (np.zeros(later.size, int), later, 1.0)],
                lb=float(left),
                ub=float(left),
            )
            run_steps.append(t)
            run_cols.append(u)
            run_coef.append(np.full(t.size, p))
            starts.append(np.zeros(0, dtype=int))
            start_cols.append(u)
        else:
            prof = np.asarray(job.power_kw) * step_hours
            s_abs = np.arange(first, min(job.deadline - job.duration, end - 1) + 1)
            x = lp.add_variables((s_abs.size,), 0.0, 1.0, integer=True)
            k = np.arange(job.duration)
            tt = (s_abs[:, None] + k[None, :]) - start  # (S, D) horizon steps
            inside = tt < horizon
            if rates is None:
                lp.cost[-1] += flat * np.where(inside, 0.0, prof[None, :]).sum(axis=1)
            else:
                beyond = later_rates(rates, 0, max(int(tt.max()) - horizon + 1, 1))
                at = np.clip(tt - horizon, 0, None)
                lp.cost[-1] += np.where(inside, 0.0, prof[None, :] * beyond[at]).sum(axis=1)
            terms = [(0, x, 1.0)]
            if job.deadline - job.duration >= end:
                if rates is None:
                    later_cost = flat * float(prof.sum())
                else:
                    s0 = max(first, end) - end
                    n_starts = job.deadline - job.duration - max(first, end) + 1
                    r = later_rates(rates, s0, n_starts + job.duration - 1)
                    later_cost = float(min(prof @ r[i : i + job.duration] for i in range(n_starts)))
                later = lp.add_variables((1,), 0.0, 1.0, cost=later_cost, integer=True)
                terms.append((0, later, 1.0))
            lp.add_rows(1, terms, lb=1.0, ub=1.0)
            cols = np.broadcast_to(x[:, None], tt.shape)
            coef = np.broadcast_to(prof[None, :], tt.shape)
            run_steps.append(tt[inside])
            run_cols.append(cols[inside])
            run_coef.append(coef[inside])
            starts.append(s_abs)
            start_cols.append(x)
        kept.append(job)
    return JobBlock(
        tuple(kept),
        tuple(run_steps),
        tuple(run_cols),
        tuple(run_coef),
        tuple(starts),
        tuple(start_cols),
    )
