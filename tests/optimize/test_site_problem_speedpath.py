"""The compact, warm-started SiteProblem against the direct formulation solved from scratch."""

from __future__ import annotations

import numpy as np
import pytest

from bitgaram.assets.battery import BatteryParams
from bitgaram.errors import ConfigError, SolveError
from bitgaram.optimize import problem
from bitgaram.optimize.problem import HighsCSession, LinearProgram, highs_c_api
from bitgaram.optimize.site import (
    HorizonInput,
    ObjectiveWeights,
    ReferenceSiteProblem,
    SiteLimits,
    SiteProblem,
)

B, H, K, J = 3, 12, 4, 6
#: CityLearn physics (power-dependent efficiency, derating above 80 % SoC), standing loss.
FLEET = BatteryParams(
    capacity_kwh=np.array([6.0, 4.0, 8.0]),
    nominal_power_kw=np.array([3.0, 2.0, 4.0]),
    loss_coefficient=0.002,
)
CANDIDATES = np.tile(np.arange(2), (H, 1))


def _random_input(rng: np.random.Generator, t: int = 0) -> HorizonInput:
    """A horizon of random data; ``t`` varies which optional terms are present."""
    building = rng.normal(1.0, 2.0, (B, H))
    district = building.sum(axis=0) + rng.normal(2.0, 1.0, H)
    price = rng.uniform(0.05, 0.5, H)
    slot = (np.arange(H) >= rng.integers(1, H + 1)).astype(int)
    optional: dict[str, object] = {}
    if t % 2 == 0:
        optional["export_price"] = rng.uniform(0.0, 0.3, H)
        optional["terminal_value"] = rng.uniform(0.0, 0.2, B)
    if t % 3 != 2:
        optional["previous_district_net"] = float(district[0] + rng.normal())
    if t % 5 != 4:
        # Outcomes of step 0 around the peak so far: some exceed it before any battery use.
        optional["peak_risk_offsets"] = rng.normal(-1.0, 2.0, J)
        optional["peak_risk_weight"] = float(rng.uniform(0.01, 0.2))
    return HorizonInput(
        building_net=building,
        district_net=district,
        price=price,
        carbon=rng.uniform(0.1, 0.6, H),
        soc_kwh=rng.uniform(0.0, 1.0, B) * FLEET.capacity_kwh,  # type: ignore[operator]
        capacity_kwh=np.asarray(FLEET.capacity_kwh) * rng.uniform(0.9, 1.0, B),
        weights=ObjectiveWeights(
            price=1.0,
            carbon=float(rng.uniform(0.0, 2.0)),
            ramping=float(rng.uniform(0.0, 0.3)) if t % 4 else 0.0,
            throughput=1e-4,
        ),
        building_errors=rng.normal(0.0, 0.5, (K, B, H)),
        district_errors=rng.normal(0.0, 1.0, (K, H)),
        ramp_errors=rng.normal(0.0, 0.8, (K, H)),
        peak_slot=slot,
        peak_floor=np.array([float(district.max() - 1.0), float(rng.uniform(-5.0, 5.0))]),
        peak_weight=rng.uniform(0.0, 0.4, 2),
        **optional,  # type: ignore[arg-type]
    )


def _reference_objective(inp: HorizonInput, limits: SiteLimits | None = None) -> float:
    """Objective of the direct formulation, built and solved from scratch."""
    return ReferenceSiteProblem(FLEET, H, K, CANDIDATES, limits, J).solve(inp).objective


def test_compact_problem_matches_a_from_scratch_direct_solve() -> None:
    rng = np.random.default_rng(7)
    fast = SiteProblem(FLEET, H, K, CANDIDATES, peak_risk_samples=J)
    for t in range(15):
        inp = _random_input(rng, t)
        sched = fast.solve(inp)
        assert sched.objective == pytest.approx(_reference_objective(inp), rel=1e-6, abs=1e-7)
        # The plan is feasible for the battery physics it was given.
        assert np.all(sched.soc_kwh >= -1e-7)
        assert np.all(sched.soc_kwh <= inp.capacity_kwh[:, None] + 1e-7)
        assert np.allclose(sched.district_net_kwh, inp.district_net + sched.battery_kwh.sum(0))


