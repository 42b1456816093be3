"""Deferrable jobs (process batches, GPU training runs): specs, feasibility and stepping.

A job draws a power profile ``power_kw[k]`` in its ``k``-th running step
(``duration = len(power_kw)`` steps), may start at step ``earliest`` or later
and must be finished before step ``deadline`` (exclusive). A
**non-interruptible** job runs its profile in consecutive steps once started;
an **interruptible** job runs ``duration`` steps in any order at the constant
power ``power_kw[0]`` (interruptible jobs must have a flat profile).

The simulator applies the same rule as the optimizer and adds one safety net
used under every controller: a job whose remaining steps equal the steps left
before its deadline (zero laxity) is run, so no feasible job misses its
deadline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bitgaram.errors import DataError


@dataclass(frozen=True)
class Job:
    """A deferrable job.

    Attributes
    ----------
    id : str
        Job name, used in error messages.
    power_kw : tuple of float
        Power in each running step [kW]; its length is the duration [steps].
    earliest : int
        First step it may run (absolute step number).
    deadline : int
        Step before which it must be finished (exclusive).
    interruptible : bool
        Whether it may pause between running steps (flat profile only).
    known_from : int, optional
        First step a causal controller may know the job (default: ``earliest``).
    tenant : str
        Owner.
    """

    id: str
    power_kw: tuple[float, ...]
    earliest: int
    deadline: int
    interruptible: bool = False
    known_from: int | None = None
    tenant: str = ""

    def __post_init__(self) -> None:
        if not self.power_kw:
            raise DataError(f"job {self.id!r}: empty power profile")
        if any(p < 0 for p in self.power_kw):
            raise DataError(f"job {self.id!r}: power must be >= 0 kW")
        if self.interruptible and len(set(self.power_kw)) > 1:
            raise DataError(f"job {self.id!r}: an interruptible job needs a flat power profile")

    @property
    def duration(self) -> int:
        """Running steps."""
        return len(self.power_kw)

    @property
    def known(self) -> int:
        """Step from which the job is known to a causal controller."""
        return self.earliest if self.known_from is None else self.known_from

    def energy_kwh(self, step_hours: float) -> float:
        """Energy of the whole job [kWh]."""
        return float(sum(self.power_kw)) * step_hours


def check_jobs(jobs: Sequence[Job]) -> None:
    """Check that every job fits between its earliest start and its deadline.

    Raises
    ------
    DataError
        Naming the first job that cannot fit.
    """
    for job in jobs:
        window = job.deadline - job.earliest
        if window < job.duration:
            raise DataError(
                f"job {job.id!r} cannot fit: it runs {job.duration} steps but its window "
                f"from step {job.earliest} to deadline {job.deadline} has {max(window, 0)}; "
                "move the deadline or the earliest start"
            )


@dataclass(frozen=True)
class JobState:
    """Progress of one job.

    Attributes
    ----------
    done : int
        Running steps completed.
    started : bool
        Whether it has run at least one step (a non-interruptible job then continues).
    """

    done: int = 0
    started: bool = False


def remaining(job: Job, state: JobState) -> int:
    """Running steps left."""
    return job.duration - state.done


def must_run(job: Job, state: JobState, step: int) -> bool:
    """Whether the job has to run in ``step``: committed, or no laxity left."""
    left = remaining(job, state)
    if left <= 0 or step < job.earliest:
        return False
    if state.started and not job.interruptible:
        return True
    return job.deadline - step <= left


def step_job(job: Job, state: JobState, run: bool, step: int) -> tuple[JobState, float]:
    """Advance a job by one step.

    ``run`` is the controller's wish; it is ignored outside the window or when
    the job is finished, and overridden by :func:`must_run`.

    Returns
    -------
    tuple
        ``(new state, power drawn this step [kW])``.

    Raises
    ------
    DataError
        If the job has run past its deadline without finishing (infeasible input).
    """
    left = remaining(job, state)
    if left <= 0:
        return state, 0.0
    if step >= job.deadline:
        raise DataError(f"job {job.id!r} missed its deadline (step {job.deadline})")
    go = must_run(job, state, step) or (run and step >= job.earliest)
    if not go:
        return state, 0.0
    power = job.power_kw[state.done]
    return JobState(done=state.done + 1, started=True), float(power)


def earliest_profile(job: Job, start: int, horizon: int) -> np.ndarray:
    """Power of the job run as soon as allowed, over steps ``start .. start+horizon`` [kW]."""
    out = np.zeros(horizon)
    for k, p in enumerate(job.power_kw):
        t = job.earliest + k - start
        if 0 <= t < horizon:
            out[t] = p
    return out
