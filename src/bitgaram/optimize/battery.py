"""The battery block of a site LP: variables and constraints over (battery, time).

For battery ``b`` and step ``t`` of the horizon the block adds grid-side charge
``c[b, t] >= 0`` and discharge ``d[b, t] >= 0`` energies [kWh] and the stored
energy at the end of the step ``s[b, t]`` [kWh], with

- dynamics ``s[t] = (1 - loss) s[t-1] + eta_c c[t] - d[t] / eta_d``, where
  ``s[-1]`` is the measured SoC (a row bound, so re-planning from a new SoC only
  changes bounds);
- power limits ``c, d <= P`` and the SoC derating of
  :func:`bitgaram.assets.battery.linearise` (``c[t], d[t] <= P (1 - (1 - f)
  (s[t-1]/cap - s0) / (1 - s0))``), a column bound at ``t = 0``;
- SoC bounds ``0 <= s <= capacity`` (the current, faded capacity).

The physics comes from :mod:`bitgaram.assets.battery`; this module only
writes its linearisation into a :class:`~bitgaram.optimize.problem.LinearProgram`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bitgaram.assets.battery import BatteryParams, LinearBattery, linearise
from bitgaram.optimize.problem import LinearProgram, Term


@dataclass(frozen=True)
class BatteryBlock:
    """Indices of a battery fleet's variables and rows in a site LP.

    Attributes
    ----------
    model : LinearBattery
        The linearised fleet (B batteries).
    charge, discharge, soc : numpy.ndarray
        Column indices, shape (B, H).
    dynamics_t0 : numpy.ndarray
        Row indices of the first dynamics row of each battery, shape (B,).
    loss : numpy.ndarray
        Standing loss per step of each battery [-].
    dynamics : numpy.ndarray
        Row indices of all dynamics rows, shape (B, H) (``dynamics[:, 0] == dynamics_t0``).
    derate_rows : numpy.ndarray
        Row indices of the derating rows of charge and discharge at steps
        ``1 .. H-1``, shape (2, B, H-1); (2, B, 0) when the fleet has no derating.
    """

    model: LinearBattery
    charge: np.ndarray
    discharge: np.ndarray
    soc: np.ndarray
    dynamics_t0: np.ndarray
    loss: np.ndarray
    dynamics: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=int))
    derate_rows: np.ndarray = field(default_factory=lambda: np.zeros((2, 0, 0), dtype=int))

    @property
    def n_batteries(self) -> int:
        """Number of batteries B."""
        return int(self.charge.shape[0])

    def grid_terms(self) -> list[tuple[np.ndarray, float]]:
        """``(columns (B, H), sign)`` pairs whose sum is the grid energy ``c - d`` [kWh]."""
        return [(self.charge, 1.0), (self.discharge, -1.0)]

    def derated_limit(self, soc_kwh: np.ndarray, capacity_kwh: np.ndarray) -> np.ndarray:
        """Power limit of the first step for a measured SoC [kWh per step], shape (B,)."""
        m = self.model
        if m.derate_start >= 1.0:
            return m.max_energy_kwh.copy()
        frac = 1.0 - (1.0 - m.derate_end_fraction) * (soc_kwh / capacity_kwh - m.derate_start) / (
            1.0 - m.derate_start
        )
        return m.max_energy_kwh * np.clip(frac, m.derate_end_fraction, 1.0)

    def apply_state(
        self,
        col_lb: np.ndarray,
        col_ub: np.ndarray,
        row_lb: np.ndarray,
        row_ub: np.ndarray,
        soc_kwh: np.ndarray,
        capacity_kwh: np.ndarray,
    ) -> None:
        """Write the measured SoC and capacity into full bound arrays (in place)."""
        soc0 = np.minimum(np.maximum(soc_kwh, 0.0), capacity_kwh) * (1.0 - self.loss)
        row_lb[self.dynamics_t0] = soc0
        row_ub[self.dynamics_t0] = soc0
        col_ub[self.soc] = capacity_kwh[:, None]
        limit = self.derated_limit(soc0, capacity_kwh)
        col_ub[self.charge[:, 0]] = limit
        col_ub[self.discharge[:, 0]] = np.minimum(limit, soc0 * self.model.eta_discharge)


def add_battery_block(lp: LinearProgram, params: BatteryParams, horizon: int) -> BatteryBlock:
    """Add a battery fleet's variables and constraints over ``horizon`` steps.

    Parameters
    ----------
    lp : LinearProgram
        The site problem being built.
    params : BatteryParams
        Fleet parameters (array fields, B batteries).
    horizon : int
        Number of steps H.

    Returns
    -------
    BatteryBlock
        Column and row indices; initial bounds assume an empty battery.
    """
    m = linearise(params)
    n_b = m.capacity_kwh.size
    shape = (n_b, horizon)
    e_max = m.max_energy_kwh[:, None]
    c = lp.add_variables(shape, 0.0, np.broadcast_to(e_max, shape))
    d = lp.add_variables(shape, 0.0, np.broadcast_to(e_max, shape))
    s = lp.add_variables(shape, 0.0, np.broadcast_to(m.capacity_kwh[:, None], shape))
    loss = np.broadcast_to(np.asarray(params.loss_coefficient, dtype=float), (n_b,)).copy()

    rows = np.arange(n_b * horizon).reshape(shape)
    terms: list[Term] = [
        (rows, s, 1.0),
        (rows, c, -m.eta_charge[:, None]),
        (rows, d, 1.0 / m.eta_discharge[:, None]),
    ]
    if horizon > 1:
        terms.append((rows[:, 1:], s[:, :-1], -(1.0 - loss)[:, None]))
    dyn = lp.add_rows(n_b * horizon, terms, lb=0.0, ub=0.0).reshape(shape)

    derate = np.zeros((2, n_b, 0), dtype=int)
    if m.derate_start < 1.0 and horizon > 1:
        # c[t] + k s[t-1] <= P (1 + (1 - f) s0 / (1 - s0)), k = P (1 - f) / ((1 - s0) cap).
        span = 1.0 - m.derate_start
        k = m.max_energy_kwh * (1.0 - m.derate_end_fraction) / (span * m.capacity_kwh)
        rhs = m.max_energy_kwh * (1.0 + (1.0 - m.derate_end_fraction) * m.derate_start / span)
        n = n_b * (horizon - 1)
        r = np.arange(n).reshape(n_b, horizon - 1)
        ub = np.broadcast_to(rhs[:, None], r.shape).ravel()
        derate = np.stack(
            [
                lp.add_rows(n, [(r, var[:, 1:], 1.0), (r, s[:, :-1], k[:, None])], ub=ub).reshape(
                    r.shape
                )
                for var in (c, d)
            ]
        )
    return BatteryBlock(
        model=m,
        charge=c,
        discharge=d,
        soc=s,
        dynamics_t0=dyn[:, 0],
        loss=loss,
        dynamics=dyn,
        derate_rows=derate,
    )