def test_receding_horizon_sequence_matches_with_and_without_basis_shift() -> None:
    """Inputs that advance one step per solve (the MPC pattern the basis shift targets)."""
    rng = np.random.default_rng(11)
    n = H + 8
    building = rng.normal(1.0, 2.0, (B, n))
    errors = rng.normal(0.0, 0.4, (K, B, n))
    shifted = SiteProblem(FLEET, H, K, CANDIDATES, shift_basis=True)
    plain = SiteProblem(FLEET, H, K, CANDIDATES, shift_basis=False)
    soc = np.zeros(B)
    for t in range(8):
        part = building[:, t : t + H]
        inp = HorizonInput(
            building_net=part,
            district_net=part.sum(axis=0) + 1.5,
            price=np.where((np.arange(t, t + H) % 12) < 6, 0.1, 0.4),
            carbon=np.full(H, 0.3),
            soc_kwh=soc,
            capacity_kwh=np.asarray(FLEET.capacity_kwh, dtype=float),
            weights=ObjectiveWeights(price=1.0, carbon=0.5, ramping=0.1, throughput=1e-4),
            building_errors=errors[:, :, t : t + H],
            district_errors=errors[:, :, t : t + H].sum(axis=1),
            ramp_errors=np.diff(errors[:, :, t : t + H].sum(axis=1), axis=1, prepend=0.0),
            previous_district_net=float(building[:, t - 1].sum() + 1.5) if t else float("nan"),
            peak_slot=np.zeros(H, dtype=int),
            peak_floor=np.array([3.0, -1e6]),
            peak_weight=np.array([0.2, 0.2]),
        )
        a, b = shifted.solve(inp), plain.solve(inp)
        assert a.objective == pytest.approx(b.objective, rel=1e-9, abs=1e-6)
        assert a.objective == pytest.approx(_reference_objective(inp), rel=1e-9, abs=1e-6)
        soc = np.clip(a.soc_kwh[:, 0], 0.0, FLEET.capacity_kwh)


def test_site_limit_is_a_bound_on_the_district_battery_energy() -> None:
    rng = np.random.default_rng(3)
    limits = SiteLimits(import_kwh=9.0, export_kwh=4.0)
    fast = SiteProblem(FLEET, H, K, CANDIDATES, limits, J)
    inp = _random_input(rng)
    inp = HorizonInput(
        **{
            **inp.__dict__,
            "district_net": np.clip(inp.district_net, -2.0, 8.0),
            "soc_kwh": np.asarray(FLEET.capacity_kwh) * 0.5,
        }
    )
    sched = fast.solve(inp)
    assert np.all(sched.district_net_kwh <= 9.0 + 1e-7)
    assert np.all(sched.district_net_kwh >= -4.0 - 1e-7)
    assert sched.objective == pytest.approx(_reference_objective(inp, limits), rel=1e-6)
    tight = SiteProblem(FLEET, H, K, CANDIDATES, SiteLimits(import_kwh=-50.0))
    with pytest.raises(SolveError, match="infeasible"):
        tight.solve(inp)


def test_python_binding_fallback_gives_the_same_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    inputs = [_random_input(rng, t) for t in range(3)]
    fast = SiteProblem(FLEET, H, K, CANDIDATES)
    monkeypatch.setattr(problem, "highs_c_api", lambda: None)
    fallback = SiteProblem(FLEET, H, K, CANDIDATES)
    assert not isinstance(fallback.session, HighsCSession)
    for inp in inputs:
        assert fallback.solve(inp).objective == pytest.approx(
            fast.solve(inp).objective, rel=1e-9, abs=1e-7
        )


@pytest.mark.skipif(highs_c_api() is None, reason="HiGHS C API not loadable")
def test_c_session_solves_from_any_basis_and_reports_infeasibility() -> None:
    api = highs_c_api()
    assert api is not None
    lp = LinearProgram()
    x = lp.add_variables((2,), lb=0.0, ub=1.0, cost=np.array([-1.0, -2.0]))
    rows = lp.add_rows(1, [(0, x, 1.0)], ub=1.5)
    session = HighsCSession(lp, api, options={"presolve": "off", "simplex_strategy": 1})
    assert session.solve().objective == pytest.approx(-2.5)
    # A nonsense (all-basic) start is completed by HiGHS; the optimum is unchanged.
    assert session.set_basis(np.ones(2, dtype=np.int32), np.ones(1, dtype=np.int32))
    assert session.solve().objective == pytest.approx(-2.5)
    session.change_row_bounds(session.index(rows), np.array([2.5]), np.array([3.0]))
    with pytest.raises(SolveError, match="infeasible"):
        session.solve()
    with pytest.raises(SolveError, match="option"):
        HighsCSession(lp, api, options={"no_such_option": 1})


