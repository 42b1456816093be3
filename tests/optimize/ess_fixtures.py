"""A small ESS with flat curves for the demand, reserve and cost-to-go tests."""

from __future__ import annotations

from bitgaram.assets.battery import BatteryParams


def flat_ess(
    capacity: float = 400.0, power: float = 200.0, eta: float = 1.0, step_hours: float = 0.25
) -> BatteryParams:
    """An empty ESS of ``capacity`` [kWh] and ``power`` [kW], efficiency ``eta`` each way."""
    return BatteryParams(
        capacity_kwh=capacity,
        nominal_power_kw=power,
        initial_soc_kwh=0.0,
        efficiency_curve=((0.0, eta), (1.0, eta)),
        power_curve=((0.0, 1.0), (1.0, 1.0)),
        step_hours=step_hours,
    )
