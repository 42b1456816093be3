"""EV fleet physics, described once for the optimizer and the simulator.

A vehicle is plugged in from step ``arrival`` (inclusive) to step ``departure``
(exclusive) on a charger of ``charger_kw``; it arrives with ``arrival_kwh``
stored and must leave with at least ``required_kwh``. Charging from the site bus
``c`` [kWh per step] stores ``eta * c``; vehicle-to-grid discharge ``d`` removes
``d / eta`` (only if ``v2g_kw > 0``). Stored energy stays within
``[0, capacity_kwh]``.

The **laxity** of a vehicle is the number of steps it could still stay idle and
reach its required energy at full power; at zero laxity the charge is no longer
optional. :func:`must_charge_kwh` turns that into the minimum charge of the
current step, which the simulator enforces under every controller (a real
charge-point manager does the same), so every feasible vehicle leaves with its
energy.

Sign convention: energy into the vehicle from the site bus is positive [kWh].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bitgaram.errors import DataError

#: Slack on energy comparisons [kWh]: solver round-off, far below metering resolution.
ENERGY_TOL_KWH = 1e-6


@dataclass(frozen=True)
class Vehicle:
    """One charging session of one vehicle.

    Attributes
    ----------
    id : str
        Vehicle (session) name, used in error messages.
    arrival, departure : int
        First plugged-in step and first step after it leaves (absolute step numbers).
    arrival_kwh : float
        Stored energy on arrival [kWh].
    required_kwh : float
        Stored energy needed at departure [kWh].
    capacity_kwh : float
        Battery capacity [kWh].
    charger_kw : float
        Charging power limit [kW].
    v2g_kw : float
        Discharge (vehicle-to-grid) power limit [kW]; 0 = no V2G.
    efficiency : float
        One-way charge/discharge efficiency [-].
    known_from : int
        First step at which a controller may know the session (default: arrival).
    tenant : str
        Tenant whose fleet it is.
    """

    id: str
    arrival: int
    departure: int
    arrival_kwh: float
    required_kwh: float
    capacity_kwh: float
    charger_kw: float
    v2g_kw: float = 0.0
    efficiency: float = 0.95
    known_from: int | None = None
    tenant: str = ""

    def __post_init__(self) -> None:
        if self.departure <= self.arrival:
            raise DataError(f"vehicle {self.id!r}: departure must be after arrival")
        if not 0 < self.efficiency <= 1:
            raise DataError(f"vehicle {self.id!r}: efficiency must be in (0, 1]")
        if self.charger_kw <= 0 or self.v2g_kw < 0:
            raise DataError(f"vehicle {self.id!r}: charger_kw must be > 0 and v2g_kw >= 0")
        if self.required_kwh > self.capacity_kwh + ENERGY_TOL_KWH:
            raise DataError(
                f"vehicle {self.id!r}: required {self.required_kwh:.1f} kWh exceeds its "
                f"battery capacity {self.capacity_kwh:.1f} kWh"
            )

    @property
    def known(self) -> int:
        """Step from which the session is known to a causal controller."""
        return self.arrival if self.known_from is None else self.known_from


def max_charge_kwh(vehicle: Vehicle, step_hours: float) -> float:
    """Grid-side charge limit of one step [kWh]."""
    return vehicle.charger_kw * step_hours


def check_vehicles(vehicles: Sequence[Vehicle], step_hours: float) -> None:
    """Check that every vehicle can reach its required energy at full power.

    Raises
    ------
    DataError
        Naming the first vehicle that cannot, with the energy it lacks [kWh].
    """
    for v in vehicles:
        steps = v.departure - v.arrival
        reach = v.arrival_kwh + steps * max_charge_kwh(v, step_hours) * v.efficiency
        if reach + ENERGY_TOL_KWH < v.required_kwh:
            raise DataError(
                f"vehicle {v.id!r} cannot reach {v.required_kwh:.1f} kWh by its departure: "
                f"{steps} steps at {v.charger_kw:g} kW give at most {reach:.1f} kWh "
                f"(short by {v.required_kwh - reach:.1f} kWh); lengthen the stay or lower "
                "the requirement"
            )


def must_charge_kwh(vehicle: Vehicle, stored_kwh: float, step: int, step_hours: float) -> float:
    """Minimum grid-side charge of ``step`` that keeps the departure energy reachable [kWh].

    Zero while the vehicle has laxity; at most the charger limit.
    """
    if not vehicle.arrival <= step < vehicle.departure:
        return 0.0
    e_max = max_charge_kwh(vehicle, step_hours)
    later = (vehicle.departure - step - 1) * e_max * vehicle.efficiency
    short = vehicle.required_kwh - stored_kwh - later
    return float(min(max(short / vehicle.efficiency, 0.0), e_max))


def step_vehicle(
    vehicle: Vehicle, stored_kwh: float, request_kwh: float, step: int, step_hours: float
) -> tuple[float, float]:
    """Apply a requested grid-side energy for one step.

    The request is clipped to the plug-in window, the charger and V2G limits, the
    battery's capacity and empty state, and raised to :func:`must_charge_kwh`.

    Returns
    -------
    tuple of float
        ``(stored energy after the step [kWh], grid energy [kWh], + = charge)``.

    Examples
    --------
    >>> v = Vehicle("van", 0, 4, 10.0, 20.0, 60.0, charger_kw=11.0)
    >>> step_vehicle(v, 18.0, 0.0, 3, 0.25)[0] >= 20.0 - 1e-9  # last step: forced
    True
    """
    if not vehicle.arrival <= step < vehicle.departure:
        return stored_kwh, 0.0
    eta = vehicle.efficiency
    hi = min(max_charge_kwh(vehicle, step_hours), (vehicle.capacity_kwh - stored_kwh) / eta)
    lo = -min(vehicle.v2g_kw * step_hours, stored_kwh * eta)
    lo = max(lo, must_charge_kwh(vehicle, stored_kwh, step, step_hours))
    grid = float(min(max(request_kwh, lo), max(hi, lo)))
    stored = stored_kwh + (grid * eta if grid >= 0 else grid / eta)
    return stored, grid


def asap_kwh(vehicle: Vehicle, stored_kwh: float, step: int, step_hours: float) -> float:
    """Uncontrolled charging: full power from arrival until the required energy [kWh]."""
    if not vehicle.arrival <= step < vehicle.departure:
        return 0.0
    need = (vehicle.required_kwh - stored_kwh) / vehicle.efficiency
    return float(min(max(need, 0.0), max_charge_kwh(vehicle, step_hours)))


def steps_needed(vehicle: Vehicle, stored_kwh: float, step_hours: float) -> int:
    """Steps at full power to reach the required energy from ``stored_kwh``."""
    need = max(vehicle.required_kwh - stored_kwh, 0.0)
    per = max_charge_kwh(vehicle, step_hours) * vehicle.efficiency
    return math.ceil(need / per - 1e-9)


def fleet_arrays(
    vehicles: Sequence[Vehicle], start: int, horizon: int, step_hours: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-step charge and V2G limits of a fleet over a window [kWh], each (V, H)."""
    t = np.arange(start, start + horizon)
    arr = np.array([v.arrival for v in vehicles])[:, None]
    dep = np.array([v.departure for v in vehicles])[:, None]
    plugged = (t[None, :] >= arr) & (t[None, :] < dep)
    ch = np.array([v.charger_kw for v in vehicles])[:, None] * step_hours
    dis = np.array([v.v2g_kw for v in vehicles])[:, None] * step_hours
    return np.where(plugged, ch, 0.0), np.where(plugged, dis, 0.0)
