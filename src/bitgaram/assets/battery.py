"""Battery physics, described once for the simulator and the optimizer.

The model is the one of the CityLearn Challenge 2022 simulator (CityLearn
1.3.6 ``Battery``):

- the request of one step is an energy ``e`` [kWh] at the grid side,
  positive = charge, clipped to the power limit ``P_max(soc)`` which is the
  nominal power times a derating curve of the state of charge at the start of
  the step (full power up to 80 % SoC, 20 % at 100 %; CityLearn applies the
  same limit to charge and discharge);
- the one-way efficiency is ``curve(|e| / P_nom) ** efficiency_scaling``
  (power-dependent; ``efficiency_scaling = 0.5`` turns the round-trip curve into
  a one-way efficiency);
- charging stores ``e * eta`` (capped at the capacity), discharging removes
  ``|e| / eta`` (floored at 0); the energy exchanged with the grid is the
  realised SoC change divided (charge) or multiplied (discharge) by ``eta``;
- the capacity fades by ``capacity_loss_coefficient * capacity_0 * |grid
  energy| / (2 * capacity)`` per step; a standing loss ``loss_coefficient``
  removes that fraction of the stored energy at the start of each step.

All functions are pure and vectorised over batteries (arrays of equal shape or
scalars), so a site of 100 batteries is stepped with a handful of numpy calls.

Sign convention: energy into the battery from the site bus is positive [kWh].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from bitgaram.datasets.citylearn import BatterySpec
from bitgaram.errors import ConfigError

#: CityLearn 2022 round-trip efficiency versus normalised power (|e| / P_nom).
CITYLEARN_EFFICIENCY_CURVE: tuple[tuple[float, float], ...] = (
    (0.0, 0.83),
    (0.3, 0.83),
    (0.7, 0.9),
    (0.8, 0.9),
    (1.0, 0.85),
)

#: CityLearn 2022 maximum power (fraction of nominal) versus SoC fraction.
CITYLEARN_POWER_CURVE: tuple[tuple[float, float], ...] = ((0.0, 1.0), (0.8, 1.0), (1.0, 0.2))


@dataclass(frozen=True)
class BatteryParams:
    """Parameters of one battery (or, with array fields, of a fleet).

    Parameters
    ----------
    capacity_kwh : float or numpy.ndarray
        Initial usable capacity [kWh].
    nominal_power_kw : float or numpy.ndarray
        Nominal charge/discharge power [kW].
    capacity_loss_coefficient : float or numpy.ndarray
        Capacity fade per unit of normalised throughput [-].
    loss_coefficient : float or numpy.ndarray
        Standing loss per step as a fraction of the stored energy [-].
    initial_soc_kwh : float or numpy.ndarray
        Stored energy before the first step [kWh].
    efficiency_curve : tuple of (float, float)
        Round-trip efficiency versus normalised power, increasing x.
    power_curve : tuple of (float, float)
        Maximum power fraction versus SoC fraction, increasing x.
    efficiency_scaling : float
        Exponent turning a curve value into the one-way efficiency [-].
    step_hours : float
        Length of a step [h]; power limits [kW] times this give energies [kWh].
    """

    capacity_kwh: float | np.ndarray
    nominal_power_kw: float | np.ndarray
    capacity_loss_coefficient: float | np.ndarray = 0.0
    loss_coefficient: float | np.ndarray = 0.0
    initial_soc_kwh: float | np.ndarray = 0.0
    efficiency_curve: tuple[tuple[float, float], ...] = field(default=CITYLEARN_EFFICIENCY_CURVE)
    power_curve: tuple[tuple[float, float], ...] = field(default=CITYLEARN_POWER_CURVE)
    efficiency_scaling: float = 0.5
    step_hours: float = 1.0

    def __post_init__(self) -> None:
        if np.any(np.asarray(self.capacity_kwh) <= 0):
            raise ConfigError("battery capacity_kwh must be > 0")
        if np.any(np.asarray(self.nominal_power_kw) <= 0):
            raise ConfigError("battery nominal_power_kw must be > 0")
        for name, curve in (
            ("efficiency_curve", self.efficiency_curve),
            ("power_curve", self.power_curve),
        ):
            xs = [p[0] for p in curve]
            if len(curve) < 2 or any(b <= a for a, b in pairwise(xs)):
                raise ConfigError(f"battery {name} needs >= 2 points with increasing x")

    @classmethod
    def from_spec(cls, spec: BatterySpec, step_hours: float = 1.0) -> BatteryParams:
        """Parameters of a CityLearn battery (CityLearn 2022 curves).

        Parameters
        ----------
        spec : BatterySpec
            Battery as read from ``schema.json``.
        step_hours : float
            Step length [h].
        """
        return cls(
            capacity_kwh=spec.capacity_kwh,
            nominal_power_kw=spec.nominal_power_kw,
            capacity_loss_coefficient=spec.capacity_loss_coefficient,
            loss_coefficient=spec.loss_coefficient,
            initial_soc_kwh=spec.initial_soc * spec.capacity_kwh,
            step_hours=step_hours,
        )


def stack(params: list[BatteryParams]) -> BatteryParams:
    """Combine batteries with the same curves into one vectorised fleet.

    Raises
    ------
    ConfigError
        If the list is empty or the batteries' curves or step lengths differ.
    """
    if not params:
        raise ConfigError("stack() needs at least one battery")
    first = params[0]
    for p in params[1:]:
        if (p.efficiency_curve, p.power_curve, p.efficiency_scaling, p.step_hours) != (
            first.efficiency_curve,
            first.power_curve,
            first.efficiency_scaling,
            first.step_hours,
        ):
            raise ConfigError("batteries of one fleet must share curves and step length")

    def col(name: str) -> np.ndarray:
        return np.array([float(np.asarray(getattr(p, name))) for p in params])

    return BatteryParams(
        capacity_kwh=col("capacity_kwh"),
        nominal_power_kw=col("nominal_power_kw"),
        capacity_loss_coefficient=col("capacity_loss_coefficient"),
        loss_coefficient=col("loss_coefficient"),
        initial_soc_kwh=col("initial_soc_kwh"),
        efficiency_curve=first.efficiency_curve,
        power_curve=first.power_curve,
        efficiency_scaling=first.efficiency_scaling,
        step_hours=first.step_hours,
    )


@dataclass(frozen=True)
class BatteryState:
    """State of a battery (or fleet) between steps.

    Attributes
    ----------
    soc_kwh : numpy.ndarray
        Stored energy [kWh].
    capacity_kwh : numpy.ndarray
        Current (faded) capacity [kWh].
    """

    soc_kwh: np.ndarray
    capacity_kwh: np.ndarray


def initial_state(params: BatteryParams) -> BatteryState:
    """State before the first step (initial SoC, full capacity)."""
    cap = np.atleast_1d(np.asarray(params.capacity_kwh, dtype=float)).copy()
    soc = np.broadcast_to(np.asarray(params.initial_soc_kwh, dtype=float), cap.shape).copy()
    return BatteryState(soc_kwh=soc, capacity_kwh=cap)


def max_power(params: BatteryParams, soc_kwh: np.ndarray, capacity_kwh: np.ndarray) -> np.ndarray:
    """Maximum charge or discharge energy of the next step [kWh].

    ``P_nom * power_curve(soc / capacity) * step_hours`` with ``soc`` the stored
    energy after the standing loss (CityLearn applies it to both directions).
    """
    x, y = np.array(params.power_curve).T
    frac = np.interp(np.asarray(soc_kwh) / np.asarray(capacity_kwh), x, y)
    return np.asarray(params.nominal_power_kw) * frac * params.step_hours


def one_way_efficiency(params: BatteryParams, energy_kwh: np.ndarray) -> np.ndarray:
    """One-way efficiency for a grid-side energy per step [-].

    ``efficiency_curve(|e| / (P_nom * step_hours)) ** efficiency_scaling``.
    """
    x, y = np.array(params.efficiency_curve).T
    norm = np.abs(np.asarray(energy_kwh)) / (
        np.asarray(params.nominal_power_kw) * params.step_hours
    )
    return np.asarray(np.interp(norm, x, y) ** params.efficiency_scaling)


@dataclass(frozen=True)
class StepResult:
    """Outcome of one step of a battery (or fleet).

    Attributes
    ----------
    state : BatteryState
        State after the step.
    grid_energy_kwh : numpy.ndarray
        Energy drawn from (+) or delivered to (-) the site bus [kWh].
    efficiency : numpy.ndarray
        One-way efficiency applied [-].
    """

    state: BatteryState
    grid_energy_kwh: np.ndarray
    efficiency: np.ndarray


def step(params: BatteryParams, state: BatteryState, request_kwh: np.ndarray) -> StepResult:
    """Apply a requested grid-side energy for one step (CityLearn 2022 physics).

    Parameters
    ----------
    params : BatteryParams
        Battery or fleet parameters.
    state : BatteryState
        State at the start of the step.
    request_kwh : numpy.ndarray
        Requested energy into (+) or out of (-) each battery [kWh].

    Returns
    -------
    StepResult
        New state and the energy actually exchanged with the site bus [kWh].

    Examples
    --------
    >>> p = BatteryParams(capacity_kwh=6.4, nominal_power_kw=5.0)
    >>> r = step(p, initial_state(p), np.array([3.0]))
    >>> round(float(r.state.soc_kwh[0]), 4), round(float(r.grid_energy_kwh[0]), 4)
    (2.7, 3.0)
    """
    cap = state.capacity_kwh
    soc0 = state.soc_kwh * (1.0 - np.asarray(params.loss_coefficient))
    req = np.broadcast_to(np.asarray(request_kwh, dtype=float), cap.shape)
    limit = max_power(params, soc0, cap)
    energy = np.clip(req, -limit, limit)
    eta = one_way_efficiency(params, energy)
    soc = np.where(
        energy >= 0, np.minimum(soc0 + energy * eta, cap), np.maximum(0.0, soc0 + energy / eta)
    )
    delta = soc - state.soc_kwh * (1.0 - np.asarray(params.loss_coefficient))
    grid = np.where(delta >= 0, delta / eta, delta * eta)
    cap0 = np.asarray(params.capacity_kwh, dtype=float)
    fade = np.asarray(params.capacity_loss_coefficient) * cap0 * np.abs(grid) / (2.0 * cap)
    return StepResult(
        state=BatteryState(soc_kwh=soc, capacity_kwh=cap - fade),
        grid_energy_kwh=grid,
        efficiency=eta,
    )


@dataclass(frozen=True)
class LinearBattery:
    """Linear (LP) approximation of a battery, for the optimizer.

    Attributes
    ----------
    capacity_kwh : numpy.ndarray
        Capacity [kWh].
    max_energy_kwh : numpy.ndarray
        Nominal energy per step (power limit times step) [kWh].
    eta_charge, eta_discharge : numpy.ndarray
        One-way efficiencies [-].
    derate_start : float
        SoC fraction above which the power limit falls linearly [-].
    derate_end_fraction : float
        Power fraction at full SoC [-].
    """

    capacity_kwh: np.ndarray
    max_energy_kwh: np.ndarray
    eta_charge: np.ndarray
    eta_discharge: np.ndarray
    derate_start: float
    derate_end_fraction: float


def linearise(params: BatteryParams, capacity_kwh: np.ndarray | None = None) -> LinearBattery:
    """Linear model of a battery for the optimizer.

    The power-dependent efficiency is replaced by the one-way efficiency at
    the mean of the curve over the allowed power range (the LP cannot follow a
    non-convex curve; using the curve's best point would overstate arbitrage
    gains, its worst point would understate them). The SoC derating is kept
    exactly as the linear constraint ``e <= P * (1 - (1 - f) * (soc/cap - s0) /
    (1 - s0))`` when the curve is flat then linear (the CityLearn shape);
    otherwise derating is ignored.
    """
    cap = np.atleast_1d(
        np.asarray(params.capacity_kwh if capacity_kwh is None else capacity_kwh, dtype=float)
    )
    x, y = np.array(params.efficiency_curve).T
    grid = np.linspace(0.0, 1.0, 101)
    eta = float(np.mean(np.interp(grid, x, y)) ** params.efficiency_scaling)
    pc = params.power_curve
    if len(pc) == 3 and pc[0][1] == pc[1][1] == 1.0 and pc[2][0] == 1.0:
        start, end = pc[1][0], pc[2][1]
    else:
        start, end = 1.0, 1.0
    e_max = np.broadcast_to(
        np.asarray(params.nominal_power_kw, dtype=float) * params.step_hours, cap.shape
    )
    return LinearBattery(
        capacity_kwh=cap,
        max_energy_kwh=e_max.copy(),
        eta_charge=np.full(cap.shape, eta),
        eta_discharge=np.full(cap.shape, eta),
        derate_start=float(start),
        derate_end_fraction=float(end),
    )
