"""Deferrable jobs (MILP): no job misses its deadline; a job that cannot fit is named."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitgaram.assets.jobs import Job, JobState, check_jobs, step_job
from bitgaram.errors import DataError
from bitgaram.optimize.park import ParkInputs, solve_park

H = 48
DT = 0.25


def _inputs(
    jobs: list[Job], rate: np.ndarray | None = None, limit: float | None = None
) -> ParkInputs:
    return ParkInputs(
        start=0,
        step_hours=DT,
        firm_kwh=np.full(H, 25.0),
        energy_rate=np.linspace(200.0, 100.0, H) if rate is None else rate,
        carbon=np.zeros(H),
        metered=np.zeros(H, dtype=bool),
        limit_kw=limit,
        jobs=tuple((j, JobState()) for j in jobs),
    )


def _replay(job: Job, plan: np.ndarray) -> int:
    """Finish step of a job run by the simulator following the plan (-1 if unfinished)."""
    state = JobState()
    for t in range(H):
        if state.done == job.duration:
            break
        state, _ = step_job(job, state, bool(plan[t]), t)
        if state.done == job.duration:
            return t
    return -1


@st.composite
def fitting_job(draw: st.DrawFn) -> Job:
    dur = draw(st.integers(1, 8))
    earliest = draw(st.integers(0, H - dur))
    deadline = draw(st.integers(earliest + dur, H))
    power = draw(st.floats(10.0, 200.0))
    return Job("j", (power,) * dur, earliest, deadline, interruptible=draw(st.booleans()))


@settings(max_examples=15, deadline=None)
@given(st.lists(fitting_job(), min_size=1, max_size=4))
def test_no_job_misses_its_deadline(jobs: list[Job]) -> None:
    jobs = [
        Job(f"j{i}", j.power_kw, j.earliest, j.deadline, j.interruptible)
        for i, j in enumerate(jobs)
    ]
    plan = solve_park(_inputs(jobs))
    energy = sum(j.energy_kwh(DT) for j in jobs)
    assert plan.job_kwh.sum() == pytest.approx(energy, rel=1e-9)
    for j in jobs:
        finish = _replay(j, plan.job_plan[j.id])
        assert j.earliest + j.duration - 1 <= finish < j.deadline


def test_non_interruptible_job_runs_in_one_block_in_the_cheapest_window() -> None:
    rate = np.full(H, 200.0)
    rate[30:38] = 50.0
    job = Job("oven", (100.0, 300.0, 300.0, 100.0), 0, H)
    plan = solve_park(_inputs([job], rate))
    kw = plan.job_kwh / DT
    running = np.flatnonzero(kw > 0)
    assert running.tolist() == list(range(running[0], running[0] + 4))
    assert 30 <= running[0] <= 34
    assert kw[running].tolist() == pytest.approx([100.0, 300.0, 300.0, 100.0])


def test_jobs_respect_the_connection_limit() -> None:
    jobs = [Job(f"gpu{i}", (200.0,) * 6, 0, H, interruptible=True) for i in range(4)]
    plan = solve_park(_inputs(jobs, rate=np.full(H, 100.0), limit=350.0))
    assert plan.grid_kwh.max() <= 350.0 * DT + 1e-6
    assert plan.overload_kwh == pytest.approx(0.0)
    assert plan.job_kwh.sum() == pytest.approx(4 * 6 * 200.0 * DT)


def test_job_that_cannot_fit_is_named() -> None:
    bad = Job("batch-42", (100.0,) * 8, earliest=10, deadline=15)
    with pytest.raises(DataError, match="batch-42"):
        check_jobs([bad])
    with pytest.raises(DataError, match="batch-42"):
        solve_park(_inputs([Job("ok", (50.0,), 0, H), bad]))


def test_datacentre_split_conserves_energy_and_makes_interruptible_jobs() -> None:
    from bitgaram.assets.datacentre import DataCentre
    from bitgaram.optimize.datacentre import datacentre_load

    dc = DataCentre("dc", pue=1.4, deferrable_share=0.3, job_it_kw=50.0, tenant="dc")
    it = 400.0 + 50.0 * np.sin(np.arange(2 * 96 + 10) / 96 * 2 * np.pi)
    load = datacentre_load(dc, it, 96)
    assert load.total_kwh(DT) == pytest.approx(float(it.sum()) * 1.4 * DT, rel=1e-9)
    assert load.jobs and all(j.interruptible and j.deadline - j.earliest == 96 for j in load.jobs)
    assert all(j.power_kw[0] == pytest.approx(50.0 * 1.4) for j in load.jobs)
    check_jobs(load.jobs)


def _tail_job(interruptible: bool, tail: np.ndarray, rate_now: float = 150.0) -> ParkInputs:
    # A 2-step, 100 kW job due 12 steps from now; the horizon sees 4 of them.
    job = Job("kiln", (100.0, 100.0), 0, 12, interruptible=interruptible)
    return ParkInputs(
        start=0,
        step_hours=DT,
        firm_kwh=np.full(4, 25.0),
        energy_rate=np.full(4, rate_now),
        carbon=np.zeros(4),
        metered=np.zeros(4, dtype=bool),
        jobs=((job, JobState()),),
        tail_rate=tail,
    )


@pytest.mark.parametrize("interruptible", [True, False])
def test_a_job_due_later_runs_in_the_horizon_only_if_later_is_dearer(interruptible: bool) -> None:
    # The horizon's own mean rate (150) would make now and later equal; the rates after it
    # decide: 100 somewhere later, so wait; 230 everywhere later, so run inside it.
    cheap_later = np.array([230.0] * 4 + [100.0] * 4)
    plan = solve_park(_tail_job(interruptible, cheap_later))
    assert not plan.job_plan["kiln"].any() and plan.job_kwh.sum() == pytest.approx(0.0)
    dear_later = np.full(8, 230.0)
    plan = solve_park(_tail_job(interruptible, dear_later))
    assert plan.job_kwh.sum() == pytest.approx(2 * 100.0 * DT)  # all of it inside the horizon


def test_a_job_due_inside_the_horizon_ignores_the_rates_after_it() -> None:
    job = Job("press", (100.0, 100.0), 0, 4, interruptible=False)
    inp = replace(_tail_job(False, np.full(8, 50.0)), jobs=((job, JobState()),))
    plan = solve_park(inp)
    assert plan.job_kwh.sum() == pytest.approx(2 * 100.0 * DT)
