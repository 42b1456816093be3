"""From the site file to each asset's physics, written once.

The optimizer, the simulators (:mod:`bitgaram.simulate.park`,
:mod:`bitgaram.simulate.from_store`), the control loop's planner and the fleet
runs all turn a site file's battery into :class:`~bitgaram.assets.battery.BatteryParams`
here, so they cannot drift apart.

Sign and window conventions: the physics works on the **usable window**
``capacity * (soc_max - soc_min)`` [kWh]; stored energy ``0`` means the battery
sits at ``soc_min``. Add :func:`soc_floor_kwh` to go back to the energy the
battery's own meter reports.
"""

from __future__ import annotations

from typing import Literal

from bitgaram.assets.battery import BatteryParams
from bitgaram.errors import ConfigError
from bitgaram.site.model import BatteryAsset, Site

#: The physics a site-file battery can be given (see :func:`battery_params`).
BatteryModel = Literal["asset", "citylearn"]


def battery_params(
    asset: BatteryAsset, step_hours: float, model: BatteryModel = "asset"
) -> BatteryParams:
    """Battery physics of a site-file battery.

    Parameters
    ----------
    asset : BatteryAsset
        The asset (capacity [kWh], power [kW], efficiencies, SoC window).
    step_hours : float
        Step length [h].
    model : {"asset", "citylearn"}
        ``"asset"``: the usable window ``capacity * (soc_max - soc_min)``, full
        power at every SoC, the constant round-trip efficiency
        ``charge_efficiency * discharge_efficiency``, no fade. ``"citylearn"``:
        the CityLearn 2022 curves (power-dependent efficiency, derating above
        80 % SoC) on the same capacity and power.

    Returns
    -------
    BatteryParams
        Initial stored energy ``capacity * (initial_soc - soc_min)`` [kWh],
        clipped to the usable window: a battery said to start outside its
        window starts at its nearest edge (it can neither hold negative usable
        energy nor more than the window).

    Raises
    ------
    ConfigError
        If ``model`` is unknown.

    Examples
    --------
    >>> ess = BatteryAsset(id="ess", capacity_kwh=1000, power_kw=250, soc_min=0.1,
    ...                    soc_max=0.9, initial_soc=0.05, charge_efficiency=0.9,
    ...                    discharge_efficiency=0.9)
    >>> p = battery_params(ess, step_hours=0.25)
    >>> float(p.capacity_kwh), float(p.initial_soc_kwh), p.efficiency_curve[0][1]
    (800.0, 0.0, 0.81)
    """
    usable = asset.capacity_kwh * (asset.soc_max - asset.soc_min)
    initial = min(max(asset.capacity_kwh * (asset.initial_soc - asset.soc_min), 0.0), usable)
    if model == "citylearn":
        return BatteryParams(
            capacity_kwh=usable,
            nominal_power_kw=asset.power_kw,
            initial_soc_kwh=initial,
            step_hours=step_hours,
        )
    if model != "asset":
        raise ConfigError(f"unknown battery model {model!r}; use 'asset' or 'citylearn'")
    round_trip = asset.charge_efficiency * asset.discharge_efficiency
    return BatteryParams(
        capacity_kwh=usable,
        nominal_power_kw=asset.power_kw,
        initial_soc_kwh=initial,
        efficiency_curve=((0.0, round_trip), (1.0, round_trip)),
        power_curve=((0.0, 1.0), (1.0, 1.0)),
        efficiency_scaling=0.5,
        step_hours=step_hours,
    )


def soc_floor_kwh(asset: BatteryAsset) -> float:
    """Energy held at the bottom of the usable window, ``capacity * soc_min`` [kWh]."""
    return asset.capacity_kwh * asset.soc_min


def first_battery(site: Site) -> BatteryAsset | None:
    """The site's first battery (ESS) in file order, or None without one."""
    return next((a for a in site.assets if isinstance(a, BatteryAsset)), None)
