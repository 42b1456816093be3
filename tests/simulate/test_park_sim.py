"""The park simulation: causal MPC, hard guarantees under every controller."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bitgaram.assets.jobs import JobState
from bitgaram.simulate.park import (
    MPCControl,
    ParkCase,
    ParkState,
    daytype_forecast,
    load_park_case,
    make_controller,
    park_table,
    simulate_park,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "industrial_park"


@pytest.fixture(scope="module")
def case() -> ParkCase:
    """The sample park, one day, a few vehicles and jobs (keeps the test fast)."""
    full = load_park_case(DATA, days=1)
    vans = tuple(v for v in full.vehicles if v.id.startswith(("van00", "van03", "car00")))
    jobs = tuple(j for j in full.jobs if j.id.startswith(("heat", "oven", "dc-d14-j0")))
    return replace(full, vehicles=vans, jobs=jobs)


@pytest.fixture(scope="module")
def runs(case: ParkCase) -> dict[str, object]:
    return {n: simulate_park(case, make_controller(n, case), n) for n in ("none", "mpc")}


def test_guarantees_hold(case: ParkCase, runs: dict[str, object]) -> None:
    rows = park_table(list(runs.values()))  # type: ignore[arg-type]
    limit = case.limit_kw
    assert limit is not None
    for r, row in zip(runs.values(), rows, strict=True):
        assert row["limit_violations"] == 0
        assert r.grid_kwh.max() <= limit * case.step_hours + 1e-6  # type: ignore[attr-defined]
        assert row["ev_short"] == 0 and row["jobs_late"] == 0
        departed = [v for v in case.vehicles if v.departure <= case.sim_end]
        assert len(r.ev_delivered) == len(departed)  # type: ignore[attr-defined]


def test_mpc_beats_no_control(runs: dict[str, object]) -> None:
    rows = park_table(list(runs.values()))  # type: ignore[arg-type]
    assert rows[1]["total_krw"] < rows[0]["total_krw"]


def test_connection_limit_guard_holds_a_tight_limit(case: ParkCase) -> None:
    tight = replace(case, limit_kw=3000.0)
    run = simulate_park(tight, make_controller("none", tight), "none")
    assert run.limit_violations == 0
    assert run.grid_kwh.max() <= 3000.0 * case.step_hours + 1e-6
    assert all(e >= q - 1e-6 for e, q in run.ev_delivered.values())


def test_forecast_is_causal() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(96 * 10, 2))
    days = np.repeat(np.arange(10) % 3, 96).astype(np.int8)
    origins = np.array([96 * 8 + 5])
    base = daytype_forecast(values, days, origins, 96, 96, 96 * 8)
    changed = values.copy()
    changed[origins[0] :] += 100.0  # the future changes, the forecast must not
    after = daytype_forecast(changed, days, origins, 96, 96, 96 * 8)
    np.testing.assert_allclose(base, after)


def test_mpc_inputs_hide_unknown_sessions(case: ParkCase) -> None:
    ctl = make_controller("mpc", case)
    assert isinstance(ctl, MPCControl)
    t = case.sim_start
    state = ParkState(
        step=t,
        battery=None,
        ev_kwh={v.id: v.arrival_kwh for v in case.vehicles},
        jobs={j.id: JobState() for j in case.jobs},
    )
    inp = ctl.inputs(case, state)
    assert all(v.known <= t for v, _ in inp.vehicles)
    assert all(j.known <= t for j, _ in inp.jobs)
