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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitgaram.assets.battery import BatteryParams
from bitgaram.errors import ConfigError
from bitgaram.optimize.battery import BatteryBlock, add_battery_block
from bitgaram.optimize.problem import INF, HighsSession, LinearProgram, Status, Term


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
        Peak already reached in each slot, (S,) [kWh].
    peak_weight : numpy.ndarray or None
        Cost per kWh of each slot's peak, (S,).
    terminal_value : numpy.ndarray or None
        Value per kWh left stored at the horizon end, (B,).
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


class SiteProblem:
    """A site LP for B batteries over H steps, built once and re-solved.

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
    ) -> None:
        if horizon < 1 or n_scenarios < 1:
            raise ConfigError("horizon and n_scenarios must be >= 1")
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
            floor = np.zeros(self.p.size) if inp.peak_floor is None else inp.peak_floor
            col_lb[self.p] = np.maximum(floor, -1e6)
            cost[self.p] = 0.0 if inp.peak_weight is None else inp.peak_weight

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
