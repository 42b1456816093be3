"""The demand-charge term: the horizon's 15-minute peak priced by the tariff's marginal charge.

With ``P`` the largest average import power [kW] over the horizon's metered steps
(periods the tariff excludes from the demand reading, e.g. light load, do not
count), the term adds :class:`~bitgaram.tariff.marginal.DemandChargeSlope`'s
convex piecewise-linear cost::

    rate * max(0, P - threshold_kw) + excess_rate * max(0, P - excess_threshold_kw)

as ``P >= grid[t] / step_hours`` on metered steps and two non-negative slacks.
The threshold is the running billing demand (ratchet, 30 % contract floor and
the month's peak so far), so a peak below what the month already pays costs
nothing more, exactly the tariff's marginal demand charge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitgaram.optimize.problem import LinearProgram
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

    Returns
    -------
    DemandTerm
    """
    peak = int(lp.add_variables((1,), 0.0)[0])
    over = int(lp.add_variables((1,), 0.0, cost=slope.rate)[0])
    exc_cost = slope.excess_rate if np.isfinite(slope.excess_threshold_kw) else 0.0
    excess = int(lp.add_variables((1,), 0.0, cost=exc_cost)[0])
    cols = np.asarray(grid_cols)[np.asarray(metered, dtype=bool)]
    if cols.size:
        r = np.arange(cols.size)
        lp.add_rows(cols.size, [(r, cols, 1.0 / step_hours), (r, peak, -1.0)], ub=0.0)
    lp.add_rows(1, [(0, over, 1.0), (0, peak, -1.0)], lb=-slope.threshold_kw)
    if np.isfinite(slope.excess_threshold_kw):
        lp.add_rows(1, [(0, excess, 1.0), (0, peak, -1.0)], lb=-slope.excess_threshold_kw)
    return DemandTerm(peak=peak, over=over, excess=excess)
