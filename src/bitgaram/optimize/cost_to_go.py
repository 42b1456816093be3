"""The cost-to-go of the energy a receding-horizon plan leaves in the ESS.

A short horizon (a few hours) cannot see what stored energy is worth after it: the peak-rate
hours that follow, tomorrow's afternoon peak, the cheap night that refills it. Valued at a
single rate, the energy left at the horizon's end is either hoarded or spent too early.
:class:`CostToGo` prices it instead with the park's own problem over the steps beyond the
horizon (to a day ahead), solved as one small LP on the typical day: the least cost of those
steps [KRW] as a function of the energy stored when they begin, ``C(E)``:

- the import at each step's energy rate, the ESS charging and discharging within its power,
  window and efficiencies (with its wear cost), the energy of the flexible loads still due
  in those steps placed where it is cheapest, under the connection limit;
- the month's demand charge above the level the plan holds (its billing demand or peak
  outlook), on the metered steps of the same month, import plus the error margin;
- the energy left at the end of the day valued at the day's lowest rate (what refilling it
  would cost), as the short plan values its own.

``C`` is the optimal value of an LP whose right-hand side moves with ``E``, so it is convex
and non-increasing in ``E``. It is evaluated at a few stored energies across the usable window
and handed to the short plan as the secants between them (:func:`cost_to_go_rows`): the plan
then pays ``C(E_end) - C(full)``, so it keeps energy for the hours beyond its horizon exactly
as far as they are worth it (peak-rate discharge, tomorrow's demand) and no further.

This is the textbook hierarchical MPC (a long, coarse problem giving the short, detailed one
its terminal cost), with the long problem deterministic on the typical day. Each evaluation
re-solves one LP, built once per length, with new bounds (HiGHS warm start).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitgaram.assets.battery import BatteryParams
from bitgaram.optimize.battery import BatteryBlock, add_battery_block
from bitgaram.optimize.demand import (
    DEMAND_WINDOW_HOURS,
    per_window_battery,
    steps_per_window,
    window_any,
    window_mean,
)
from bitgaram.optimize.problem import INF, HighsSession, LinearProgram, Term
from bitgaram.tariff.marginal import DemandChargeSlope

#: Stored energies the cost-to-go is evaluated at, as fractions of the usable window. The
#: curve is convex and usually bends where the day's peak-rate and demand needs are met, so
#: a handful of points spans it; more points cost one LP solve each.
BREAKPOINTS = (0.0, 0.25, 0.5, 0.75, 1.0)

#: Cost of the tail's import above the connection limit [KRW/kWh]: a last resort that keeps
#: the LP feasible when the typical day alone exceeds the limit (the short plan's own
#: overload is priced far higher; here only the ordering matters).
TAIL_OVERLOAD_COST = 1e5


@dataclass(frozen=True)
class CostToGoCurve:
    """Least cost of the steps beyond a horizon per energy stored when they begin.

    Attributes
    ----------
    energy_kwh : numpy.ndarray
        Total stored energy at the start of the tail [kWh], ascending, (K,).
    cost : numpy.ndarray
        Least cost of the tail from that energy [KRW], (K,), non-increasing.
    """

    energy_kwh: np.ndarray
    cost: np.ndarray

    def slopes(self) -> np.ndarray:
        """Value lost per kWh less stored, per segment [KRW/kWh] (<= 0), (K - 1,)."""
        return np.diff(self.cost) / np.diff(self.energy_kwh)

    def marginal_value(self, energy_kwh: float) -> float:
        """What one more kWh stored at ``energy_kwh`` saves the tail [KRW/kWh] (>= 0)."""
        k = int(np.clip(np.searchsorted(self.energy_kwh, energy_kwh, "right") - 1, 0, None))
        slopes = self.slopes()
        return float(-slopes[min(k, slopes.size - 1)]) if slopes.size else 0.0


@dataclass(frozen=True)
class _Built:
    session: HighsSession
    arrays: tuple[np.ndarray, ...]
    battery: BatteryBlock
    grid: np.ndarray
    flex: np.ndarray
    over: int
    excess: int
    balance: np.ndarray
    demand: np.ndarray
    flex_row: int
    over_row: int
    excess_row: int


class CostToGo:
    """The cost-to-go curve of the steps beyond a horizon (see the module docstring).

    Parameters
    ----------
    battery : BatteryParams
        The ESS (usable window, power, efficiencies), ``step_hours`` equal to the steps'.
    step_hours : float
        Step length [h]. Steps shorter than the 15-min demand window that divide it are
        averaged into windows first (a control loop ticking every few seconds would
        otherwise solve LPs of tens of thousands of steps), the ESS stepped per window.
    wear_cost : float
        ESS wear per kWh charged and per kWh discharged, half each [KRW/kWh] (the short
        plan's).
    breakpoints : sequence of float
        Stored energies evaluated, as fractions of the usable window (0 and 1 included).

    Examples
    --------
    One kWh stored now is worth the peak rate it saves later, less the losses:

    >>> import numpy as np
    >>> from bitgaram.assets.battery import BatteryParams
    >>> ess = BatteryParams(capacity_kwh=10.0, nominal_power_kw=10.0, initial_soc_kwh=0.0,
    ...                     efficiency_curve=((0.0, 1.0), (1.0, 1.0)),
    ...                     power_curve=((0.0, 1.0), (1.0, 1.0)), step_hours=1.0)
    >>> tail = CostToGo(ess, 1.0, wear_cost=0.0)
    >>> curve = tail(np.array([5.0, 5.0]), np.array([200.0, 100.0]), np.zeros(2, bool))
    >>> round(curve.marginal_value(0.0), 6)  # the first 5 kWh replace import at 200
    200.0
    >>> round(curve.marginal_value(6.0), 6)  # the next 5 at 100
    100.0
    """

    def __init__(
        self,
        battery: BatteryParams,
        step_hours: float,
        wear_cost: float = 1.0,
        breakpoints: tuple[float, ...] = BREAKPOINTS,
    ) -> None:
        self.per_window = steps_per_window(step_hours)
        if self.per_window > 1:
            battery = per_window_battery(battery, self.per_window)
            step_hours = DEMAND_WINDOW_HOURS
        self.battery = battery
        self.step_hours = step_hours
        self.wear_cost = wear_cost
        self.breakpoints = np.asarray(breakpoints, dtype=float)
        self._built: dict[int, _Built] = {}

    def _build(self, n: int) -> _Built:
        lp = LinearProgram()
        grid = lp.add_variables((n,), 0.0)
        spill = lp.add_variables((n,), 0.0)
        overload = lp.add_variables((n,), 0.0, cost=TAIL_OVERLOAD_COST)
        flex = lp.add_variables((n,), 0.0)
        bat = add_battery_block(lp, self.battery, n)
        rows = np.arange(n)
        terms: list[Term] = [
            (rows, grid, 1.0),
            (rows, spill, -1.0),
            (rows, overload, 1.0),
            (rows, flex, -1.0),
        ]
        for cols, sign in bat.grid_terms():
            terms.append((np.broadcast_to(rows, cols.shape), cols, -sign))
        balance = lp.add_rows(n, terms, lb=0.0, ub=0.0)
        flex_row = int(lp.add_rows(1, [(np.zeros(n, int), flex, 1.0)], lb=0.0, ub=0.0)[0])
        peak = int(lp.add_variables((1,), 0.0)[0])
        over = int(lp.add_variables((1,), 0.0)[0])
        excess = int(lp.add_variables((1,), 0.0)[0])
        demand = lp.add_rows(n, [(rows, grid, 1.0 / self.step_hours), (rows, peak, -1.0)], ub=INF)
        over_row = int(lp.add_rows(1, [(0, over, 1.0), (0, peak, -1.0)], lb=-INF)[0])
        excess_row = int(lp.add_rows(1, [(0, excess, 1.0), (0, peak, -1.0)], lb=-INF)[0])
        arrays = lp.arrays()
        half = 0.5 * self.wear_cost
        arrays[0][bat.charge.ravel()] += half
        arrays[0][bat.discharge.ravel()] += half
        return _Built(
            HighsSession(lp),
            arrays,
            bat,
            grid,
            flex,
            over,
            excess,
            balance,
            demand,
            flex_row,
            over_row,
            excess_row,
        )

    def __call__(
        self,
        load_kw: np.ndarray,
        energy_rate: np.ndarray,
        metered: np.ndarray,
        slope: DemandChargeSlope | None = None,
        margin_kw: np.ndarray | None = None,
        limit_kw: float | None = None,
        flexible_kwh: float = 0.0,
    ) -> CostToGoCurve:
        """The cost-to-go of the tail ``load_kw`` (N,) from each breakpoint's stored energy.

        Parameters
        ----------
        load_kw : numpy.ndarray
            Firm net load of the tail's steps [kW], (N,) (e.g. the typical day).
        energy_rate : numpy.ndarray
            Energy price per step [KRW/kWh], (N,).
        metered : numpy.ndarray
            Boolean (N,): steps whose demand counts against ``slope``'s month.
        slope : DemandChargeSlope, optional
            The month's demand charge above the level the plan holds; None: energy only.
        margin_kw : numpy.ndarray, optional
            Load above the forecast the metered steps leave room for [kW], (N,).
        limit_kw : float, optional
            Connection limit on the import [kW].
        flexible_kwh : float
            Energy of flexible loads (jobs, vehicles) due within the tail [kWh].

        Returns
        -------
        CostToGoCurve

        Raises
        ------
        SolveError
            If HiGHS fails.
        """
        load = np.asarray(load_kw, dtype=float)
        rate = np.asarray(energy_rate, dtype=float)
        mask = np.asarray(metered, dtype=bool)
        margin = np.zeros(load.size) if margin_kw is None else np.maximum(margin_kw, 0.0)
        if self.per_window > 1:
            load, rate, margin = (window_mean(a, self.per_window) for a in (load, rate, margin))
            mask = window_any(mask, self.per_window)
        n = load.size
        if n not in self._built:
            self._built[n] = self._build(n)
        b = self._built[n]
        cost, col_lb, col_ub, row_lb, row_ub = (a.copy() for a in b.arrays)
        dt = self.step_hours
        cost[b.grid] = rate
        if limit_kw is not None:
            col_ub[b.grid] = limit_kw * dt
        firm = load * dt
        row_lb[b.balance] = firm
        row_ub[b.balance] = firm
        flexible = max(float(flexible_kwh), 0.0)
        row_lb[b.flex_row] = row_ub[b.flex_row] = flexible
        col_ub[b.flex] = flexible
        if slope is not None and mask.any():
            row_ub[b.demand] = np.where(mask, -margin, INF)
            cost[b.over] = slope.rate
            row_lb[b.over_row] = -slope.threshold_kw
            if np.isfinite(slope.excess_threshold_kw):
                cost[b.excess] = slope.excess_rate
                row_lb[b.excess_row] = -slope.excess_threshold_kw
        bat = b.battery
        capacity = bat.model.capacity_kwh
        # The energy left at the end is worth what refilling it would cost.
        cost[bat.soc[:, -1]] -= float(rate.min()) * bat.model.eta_discharge
        total = float(capacity.sum())
        energies = self.breakpoints * total
        out = np.empty(energies.size)
        for k, e in enumerate(energies):
            share = capacity / total * e if total > 0 else np.zeros_like(capacity)
            lb, ub, rlb, rub = col_lb.copy(), col_ub.copy(), row_lb.copy(), row_ub.copy()
            bat.apply_state(lb, ub, rlb, rub, share, capacity)
            b.session.update(cost, lb, ub, rlb, rub)
            out[k] = b.session.solve().objective
        # Optimal values are convex and non-increasing in E; enforce it against solver noise.
        out = np.minimum.accumulate(out)
        return CostToGoCurve(energies, out)


def cost_to_go_rows(lp: LinearProgram, end_cols: np.ndarray, curve: CostToGoCurve) -> int:
    """Add ``C(E_end) - C(full)`` as a cost on the plan's final stored energy.

    One column ``v`` [KRW] costed at 1 and one row per segment of the curve,
    ``v >= C_k - C_min + s_k (E_end - E_k)`` with ``E_end`` the sum of ``end_cols``
    (the stored energy at the horizon's end of each battery [kWh]). The constant
    ``C_min`` only keeps the objective free of a large offset.

    Returns
    -------
    int
        The column ``v``.
    """
    v = int(lp.add_variables((1,), 0.0, cost=1.0)[0])
    slopes = curve.slopes()
    base = float(curve.cost.min())
    ends = np.asarray(end_cols, dtype=int)
    for k, s in enumerate(slopes):
        rhs = float(curve.cost[k]) - base - float(s) * float(curve.energy_kwh[k])
        lp.add_rows(1, [(0, v, 1.0), (np.zeros(ends.size, int), ends, -float(s))], lb=rhs)
    return v


def later_rates(tail_rate: np.ndarray, offset: int, n: int) -> np.ndarray:
    """Energy rates of ``n`` steps starting ``offset`` steps after the horizon [KRW/kWh].

    ``tail_rate`` holds the rates of the steps after the horizon as far as they are known;
    steps beyond it cost its mean (``n`` may be 0).
    """
    tail = np.asarray(tail_rate, dtype=float)
    fill = float(tail.mean()) if tail.size else 0.0
    idx = np.arange(offset, offset + max(n, 0))
    return np.where(idx < tail.size, tail[np.minimum(idx, max(tail.size - 1, 0))], fill)


def rate_groups(rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rates of ``rates`` ascending and how many steps have each (two arrays)."""
    values, counts = np.unique(np.round(np.asarray(rates, dtype=float), 9), return_counts=True)
    return values, counts.astype(float)
