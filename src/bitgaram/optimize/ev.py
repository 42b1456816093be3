"""The EV fleet block of a park problem: smart charging with optional V2G.

For each vehicle plugged in during the horizon, and only over its plugged-in
steps, the block adds charge ``c >= 0`` and V2G discharge ``d >= 0`` [kWh] at the
grid side and the stored energy ``e`` [kWh] at the end of each step, with the
physics of :mod:`bitgaram.assets.ev`:

- ``e[t] = e[t-1] + eta c[t] - d[t] / eta``, ``e[-1]`` the measured (or arrival)
  energy; ``0 <= e <= capacity``; ``c <= P dt``, ``d <= P_v2g dt``;
- **departure energy (hard)**: ``e`` at the last plugged-in step ``>= required``;
  when the vehicle leaves after the horizon, ``e`` at the horizon end must be
  within reach of the requirement at full power in the remaining steps, so a
  plan never strands a vehicle;
- **the energy left for after the horizon** (given ``tail_rate``, the rates of the
  steps after it): what the vehicle still lacks at the horizon's end, up to its
  requirement, is bought in its cheapest plugged-in steps after the horizon, at
  their rates over the charger's efficiency (one column per distinct rate, as much
  as those steps can charge). Without it a plan would defer every charge to the
  last steps it can see before the departure, whatever they cost, and a V2G
  vehicle could sell now what it buys back later for free.

Infeasible input raises :class:`~bitgaram.errors.DataError` naming the vehicle
before anything is solved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bitgaram.assets.ev import ENERGY_TOL_KWH, Vehicle, max_charge_kwh
from bitgaram.errors import DataError
from bitgaram.optimize.cost_to_go import later_rates, rate_groups
from bitgaram.optimize.problem import LinearProgram

#: (horizon steps, columns, coefficient) whose sum over a step is energy drawn from the bus [kWh].
BusTerm = tuple[np.ndarray, np.ndarray, float]


@dataclass(frozen=True)
class EVBlock:
    """Columns of the fleet block.

    Attributes
    ----------
    vehicles : tuple of Vehicle
        Vehicles in the block, in order.
    steps : tuple of numpy.ndarray
        Horizon steps of each vehicle's variables.
    charge, discharge, energy : tuple of numpy.ndarray
        Columns per vehicle, aligned with ``steps``.
    """

    vehicles: tuple[Vehicle, ...]
    steps: tuple[np.ndarray, ...]
    charge: tuple[np.ndarray, ...]
    discharge: tuple[np.ndarray, ...]
    energy: tuple[np.ndarray, ...]

    def bus_terms(self) -> list[BusTerm]:
        """Terms of the fleet's grid energy ``c - d`` per horizon step."""
        out: list[BusTerm] = []
        for t, c, d in zip(self.steps, self.charge, self.discharge, strict=True):
            out += [(t, c, 1.0), (t, d, -1.0)]
        return out

    def grid_kwh(self, x: np.ndarray, horizon: int) -> np.ndarray:
        """Planned grid energy per vehicle and step [kWh], shape (V, H)."""
        out = np.zeros((len(self.vehicles), horizon))
        for i, (t, c, d) in enumerate(zip(self.steps, self.charge, self.discharge, strict=True)):
            out[i, t] = x[c] - x[d]
        return out


def add_ev_block(
    lp: LinearProgram,
    vehicles: Sequence[tuple[Vehicle, float]],
    start: int,
    horizon: int,
    step_hours: float,
    wear_cost: float = 0.0,
    tail_rate: np.ndarray | None = None,
) -> EVBlock:
    """Add the vehicles plugged in during ``start .. start + horizon``.

    Parameters
    ----------
    lp : LinearProgram
        The problem.
    vehicles : sequence of (Vehicle, float)
        Each vehicle with its stored energy now [kWh] (its arrival energy if not yet here).
    start : int
        Absolute step of the first horizon step.
    horizon : int
        Steps H.
    step_hours : float
        Step length [h].
    wear_cost : float
        Cost per kWh of V2G discharge [currency/kWh] (battery wear, >= 0).
    tail_rate : numpy.ndarray, optional
        Energy rates of the steps after the horizon [currency/kWh] (steps beyond it cost
        its mean): the price of the energy a vehicle leaving later still lacks at the
        horizon's end (module docstring). None: that energy costs nothing here.

    Raises
    ------
    DataError
        If a vehicle cannot reach its required energy from its current state.
    """
    kept: list[Vehicle] = []
    steps, charge, discharge, energy = [], [], [], []
    for v, stored in vehicles:
        a = max(v.arrival, start) - start
        b = min(v.departure, start + horizon) - start
        if b <= a:
            continue
        n = b - a
        e_max = max_charge_kwh(v, step_hours)
        after = v.departure - (start + b)  # plugged steps after the horizon
        need = v.required_kwh - after * e_max * v.efficiency
        reach = stored + n * e_max * v.efficiency
        if reach + ENERGY_TOL_KWH < need:
            raise DataError(
                f"vehicle {v.id!r} cannot reach {v.required_kwh:.1f} kWh by its departure "
                f"(at most {reach + after * e_max * v.efficiency:.1f} kWh from "
                f"{stored:.1f} kWh now at {v.charger_kw:g} kW)"
            )
        c = lp.add_variables((n,), 0.0, e_max)
        d = lp.add_variables((n,), 0.0, v.v2g_kw * step_hours, cost=wear_cost)
        e_lb = np.zeros(n)
        e_lb[-1] = min(max(need, 0.0), v.capacity_kwh)
        e = lp.add_variables((n,), e_lb, v.capacity_kwh)
        r = np.arange(n)
        terms = [(r, e, 1.0), (r, c, -v.efficiency), (r, d, 1.0 / v.efficiency)]
        if n > 1:
            terms.append((r[1:], e[:-1], -1.0))
        rhs = np.zeros(n)
        rhs[0] = stored
        lp.add_rows(n, terms, lb=rhs, ub=rhs)
        wanted = min(v.required_kwh, v.capacity_kwh)
        if tail_rate is not None and after > 0 and wanted > 0:
            rates, count = rate_groups(later_rates(tail_rate, 0, after))
            later = lp.add_variables(
                (rates.size,), 0.0, count * e_max * v.efficiency, cost=rates / v.efficiency
            )
            lp.add_rows(1, [(0, e[-1], 1.0), (np.zeros(rates.size, int), later, 1.0)], lb=wanted)
        kept.append(v)
        steps.append(np.arange(a, b))
        charge.append(c)
        discharge.append(d)
        energy.append(e)
    return EVBlock(tuple(kept), tuple(steps), tuple(charge), tuple(discharge), tuple(energy))
