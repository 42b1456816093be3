"""The demand-charge term: the horizon's 15-minute peak priced by the tariff's marginal charge.

With ``P`` the largest average import power [kW] over the horizon's metered steps
(periods the tariff excludes from the demand reading, e.g. light load, do not
count), the term adds :class:`~bitgaram.tariff.marginal.DemandChargeSlope`'s
convex piecewise-linear cost::

    rate * max(0, P - threshold_kw) + excess_rate * max(0, P - excess_threshold_kw)

as ``P >= grid[t] / step_hours + margin[t]`` on metered steps and two non-negative slacks
(``margin``: load above the forecast the plan stays ready for, default 0).
The threshold is the running billing demand (ratchet, 30 % contract floor and
the month's peak so far), so a peak below what the month already pays costs
nothing more, exactly the tariff's marginal demand charge.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from bitgaram.assets.battery import BatteryParams, linearise
from bitgaram.optimize.battery import BatteryBlock, add_battery_block
from bitgaram.optimize.problem import INF, HighsSession, LinearProgram, Term
from bitgaram.tariff.marginal import DemandChargeSlope


@dataclass(frozen=True)
class DemandTerm:
    """Columns of the demand term.

    Attributes
    ----------
    peak : int
        Column of the horizon peak ``P`` [kW].
    over, excess : int
        Columns of ``max(0, P - threshold)`` and ``max(0, P - excess threshold)`` [kW].
    """

    peak: int
    over: int
    excess: int


def add_demand_term(
    lp: LinearProgram,
    grid_cols: np.ndarray,
    slope: DemandChargeSlope,
    metered: np.ndarray,
    step_hours: float,
    margin_kw: np.ndarray | None = None,
) -> DemandTerm:
    """Add the demand-charge term on grid-import columns.

    Parameters
    ----------
    lp : LinearProgram
        The problem.
    grid_cols : numpy.ndarray
        Columns of the grid import per step [kWh], shape (H,).
    slope : DemandChargeSlope
        The month's demand charge as a function of its peak (``demand_charge_slope``).
    metered : numpy.ndarray
        Boolean (H,): steps whose demand counts (not in an excluded period).
    step_hours : float
        Step length [h]; it must be the tariff's demand interval.
    margin_kw : numpy.ndarray, optional
        Demand above the planned import each step must leave room for [kW], (H,).

    Returns
    -------
    DemandTerm
    """
    peak = int(lp.add_variables((1,), 0.0)[0])
    over = int(lp.add_variables((1,), 0.0, cost=slope.rate)[0])
    exc_cost = slope.excess_rate if np.isfinite(slope.excess_threshold_kw) else 0.0
    excess = int(lp.add_variables((1,), 0.0, cost=exc_cost)[0])
    mask = np.asarray(metered, dtype=bool)
    cols = np.asarray(grid_cols)[mask]
    if cols.size:
        r = np.arange(cols.size)
        room = 0.0 if margin_kw is None else -np.asarray(margin_kw, dtype=float)[mask]
        lp.add_rows(cols.size, [(r, cols, 1.0 / step_hours), (r, peak, -1.0)], ub=room)
    lp.add_rows(1, [(0, over, 1.0), (0, peak, -1.0)], lb=-slope.threshold_kw)
    if np.isfinite(slope.excess_threshold_kw):
        lp.add_rows(1, [(0, excess, 1.0), (0, peak, -1.0)], lb=-slope.excess_threshold_kw)
    return DemandTerm(peak=peak, over=over, excess=excess)


#: Cost of ESS throughput in the outlook LP [kW of peak per kWh]: small against the peak
#: (1 kW of peak outweighs 1,000 kWh moved), only there to pick the plan that moves least.
OUTLOOK_THROUGHPUT_COST = 1e-3

#: The demand window the outlook works in when the steps are shorter [h]: demand is billed
#: on 15-minute averages, so finer steps are averaged into windows first (a 2-s control loop
#: would otherwise solve one LP of 43,200 steps per tick).
DEMAND_WINDOW_HOURS = 0.25


def steps_per_window(step_hours: float) -> int:
    """Steps of ``step_hours`` [h] per demand window (1 unless they divide the window)."""
    ratio = DEMAND_WINDOW_HOURS / step_hours
    whole = ratio > 1 and abs(ratio - round(ratio)) < 1e-9
    return round(ratio) if whole else 1


def per_window_battery(battery: BatteryParams, per_window: int) -> BatteryParams:
    """The ESS stepped per demand window of ``per_window`` steps (standing loss compounded)."""
    kept = (1.0 - np.asarray(battery.loss_coefficient, dtype=float)) ** per_window
    loss = float(1.0 - kept) if kept.ndim == 0 else 1.0 - kept
    return replace(battery, step_hours=DEMAND_WINDOW_HOURS, loss_coefficient=loss)


def window_mean(values: np.ndarray, per_window: int) -> np.ndarray:
    """Means over consecutive windows of ``per_window`` values (the last may be partial)."""
    values = np.asarray(values, dtype=float)
    starts = np.arange(0, values.size, per_window)
    counts = np.diff(np.append(starts, values.size))
    return np.add.reduceat(values, starts) / counts


def window_any(mask: np.ndarray, per_window: int) -> np.ndarray:
    """Whether any value of each window of ``per_window`` is true (the last may be partial)."""
    mask = np.asarray(mask, dtype=bool)
    return np.logical_or.reduceat(mask, np.arange(0, mask.size, per_window))


class PeakOutlook:
    """The lowest metered peak an ESS could hold a load forecast to [kW] (the peak outlook).

    One small LP over the outlook (e.g. the next 24 h, longer than a controller's
    horizon): minimise the peak of the import on metered steps with the ESS charging and
    discharging freely within its power, energy and efficiency, starting from its stored
    energy now. A short-horizon planner that prices the demand only above this level does
    not spend the ESS on rises the coming day reaches anyway; a level it cannot see yet
    is what it keeps the energy for. The LP is built once per length and battery and
    re-solved with new bounds (which steps are metered is a row bound).

    Parameters
    ----------
    battery : BatteryParams or None
        The ESS (``step_hours`` equal to the load's); None: the load's own metered peak.
    step_hours : float
        Step length [h]. Steps shorter than :data:`DEMAND_WINDOW_HOURS` that divide it are
        averaged into windows of that length (a window is metered if any of its steps is),
        and the ESS is stepped per window.

    Examples
    --------
    >>> import numpy as np
    >>> from bitgaram.assets.battery import BatteryParams
    >>> ess = BatteryParams(capacity_kwh=100.0, nominal_power_kw=100.0, initial_soc_kwh=100.0,
    ...                     efficiency_curve=((0.0, 1.0), (1.0, 1.0)),
    ...                     power_curve=((0.0, 1.0), (1.0, 1.0)), step_hours=1.0)
    >>> load = np.array([100.0, 100.0, 300.0, 100.0])
    >>> round(PeakOutlook(None, 1.0)(load, np.ones(4, bool)), 1)
    300.0
    >>> round(PeakOutlook(ess, 1.0)(load, np.ones(4, bool)), 1)  # 100 kWh shave 100 kW
    200.0
    """

    def __init__(self, battery: BatteryParams | None, step_hours: float) -> None:
        self.per_window = steps_per_window(step_hours)
        if self.per_window > 1:
            step_hours = DEMAND_WINDOW_HOURS
            if battery is not None:
                battery = per_window_battery(battery, self.per_window)
        self.battery = battery
        self.step_hours = step_hours
        self._built: dict[int, tuple[HighsSession, tuple[np.ndarray, ...], BatteryBlock, int]] = {}

    def _build(self, h: int) -> tuple[HighsSession, tuple[np.ndarray, ...], BatteryBlock, int]:
        assert self.battery is not None
        lp = LinearProgram()
        grid = lp.add_variables((h,), 0.0)
        spill = lp.add_variables((h,), 0.0)
        bat = add_battery_block(lp, self.battery, h)
        rows = np.arange(h)
        terms: list[Term] = [(rows, grid, 1.0), (rows, spill, -1.0)]
        for cols, sign in bat.grid_terms():
            terms.append((np.broadcast_to(rows, cols.shape), cols, -sign))
        lp.add_rows(h, terms, lb=0.0, ub=0.0)
        peak = int(lp.add_variables((1,), 0.0, cost=1.0)[0])
        lp.add_rows(h, [(rows, grid, 1.0 / self.step_hours), (rows, peak, -1.0)], ub=0.0)
        arrays = lp.arrays()
        arrays[0][bat.charge.ravel()] += OUTLOOK_THROUGHPUT_COST
        arrays[0][bat.discharge.ravel()] += OUTLOOK_THROUGHPUT_COST
        return HighsSession(lp), arrays, bat, peak

    def __call__(
        self, load_kw: np.ndarray, metered: np.ndarray, soc_kwh: float | None = None
    ) -> float:
        """The outlook [kW] of ``load_kw`` (N,) over its ``metered`` (N,) steps; 0 if none.

        ``soc_kwh``: stored energy now [kWh] (default the battery's initial energy).

        Raises
        ------
        SolveError
            If HiGHS fails.
        """
        load = np.asarray(load_kw, dtype=float)
        mask = np.asarray(metered, dtype=bool)
        if not mask.any():
            return 0.0
        if self.per_window > 1:  # window averages [kW]; the last window may be partial
            load = window_mean(load, self.per_window)
            mask = window_any(mask, self.per_window)
        if self.battery is None:
            return float(load[mask].max())
        h = load.size
        if h not in self._built:
            self._built[h] = self._build(h)
        session, arrays, bat, peak = self._built[h]
        cost, col_lb, col_ub, row_lb, row_ub = (a.copy() for a in arrays)
        firm = np.maximum(load, 0.0) * self.step_hours
        # Rows: battery rows first, then the h balance rows, then the h peak rows.
        first = row_lb.size - 2 * h
        row_lb[first : first + h] = firm
        row_ub[first : first + h] = firm
        row_ub[first + h :] = np.where(mask, 0.0, INF)
        soc = self.battery.initial_soc_kwh if soc_kwh is None else soc_kwh
        bat.apply_state(
            col_lb,
            col_ub,
            row_lb,
            row_ub,
            np.full(bat.n_batteries, float(soc)),
            bat.model.capacity_kwh,
        )
        session.update(cost, col_lb, col_ub, row_lb, row_ub)
        return float(session.solve().x[peak])


@dataclass(frozen=True)
class PeakReserve:
    """Energy an ESS must hold now to keep a coming load under a level (:func:`peak_reserve`).

    Attributes
    ----------
    energy_kwh : float
        Stored energy needed at the start of the load [kWh], at most the usable capacity.
    excess_hours : float
        Hours of metered steps whose load is above the level [h]: one kWh short raises the
        peak by about ``1 / excess_hours`` kW.
    """

    energy_kwh: float
    excess_hours: float


def peak_reserve(
    load_kw: np.ndarray,
    metered: np.ndarray,
    level_kw: float,
    battery: BatteryParams,
    step_hours: float,
    limit_kw: float | None = None,
    flexible_kwh: float = 0.0,
) -> PeakReserve:
    """The stored energy that keeps ``load_kw`` at or under ``level_kw`` on metered steps.

    A backward pass over the steps (the least energy needed at the start of step ``t`` given
    what step ``t + 1`` needs): a metered step above the level needs the ESS to discharge the
    excess (at most its power); a step below the level, or an unmetered one below the
    connection limit, lets it charge the room left (at most its power), which lowers what the
    earlier steps must carry. Flexible loads that must still be served (``flexible_kwh``: jobs,
    vehicles) take the room of the unmetered steps before the first metered one first, the
    latest of them first (where a plan that finds every light-load step equally cheap puts
    them): the ESS charges in what is left. Exact for one ESS with constant efficiencies and
    loads placed that way.

    Parameters
    ----------
    load_kw : numpy.ndarray
        Load to hold [kW] per step (N,), e.g. a forecast plus the error margin.
    metered : numpy.ndarray
        Boolean (N,): steps whose demand counts.
    level_kw : float
        Import level to hold on metered steps [kW].
    battery : BatteryParams
        The ESS (usable window, power, efficiency).
    step_hours : float
        Step length [h].
    limit_kw : float, optional
        Connection limit [kW] on unmetered steps' charging (none: the ESS power only).
    flexible_kwh : float
        Energy of flexible loads to serve in the unmetered steps [kWh] (needs ``limit_kw``).

    Returns
    -------
    PeakReserve

    Examples
    --------
    >>> import numpy as np
    >>> from bitgaram.assets.battery import BatteryParams
    >>> ess = BatteryParams(capacity_kwh=400.0, nominal_power_kw=100.0, initial_soc_kwh=0.0,
    ...                     efficiency_curve=((0.0, 1.0), (1.0, 1.0)),
    ...                     power_curve=((0.0, 1.0), (1.0, 1.0)), step_hours=1.0)
    >>> r = peak_reserve(np.array([150.0, 250.0, 250.0]), np.ones(3, bool), 200.0, ess, 1.0)
    >>> float(r.energy_kwh), float(r.excess_hours)  # the 50 kW room of step 0 charges 50 kWh
    (50.0, 2.0)
    """
    model = linearise(battery)
    cap = float(model.capacity_kwh.sum())
    power = float(np.sum(np.asarray(battery.nominal_power_kw, dtype=float)))
    eta_c, eta_d = float(model.eta_charge.mean()), float(model.eta_discharge.mean())
    load = np.asarray(load_kw, dtype=float)
    mask = np.asarray(metered, dtype=bool)
    top = np.where(mask, level_kw, np.inf if limit_kw is None else limit_kw)
    excess = np.where(mask, np.clip(load - level_kw, 0.0, power), 0.0)
    free = np.maximum(top - load, 0.0)
    flexible = max(flexible_kwh, 0.0) if limit_kw is not None else 0.0
    first = int(np.argmax(mask)) if mask.any() else load.size
    need = 0.0
    for t in range(load.size - 1, -1, -1):
        room = free[t]
        if t < first and flexible > 0:
            taken = min(flexible / step_hours, room)
            flexible -= taken * step_hours
            room -= taken
        room = min(room, power)
        need = need + excess[t] * step_hours / eta_d - room * step_hours * eta_c
        need = min(max(need, 0.0), cap)
    return PeakReserve(need, float(np.count_nonzero(excess > 0) * step_hours))