@pytest.mark.parametrize(("horizon", "k"), [(1, 1), (1, 3), (5, 1)])
def test_edge_sizes_match_the_direct_formulation(horizon: int, k: int) -> None:
    """One step (no ramp link, no derating rows) and one scenario (no segments to sort)."""
    rng = np.random.default_rng(horizon * 10 + k)
    cand = np.zeros((horizon, 1), dtype=int)
    fast = SiteProblem(FLEET, horizon, k, cand)
    for _ in range(3):
        building = rng.normal(1.0, 2.0, (B, horizon))
        inp = HorizonInput(
            building_net=building,
            district_net=building.sum(axis=0) + 1.0,
            price=rng.uniform(0.1, 0.5, horizon),
            carbon=rng.uniform(0.1, 0.5, horizon),
            soc_kwh=rng.uniform(0.0, 1.0, B) * FLEET.capacity_kwh,  # type: ignore[operator]
            capacity_kwh=np.asarray(FLEET.capacity_kwh, dtype=float),
            weights=ObjectiveWeights(price=1.0, carbon=0.7, ramping=0.2, throughput=1e-4),
            building_errors=rng.normal(0.0, 0.5, (k, B, horizon)),
            district_errors=rng.normal(0.0, 1.0, (k, horizon)),
            ramp_errors=rng.normal(0.0, 1.0, (k, horizon)),
            previous_district_net=float(rng.normal(2.0, 1.0)),
            peak_slot=np.zeros(horizon, dtype=int),
            peak_floor=np.array([0.5]),
            peak_weight=np.array([0.3]),
            terminal_value=np.full(B, 0.1),
        )
        ref = ReferenceSiteProblem(FLEET, horizon, k, cand).solve(inp)
        assert fast.solve(inp).objective == pytest.approx(ref.objective, rel=1e-6, abs=1e-7)


def _risk_input(offsets: np.ndarray | None, weight: float) -> HorizonInput:
    """Flat prices, no other terms: only the peak risk can make step 0 discharge."""
    return HorizonInput(
        building_net=np.ones((B, H)),
        district_net=np.full(H, 5.0),
        price=np.full(H, 0.2),
        carbon=np.zeros(H),
        soc_kwh=np.asarray(FLEET.capacity_kwh, dtype=float),
        capacity_kwh=np.asarray(FLEET.capacity_kwh, dtype=float),
        weights=ObjectiveWeights(price=0.0, carbon=0.0, ramping=0.0, throughput=1e-4),
        peak_risk_offsets=offsets,
        peak_risk_weight=weight,
    )


def test_peak_risk_pays_for_the_expected_exceedance_of_step_0() -> None:
    prob = SiteProblem(FLEET, H, 1, None, peak_risk_samples=3)
    # Without the term (or with zero weight) a full battery has no reason to discharge.
    for offsets, weight in ((None, 0.0), (np.array([-3.0, -0.5, 1.0]), 0.0)):
        assert prob.solve(_risk_input(offsets, weight)).battery_kwh[:, 0].sum() == pytest.approx(
            0.0, abs=1e-6
        )
    # One outcome of three exceeds the peak, by 1 kWh: discharging exactly that removes it;
    # more would only add wear.
    sched = prob.solve(_risk_input(np.array([-3.0, -0.5, 1.0]), 1.0))
    assert sched.battery_kwh[:, 0].sum() == pytest.approx(-1.0, abs=1e-6)
    # Beyond what the batteries can deliver in one step the rest stays priced: exceedances
    # of 2 and 3.5 kWh at X[0] = 0, both cut by the same discharge.
    offsets = np.array([-9.0, 2.0, 3.5])
    sched = prob.solve(_risk_input(offsets, 1.0))
    out = -sched.battery_kwh[:, 0].sum()
    assert 0.0 < out < 2.0
    assert sched.objective == pytest.approx(
        (2.0 - out) + (3.5 - out) + 1e-4 * np.abs(sched.battery_kwh).sum(), abs=1e-6
    )
    ref = ReferenceSiteProblem(FLEET, H, 1, None, None, 3).solve(_risk_input(offsets, 1.0))
    assert ref.objective == pytest.approx(sched.objective, abs=1e-7)
    with pytest.raises(ConfigError, match="peak_risk_offsets has 2 samples"):
        prob.solve(_risk_input(np.array([1.0, 2.0]), 1.0))


@pytest.mark.skipif(highs_c_api() is None, reason="the HiGHS C API is not available")
def test_a_failed_warm_solve_is_retried_cold(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    inp = _random_input(rng)
    expected = SiteProblem(FLEET, H, K, CANDIDATES, peak_risk_samples=J).solve(inp).objective
    prob = SiteProblem(FLEET, H, K, CANDIDATES, peak_risk_samples=J)
    session = prob.session
    assert isinstance(session, HighsCSession)
    real_solve = session.solve
    cleared: list[bool] = []

    def flaky() -> problem.LPSolution:
        if not cleared:
            raise SolveError("LP is failed (HiGHS model status 4)")
        return real_solve()

    monkeypatch.setattr(session, "solve", flaky)
    monkeypatch.setattr(session, "clear_solver", lambda: cleared.append(True))
    assert prob.solve(inp).objective == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert cleared == [True]
    # An infeasible model is not hidden: it fails again from the cold start and raises.
    cleared.clear()
    monkeypatch.setattr(session, "solve", lambda: (_ for _ in ()).throw(SolveError("infeasible")))
    with pytest.raises(SolveError, match="infeasible"):
        prob.solve(inp)
    assert cleared == [True]
