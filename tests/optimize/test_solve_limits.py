"""A MILP stopped by a solver limit: its feasible incumbent is used, or the limit is named."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from bitgaram.errors import SolveError
from bitgaram.optimize.problem import HighsSession, LinearProgram, Status


def _knapsack(integer: bool = True) -> tuple[LinearProgram, np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(1)
    n = 60
    weight = rng.integers(10, 60, n).astype(float)
    value = weight + rng.integers(-5, 15, n)
    lp = LinearProgram()
    x = lp.add_variables((n,), 0.0, 1.0, cost=-value, integer=integer)
    capacity = float(weight.sum()) / 2 + 0.5
    lp.add_rows(1, [(np.zeros(n, int), x, weight)], ub=capacity)
    return lp, x, weight, capacity


def test_a_milp_stopped_with_a_feasible_plan_returns_it(caplog: pytest.LogCaptureFixture) -> None:
    lp, x, weight, capacity = _knapsack()
    best = HighsSession(lp).solve()
    assert best.status is Status.OPTIMAL
    stopped = HighsSession(lp, options={"mip_max_improving_sols": 1, "presolve": "off"})
    with caplog.at_level(logging.WARNING):
        sol = stopped.solve()
    assert sol.status is Status.FEASIBLE
    assert float(weight @ sol.x[x]) <= capacity + 1e-9  # a plan that holds the limits
    assert np.allclose(sol.x[x], np.round(sol.x[x]))
    assert sol.objective > best.objective  # worse than the optimum, and said so
    assert "best feasible plan" in caplog.text and "Solution limit" in caplog.text


@pytest.mark.parametrize("options", [{"time_limit": 1e-9}, {"mip_max_nodes": 0}])
def test_a_milp_stopped_before_any_plan_names_the_limit(options: dict[str, float]) -> None:
    lp, *_ = _knapsack()
    with pytest.raises(SolveError, match=r"stopped by a limit .* before it found a feasible plan"):
        HighsSession(lp, options=options).solve()


def test_an_lp_stopped_by_a_limit_is_an_error_not_a_plan() -> None:
    lp, *_ = _knapsack(integer=False)
    with pytest.raises(SolveError, match="Iteration limit"):
        HighsSession(lp, options={"simplex_iteration_limit": 0, "presolve": "off"}).solve()
