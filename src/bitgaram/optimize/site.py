"""The site scheduling LP: asset blocks plus weighted objective terms.

Net energy of building ``b`` at step ``t`` [kWh, + = import] is the forecast
no-battery net load plus its battery's grid energy; the district net load
``E[t]`` is the sum over all buildings (with or without battery). Objective
terms, each with its weight in :class:`ObjectiveWeights`:

- **energy cost** ``price[t] * max(0, E[t])`` (district import; an export price
  ``xp[t] <= price[t]`` credits exports as ``(price - xp) max(0, E) + xp E``);
- **carbon** ``carbon[t] * max(0, E_b[t])`` per building (exports earn no
  carbon credit, as in the CityLearn score);
- **ramping** ``|E[t] - E[t-1]|``, ``E[-1]`` being the last measured value;
- **peak**: the largest ``E[t]`` of each peak period (slot), above a floor (the
  peak already reached in that period), each slot with its own weight;
- **peak risk** of the first step: the expected amount by which ``E[0]`` exceeds
  the peak reached so far, over a sample of its forecast errors (the tail that
  a few equal-probability scenarios cannot represent);
- **throughput** ``c + d`` (battery wear; also rules out simultaneous charge
  and discharge);
- **terminal value** of the energy left in each battery at the horizon end.

The clipped terms are evaluated over ``K`` forecast-error scenarios with equal
probability (a sample-average of the expected clipped cost): a plan that only
pays off if the point forecast is right (e.g. discharging exactly the forecast
load) is charged for the exports it causes when the load comes in lower.

Constraints: the battery block's, and a site import/export limit on the
point-forecast district net load. All data enter as costs and bounds, so the
model is built once and re-solved warm by :class:`SiteProblem.solve`.

Formulation. :class:`ReferenceSiteProblem` writes each clipped term directly
(one variable and one row per scenario: ``v[k] >= x + a[k]``, ``v >= 0``).
:class:`SiteProblem` solves the same problem in a smaller, equivalent form: a
sum over K scenarios of ``max(0, x - beta_k)`` (or ``|x - beta_k|``) is a
convex piecewise-linear function of ``x`` with breakpoints ``beta`` sorted
ascending, written as one row ``x - z_1 - ... - z_K <= beta_1`` with segment
variables ``0 <= z_j <= beta_(j+1) - beta_j`` (``z_K`` unbounded) of
increasing cost (``j w / K`` for ``max(0, .)``; ``2 j w / K`` plus ``-w x``
and a constant for ``|.|``). The district battery energy ``X[t]`` is one
column, so the import/export limit is a column bound. Breakpoints, segment
widths and costs change between solves; the structure does not. Because
consecutive MPC steps overlap, each solve starts from the previous optimal
basis moved one step back in time (:class:`~bitgaram.optimize.problem.HighsCSession`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitgaram.assets.battery import BatteryParams
from bitgaram.errors import ConfigError, SolveError
from bitgaram.optimize.battery import BatteryBlock, add_battery_block
from bitgaram.optimize.problem import (
    INF,
    HighsCSession,
    HighsSession,
    LinearProgram,
    Status,
    Term,
    open_session,
)


@dataclass(frozen=True)
class ObjectiveWeights:
    """Weights of the objective terms (all >= 0).

    Attributes
    ----------
    price : float
        Multiplier of the import cost [1/currency].
    carbon : float
        Multiplier of the building-level emissions [1/kgCO2].
    ramping : float
        Cost per kWh of district net-load change between steps [1/kWh].
    throughput : float
        Cost per kWh charged or discharged [1/kWh].
    """

    price: float = 1.0
    carbon: float = 0.0
    ramping: float = 0.0
    throughput: float = 1e-4


@dataclass(frozen=True)
class SiteLimits:
    """Site connection limits per step [kWh]; infinite by default."""

    import_kwh: float = float("inf")
    export_kwh: float = float("inf")


@dataclass(frozen=True)
class HorizonInput:
    """Data of one solve over the horizon (H steps, B batteries, K scenarios).

    Attributes
    ----------
    building_net : numpy.ndarray
        Point forecast of each battery building's no-battery net load, (B, H) [kWh].
    district_net : numpy.ndarray
        Point forecast of the whole district's no-battery net load, (H,) [kWh].
    price : numpy.ndarray
        Import price, (H,) [currency/kWh].
    carbon : numpy.ndarray
        Grid carbon intensity, (H,) [kgCO2/kWh].
    soc_kwh, capacity_kwh : numpy.ndarray
        Measured stored energy and current capacity, (B,) [kWh].
    weights : ObjectiveWeights
        Term weights.
    export_price : numpy.ndarray or None
        Export credit, (H,) [currency/kWh], at most ``price``; None = no credit.
    building_errors : numpy.ndarray or None
        Additive scenarios of the building net loads, (K, B, H) [kWh].
    district_errors : numpy.ndarray or None
        Additive scenarios of the district net load, (K, H) [kWh].
    ramp_errors : numpy.ndarray or None
        Additive scenarios of the district ramp ``E[t] - E[t-1]``, (K, H) [kWh].
    previous_district_net : float
        Measured district net load of the step before the horizon [kWh]; NaN = none.
    peak_slot : numpy.ndarray or None
        Peak slot of each step, (H,) int, -1 = no peak term.
    peak_floor : numpy.ndarray or None
        Peak already reached in each slot, (S,) [kWh]; ``-inf`` = none yet (the slot's
        peak is then bounded by its steps in the horizon alone).
    peak_weight : numpy.ndarray or None
        Cost per kWh of each slot's peak, (S,).
    terminal_value : numpy.ndarray or None
        Value per kWh left stored at the horizon end, (B,).
    peak_risk_offsets : numpy.ndarray or None
        Sampled outcomes of the first step's no-battery district net load minus
        the peak reached so far, (J,) [kWh]: the term is
        ``peak_risk_weight * sum_j max(0, X[0] + offsets[j])`` with ``X[0]`` the
        district battery energy of the first step. None = no term.
    peak_risk_weight : float
        Cost per kWh of exceedance in each sample (the peak weight divided by
        the sample size, so the sum is an expectation).
    """

    building_net: np.ndarray
    district_net: np.ndarray
    price: np.ndarray
    carbon: np.ndarray
    soc_kwh: np.ndarray
    capacity_kwh: np.ndarray
    weights: ObjectiveWeights
    export_price: np.ndarray | None = None
    building_errors: np.ndarray | None = None
    district_errors: np.ndarray | None = None
    ramp_errors: np.ndarray | None = None
    previous_district_net: float = float("nan")
    peak_slot: np.ndarray | None = None
    peak_floor: np.ndarray | None = None
    peak_weight: np.ndarray | None = None
    terminal_value: np.ndarray | None = None
    peak_risk_offsets: np.ndarray | None = None
    peak_risk_weight: float = 0.0


@dataclass(frozen=True)
class Schedule:
    """Optimal plan over the horizon.

    Attributes
    ----------
    status : Status
        Solver status (always optimal; failures raise).
    objective : float
        Objective value.
    battery_kwh : numpy.ndarray
        Planned grid energy of each battery, (B, H) [kWh, + = charge].
    soc_kwh : numpy.ndarray
        Planned stored energy at the end of each step, (B, H) [kWh].
    district_net_kwh : numpy.ndarray
        Planned district net load on the point forecast, (H,) [kWh].
    """

    status: Status
    objective: float
    battery_kwh: np.ndarray
    soc_kwh: np.ndarray
    district_net_kwh: np.ndarray


def _view(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """View of ``a`` at a contiguous, C-ordered block of indices ``idx`` (same shape)."""
    if idx.size == 0:
        return a[:0].reshape(idx.shape)
    first = int(idx.flat[0])
    return a[first : first + idx.size].reshape(idx.shape)


#: Range every non-zero objective coefficient of the MPC's LP lies in [score units per kWh
#: or per unit of the term]: the smallest is the throughput weight (1e-4) and the rare
#: scenario segment of a nearly zero price difference; the largest a peak weight, which
#: grows as the district's peak shrinks (``block * mean / peak^2``): a few tens for the
#: five sample buildings, up to about 2e3 for three of them in a sunny week, a few
#: hundred in the first hour of a run (rates floored, :mod:`bitgaram.optimize.weights`).
#: Before the floors, the first hours reached 1.5e10.
COST_RANGE = (1e-6, 1e4)


def cost_range(cost: np.ndarray) -> tuple[float, float]:
    """Smallest and largest non-zero ``|cost|`` of an objective (0, 0 if all are zero).

    Every LP the MPC solves keeps these within :data:`COST_RANGE` (a test checks it over
    a year): HiGHS's tolerances (1e-7 on optimality) are meaningful only when the
    objective's coefficients span a few orders of magnitude.
    """
    a = np.abs(np.asarray(cost, dtype=float))
    a = a[(a > 0) & np.isfinite(a)]
    return (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)


def _peak_bounds(
    candidates: np.ndarray, slot: np.ndarray, n_slots: int, inp: HorizonInput
) -> tuple[np.ndarray, np.ndarray]:
    """Lower bounds and costs of the peak columns, (S,) each.

    A slot's peak is bounded below by its floor (the peak already reached) and by the rows
    of its steps in the horizon. A slot with no step in the horizon has no term (cost 0,
    column at 0), and a slot without a floor (``-inf``) is bounded by its rows alone: no
    placeholder floor enters the objective as a constant.
    """
    has_step = np.zeros(n_slots, dtype=bool)
    has_step[candidates[candidates == slot[:, None]]] = True
    floor = np.zeros(n_slots) if inp.peak_floor is None else np.asarray(inp.peak_floor, float)
    weight = np.zeros(n_slots) if inp.peak_weight is None else np.asarray(inp.peak_weight, float)
    lb = np.where(has_step, np.where(np.isfinite(floor), floor, -INF), 0.0)
    return lb, np.where(has_step, weight, 0.0)


def _breakpoints(base: np.ndarray, errors: np.ndarray | None, k: int) -> np.ndarray:
    """Sorted breakpoints ``-(base + errors[k])`` along a new axis 0, shape (K, ...)."""
    a = np.broadcast_to(base, (k, *base.shape)) if errors is None else base + errors
    return np.sort(-a, axis=0) if k > 1 else -np.asarray(a, dtype=float)


class SiteProblem:
    """A site LP for B batteries over H steps, built once and re-solved.

    The compact form of :class:`ReferenceSiteProblem` (see the module
    docstring): same optimum, about 2.3x fewer rows.

    Parameters
    ----------
    batteries : BatteryParams
        Fleet parameters (B batteries, array fields).
    horizon : int
        Steps H.
    n_scenarios : int
        Forecast-error scenarios K of the clipped terms (1 = point forecast).
    peak_candidates : numpy.ndarray or None
        (H, m) peak slots each step may belong to (row ``t`` lists slot
        indices); ``None`` = no peak term. The slot actually used at a solve is
        ``HorizonInput.peak_slot``.
    limits : SiteLimits
        Site import/export limits.
    peak_risk_samples : int
        Size J of ``HorizonInput.peak_risk_offsets`` (0 = no peak-risk term).
    shift_basis : bool
        Start each solve from the previous optimal basis moved one step back in
        time (right for a receding horizon that advances one step per solve;
        any other sequence of solves is still solved exactly, only the warm
        start is worse). Needs the HiGHS C API (else ignored).

    Raises
    ------
    ConfigError
        If ``horizon`` or ``n_scenarios`` is below 1.
    """

    def __init__(
        self,
        batteries: BatteryParams,
        horizon: int,
        n_scenarios: int = 1,
        peak_candidates: np.ndarray | None = None,
        limits: SiteLimits | None = None,
        peak_risk_samples: int = 0,
        shift_basis: bool = True,
    ) -> None:
        if horizon < 1 or n_scenarios < 1 or peak_risk_samples < 0:
            raise ConfigError("horizon and n_scenarios must be >= 1, peak_risk_samples >= 0")
        self.horizon = horizon
        self.n_scenarios = n_scenarios
        self.limits = limits or SiteLimits()
        lp = LinearProgram()
        self.battery: BatteryBlock = add_battery_block(lp, batteries, horizon)
        bat = self.battery
        n_b, h, k = bat.n_batteries, horizon, n_scenarios
        t_all = np.arange(h)

        # District battery energy X[t] = sum_b (c - d); site limits are its bounds.
        self.x = lp.add_variables((h,), -INF, INF)
        steps = np.broadcast_to(t_all, (n_b, h))
        self.x_rows = lp.add_rows(
            h,
            [(t_all, self.x, 1.0), (steps, bat.charge, -1.0), (steps, bat.discharge, 1.0)],
            0.0,
            0.0,
        )
        # Emissions: c - d - sum_j zv[j] <= beta_1 per (building, step).
        self.zv = lp.add_variables((k, n_b, h))
        r = np.arange(n_b * h).reshape(n_b, h)
        self.v_rows = lp.add_rows(
            n_b * h, [(r, bat.charge, 1.0), (r, bat.discharge, -1.0), (r[None], self.zv, -1.0)]
        ).reshape(n_b, h)
        # District import: X - sum_j zu[j] <= beta_1 per step.
        self.zu = lp.add_variables((k, h))
        self.u_rows = lp.add_rows(h, [(t_all, self.x, 1.0), (t_all[None], self.zu, -1.0)])
        # Ramping: X[t] - X[t-1] - sum_j zr[j] <= beta_1 per step.
        self.zr = lp.add_variables((k, h))
        terms: list[Term] = [(t_all, self.x, 1.0), (t_all[None], self.zr, -1.0)]
        if h > 1:
            terms.append((t_all[1:], self.x[:-1], -1.0))
        self.ramp_rows = lp.add_rows(h, terms)
        # Peak: p[j] >= E[t] for steps of slot j.
        if peak_candidates is None:
            self.peak_candidates = np.zeros((h, 0), dtype=int)
            self.p = np.zeros(0, dtype=int)
            self.peak_rows = np.zeros((h, 0), dtype=int)
        else:
            cand = np.asarray(peak_candidates, dtype=int).reshape(h, -1)
            self.peak_candidates = cand
            n_slots = int(cand.max()) + 1 if cand.size else 0
            self.p = lp.add_variables((n_slots,))
            m = cand.shape[1]
            rows = np.arange(h * m).reshape(h, m)
            x_tm = np.broadcast_to(self.x[:, None], (h, m))
            self.peak_rows = lp.add_rows(
                h * m, [(rows, self.p[cand], 1.0), (rows, x_tm, -1.0)]
            ).reshape(h, m)
        # Peak risk of step 0: X[0] - sum_j zp[j] <= beta_1 (same compact form).
        n_risk = peak_risk_samples
        self.zp = lp.add_variables((n_risk,))
        self.risk_rows = (
            lp.add_rows(1, [(np.zeros(n_risk, dtype=int), self.zp, -1.0), (0, self.x[0], 1.0)])
            if n_risk
            else np.zeros(0, dtype=int)
        )

        self.lp = lp
        self._arrays = lp.arrays()
        self._segments = np.arange(1, k + 1, dtype=float)
        self._session = open_session(lp)
        self._shift = shift_basis and isinstance(self._session, HighsCSession)
        self._warm = False
        #: :func:`cost_range` of the objective of the last solve.
        self.cost_range: tuple[float, float] = (0.0, 0.0)
        self._held: tuple[np.ndarray, ...] | None = None
        self._col_src, self._row_src = self._shift_maps()

    @property
    def session(self) -> HighsSession | HighsCSession:
        """The HiGHS session (for diagnostics: ``last_run_seconds``)."""
        return self._session

    def _shift_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """For each column and row, the index whose basis status it inherits at the next step."""
        bat = self.battery
        col_src = np.arange(self.lp.n_cols)
        row_src = np.arange(self.lp.n_rows)
        cols = (bat.charge, bat.discharge, bat.soc, self.x, self.zv, self.zu, self.zr)
        rows = (bat.dynamics, bat.derate_rows, self.x_rows, self.v_rows, self.u_rows)
        for src, blocks in ((col_src, cols), (row_src, (*rows, self.ramp_rows, self.peak_rows.T))):
            for idx in blocks:
                if idx.size and idx.shape[-1] > 1:
                    src[idx[..., :-1]] = idx[..., 1:]
        return col_src, row_src

    def _send(self, session: HighsCSession, arrays: tuple[np.ndarray, ...]) -> None:
        """Pass to HiGHS only the costs and bounds that differ from those it holds."""
        cost, col_lb, col_ub, row_lb, row_ub = arrays
        held = self._held
        if held is None:
            session.update(cost, col_lb, col_ub, row_lb, row_ub)
        else:
            idx = np.flatnonzero(cost != held[0])
            if idx.size:
                session.change_costs(session.index(idx), cost[idx])
            idx = np.flatnonzero((col_lb != held[1]) | (col_ub != held[2]))
            if idx.size:
                session.change_col_bounds(session.index(idx), col_lb[idx], col_ub[idx])
            idx = np.flatnonzero((row_lb != held[3]) | (row_ub != held[4]))
            if idx.size:
                session.change_row_bounds(session.index(idx), row_lb[idx], row_ub[idx])
        self._held = arrays

    def _apply_peak_risk(
        self, inp: HorizonInput, cost: np.ndarray, col_ub: np.ndarray, row_ub: np.ndarray
    ) -> None:
        """Breakpoints and slopes of ``w * sum_j max(0, X[0] + a_j)`` (or no term)."""
        n_risk = self.zp.size
        offsets = inp.peak_risk_offsets
        if offsets is None or inp.peak_risk_weight <= 0.0:
            row_ub[self.risk_rows] = INF
            _view(cost, self.zp)[:] = 0.0
            return
        a = np.asarray(offsets, dtype=float).reshape(-1)
        if a.size != n_risk:
            raise ConfigError(f"peak_risk_offsets has {a.size} samples, the problem {n_risk}")
        beta = np.sort(-a)
        row_ub[self.risk_rows] = beta[0]
        _view(col_ub, self.zp)[:-1] = np.diff(beta)
        _view(cost, self.zp)[:] = np.arange(1, n_risk + 1) * inp.peak_risk_weight

    def solve(self, inp: HorizonInput) -> Schedule:
        """Solve for one horizon of data.

        Raises
        ------
        SolveError
            If the limits cannot be met or HiGHS fails.
        ConfigError
            If ``peak_risk_offsets`` does not have ``peak_risk_samples`` entries.
        """
        b = self.battery
        n_b, h, k = b.n_batteries, self.horizon, self.n_scenarios
        cost, col_lb, col_ub, row_lb, row_ub = (a.copy() for a in self._arrays)
        w = inp.weights
        b.apply_state(col_lb, col_ub, row_lb, row_ub, inp.soc_kwh, inp.capacity_kwh)
        seg = self._segments

        price = np.asarray(inp.price, dtype=float)
        xp = np.zeros(h) if inp.export_price is None else np.minimum(inp.export_price, price)
        bld = np.asarray(inp.building_net, dtype=float).reshape(n_b, h)
        dist = np.asarray(inp.district_net, dtype=float)

        # Emissions of each building: carbon * max(0, E_b + err) averaged over K.
        beta = _breakpoints(bld, inp.building_errors, k)
        _view(row_ub, self.v_rows)[:] = beta[0]
        _view(col_ub, self.zv)[:-1] = np.diff(beta, axis=0)
        slope = w.carbon * np.asarray(inp.carbon, dtype=float) / k
        _view(cost, self.zv)[:] = seg[:, None, None] * slope[None, None, :]

        # District import: (price - xp) * max(0, E + err) averaged over K.
        beta = _breakpoints(dist, inp.district_errors, k)
        _view(row_ub, self.u_rows)[:] = beta[0]
        _view(col_ub, self.zu)[:-1] = np.diff(beta, axis=0)
        _view(cost, self.zu)[:] = seg[:, None] * (w.price * (price - xp) / k)[None, :]
        # Export credit and wear act on the battery energies directly.
        _view(cost, b.charge)[:] = w.price * xp[None, :] + w.throughput
        _view(cost, b.discharge)[:] = -w.price * xp[None, :] + w.throughput
        if inp.terminal_value is not None:
            _view(cost, b.soc)[:, -1] -= inp.terminal_value

        x_lb, x_ub = _view(col_lb, self.x), _view(col_ub, self.x)
        x_lb[:] = -self.limits.export_kwh - dist
        x_ub[:] = self.limits.import_kwh - dist
        x_lb[~np.isfinite(x_lb)] = -INF
        x_ub[~np.isfinite(x_ub)] = INF

        # Ramping: |E[t] - E[t-1] + err| averaged over K (no term at t = 0 without E[-1]).
        diff = np.empty(h)
        diff[1:] = dist[1:] - dist[:-1]
        prev = inp.previous_district_net
        diff[0] = dist[0] - prev if np.isfinite(prev) else 0.0
        beta = _breakpoints(diff, inp.ramp_errors, k)
        wr = np.full(h, w.ramping)
        if not np.isfinite(prev):
            wr[0] = 0.0
        r_ub = _view(row_ub, self.ramp_rows)
        r_ub[:] = beta[0]
        if wr[0] == 0.0:
            r_ub[0] = INF
        _view(col_ub, self.zr)[:-1] = np.diff(beta, axis=0)
        _view(cost, self.zr)[:] = seg[:, None] * (2.0 * wr / k)[None, :]
        x_cost = _view(cost, self.x)
        x_cost[:] = -wr
        x_cost[:-1] += wr[1:]
        offset = float((beta.sum(axis=0) * wr).sum()) / k

        if self.p.size:
            slot = np.full(h, -1) if inp.peak_slot is None else np.asarray(inp.peak_slot, dtype=int)
            active = self.peak_candidates == slot[:, None]
            _view(row_lb, self.peak_rows)[:] = np.where(active, dist[:, None], -INF)
            lb, c = _peak_bounds(self.peak_candidates, slot, self.p.size, inp)
            _view(col_lb, self.p)[:] = lb
            _view(cost, self.p)[:] = c
        if self.zp.size:
            self._apply_peak_risk(inp, cost, col_ub, row_ub)

        self.cost_range = cost_range(cost)
        session = self._session
        if isinstance(session, HighsCSession):
            statuses = session.basis() if self._shift and self._warm else None
            self._send(session, (cost, col_lb, col_ub, row_lb, row_ub))
            if statuses is not None:
                session.set_basis(statuses[0][self._col_src], statuses[1][self._row_src])
        else:
            session.update(cost, col_lb, col_ub, row_lb, row_ub)
        self._warm = False
        try:
            sol = session.solve()
        except SolveError:
            if not isinstance(session, HighsCSession):
                raise
            # HiGHS can fail numerically from a warm start (seen once in ~10^5 solves):
            # retry the same model cold; an infeasible model fails again and raises.
            session.clear_solver()
            sol = session.solve()
        self._warm = True
        x = sol.x
        energy = _view(x, b.charge) - _view(x, b.discharge)
        return Schedule(
            status=sol.status,
            objective=sol.objective + offset,
            battery_kwh=energy,
            soc_kwh=_view(x, b.soc).copy(),
            district_net_kwh=dist + energy.sum(axis=0),
        )


class ReferenceSiteProblem:
    """The site LP in its direct form: one row per scenario of every clipped term.

    Kept as the reference of what :class:`SiteProblem` optimises (same
    arguments, same :meth:`solve`, same optimum); it is ~2.3x larger and
    slower, so it serves tests and benchmarks only.

    Parameters
    ----------
    batteries : BatteryParams
        Fleet parameters (B batteries, array fields).
    horizon : int
        Steps H.
    n_scenarios : int
        Forecast-error scenarios K of the clipped terms (1 = point forecast).
    peak_candidates : numpy.ndarray or None
        (H, m) peak slots each step may belong to (row ``t`` lists slot
        indices); ``None`` = no peak term. The slot actually used at a solve is
        ``HorizonInput.peak_slot``.
    limits : SiteLimits
        Site import/export limits.
    """

    def __init__(
        self,
        batteries: BatteryParams,
        horizon: int,
        n_scenarios: int = 1,
        peak_candidates: np.ndarray | None = None,
        limits: SiteLimits | None = None,
        peak_risk_samples: int = 0,
    ) -> None:
        if horizon < 1 or n_scenarios < 1 or peak_risk_samples < 0:
            raise ConfigError("horizon and n_scenarios must be >= 1, peak_risk_samples >= 0")
        self.horizon = horizon
        self.n_scenarios = n_scenarios
        self.limits = limits or SiteLimits()
        lp = LinearProgram()
        self.battery: BatteryBlock = add_battery_block(lp, batteries, horizon)
        n_b, h, k = self.battery.n_batteries, horizon, n_scenarios
        grid = self.battery.grid_terms()

        # Emissions: v[k, b, t] >= E_b[t] + err, v >= 0.
        self.v = lp.add_variables((k, n_b, h))
        r = np.arange(k * n_b * h).reshape(k, n_b, h)
        terms: list[Term] = [(r, self.v, 1.0)] + [(r, cols[None], -sign) for cols, sign in grid]
        self.v_rows = lp.add_rows(k * n_b * h, terms).reshape(k, n_b, h)

        # District import: u[k, t] >= E[t] + err, u >= 0.
        self.u = lp.add_variables((k, h))
        r2 = np.arange(k * h).reshape(k, h)
        terms = [(r2, self.u, 1.0)]
        for cols, sign in grid:
            terms += [(r2, cols[b][None], -sign) for b in range(n_b)]
        self.u_rows = lp.add_rows(k * h, terms).reshape(k, h)

        # District battery sum X[t] = sum_b (c - d): rows used by limits, ramping, peak.
        def district_terms(rows: np.ndarray, steps: np.ndarray, scale: float) -> list[Term]:
            out: list[Term] = []
            for cols, sign in grid:
                out += [(rows, cols[b][steps], scale * sign) for b in range(n_b)]
            return out

        t_all = np.arange(h)
        self.limit_rows = lp.add_rows(h, district_terms(t_all, t_all, 1.0))

        # Ramping: r[k, t] >= +-(E[t] - E[t-1] + ramp error k).
        self.r = lp.add_variables((k, h))
        rk = np.arange(k * h).reshape(k, h)
        tk = np.broadcast_to(t_all, (k, h))
        up_terms: list[Term] = [(rk, self.r, 1.0), *district_terms(rk, tk, -1.0)]
        dn_terms: list[Term] = [(rk, self.r, 1.0), *district_terms(rk, tk, 1.0)]
        if h > 1:
            up_terms += district_terms(rk[:, 1:], tk[:, :-1], 1.0)
            dn_terms += district_terms(rk[:, 1:], tk[:, :-1], -1.0)
        self.ramp_up_rows = lp.add_rows(k * h, up_terms).reshape(k, h)
        self.ramp_dn_rows = lp.add_rows(k * h, dn_terms).reshape(k, h)

        # Peak: p[j] >= E[t] for steps of slot j.
        if peak_candidates is None:
            self.peak_candidates = np.zeros((h, 0), dtype=int)
            self.p = np.zeros(0, dtype=int)
            self.peak_rows = np.zeros((h, 0), dtype=int)
        else:
            cand = np.asarray(peak_candidates, dtype=int).reshape(h, -1)
            self.peak_candidates = cand
            n_slots = int(cand.max()) + 1 if cand.size else 0
            self.p = lp.add_variables((n_slots,))
            m = cand.shape[1]
            rows = np.arange(h * m).reshape(h, m)
            terms = [(rows, self.p[cand], 1.0)]
            steps = np.broadcast_to(t_all[:, None], (h, m))
            terms += district_terms(rows, steps, -1.0)
            self.peak_rows = lp.add_rows(h * m, terms).reshape(h, m)

        # Peak risk: q[j] >= X[0] + a_j, q >= 0.
        n_risk = peak_risk_samples
        self.q = lp.add_variables((n_risk,))
        rq = np.arange(n_risk)
        self.risk_rows = lp.add_rows(
            n_risk, [(rq, self.q, 1.0), *district_terms(rq, np.zeros(n_risk, dtype=int), -1.0)]
        )

        self.lp = lp
        self._arrays = lp.arrays()
        self._session = HighsSession(lp)

    def solve(self, inp: HorizonInput) -> Schedule:
        """Solve for one horizon of data.

        Raises
        ------
        SolveError
            If the limits cannot be met or HiGHS fails.
        """
        b = self.battery
        n_b, h, k = b.n_batteries, self.horizon, self.n_scenarios
        cost, col_lb, col_ub, row_lb, row_ub = (a.copy() for a in self._arrays)
        w = inp.weights
        b.apply_state(col_lb, col_ub, row_lb, row_ub, inp.soc_kwh, inp.capacity_kwh)

        price = np.asarray(inp.price, dtype=float)
        xp = np.zeros(h) if inp.export_price is None else np.minimum(inp.export_price, price)
        bld = np.asarray(inp.building_net, dtype=float).reshape(n_b, h)
        dist = np.asarray(inp.district_net, dtype=float)
        b_err = np.zeros((k, n_b, h)) if inp.building_errors is None else inp.building_errors
        d_err = np.zeros((k, h)) if inp.district_errors is None else inp.district_errors

        cost[self.v] = w.carbon * np.asarray(inp.carbon)[None, None, :] / k
        row_lb[self.v_rows] = bld[None] + b_err
        cost[self.u] = w.price * (price - xp)[None, :] / k
        row_lb[self.u_rows] = dist[None, :] + d_err
        # Export credit and wear act on the battery energies directly.
        cost[b.charge] = w.price * xp[None, :] + w.throughput
        cost[b.discharge] = -w.price * xp[None, :] + w.throughput
        if inp.terminal_value is not None:
            cost[b.soc[:, -1]] -= inp.terminal_value

        row_lb[self.limit_rows] = -self.limits.export_kwh - dist
        row_ub[self.limit_rows] = self.limits.import_kwh - dist
        row_lb[self.limit_rows] = np.where(
            np.isfinite(row_lb[self.limit_rows]), row_lb[self.limit_rows], -INF
        )
        row_ub[self.limit_rows] = np.where(
            np.isfinite(row_ub[self.limit_rows]), row_ub[self.limit_rows], INF
        )

        cost[self.r] = w.ramping / k
        diff = np.empty(h)
        diff[1:] = dist[1:] - dist[:-1]
        prev = inp.previous_district_net
        diff[0] = dist[0] - prev if np.isfinite(prev) else 0.0
        r_err = np.zeros((k, h)) if inp.ramp_errors is None else inp.ramp_errors
        row_lb[self.ramp_up_rows] = diff[None, :] + r_err
        row_lb[self.ramp_dn_rows] = -diff[None, :] - r_err
        if not np.isfinite(prev):
            row_lb[self.ramp_up_rows[:, 0]] = -INF
            row_lb[self.ramp_dn_rows[:, 0]] = -INF

        if self.p.size:
            slot = np.full(h, -1) if inp.peak_slot is None else np.asarray(inp.peak_slot, dtype=int)
            active = self.peak_candidates == slot[:, None]
            row_lb[self.peak_rows] = np.where(active, dist[:, None], -INF)
            col_lb[self.p], cost[self.p] = _peak_bounds(
                self.peak_candidates, slot, self.p.size, inp
            )
        if self.q.size and inp.peak_risk_offsets is not None and inp.peak_risk_weight > 0:
            cost[self.q] = inp.peak_risk_weight
            row_lb[self.risk_rows] = np.asarray(inp.peak_risk_offsets, dtype=float)
        elif self.q.size:
            row_lb[self.risk_rows] = -INF

        self._session.update(cost, col_lb, col_ub, row_lb, row_ub)
        sol = self._session.solve()
        x = sol.x
        energy = x[b.charge] - x[b.discharge]
        return Schedule(
            status=sol.status,
            objective=sol.objective,
            battery_kwh=energy,
            soc_kwh=x[b.soc],
            district_net_kwh=dist + energy.sum(axis=0),
        )
