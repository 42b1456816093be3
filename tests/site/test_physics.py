"""One conversion from a site-file battery to its physics, used by every consumer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bitgaram.assets.battery import CITYLEARN_EFFICIENCY_CURVE, initial_state, step
from bitgaram.control.planner import site_battery
from bitgaram.errors import ConfigError
from bitgaram.simulate.from_store import battery_from_asset
from bitgaram.simulate.park import load_park_case
from bitgaram.site.model import BatteryAsset, load_site
from bitgaram.site.physics import battery_params, first_battery, soc_floor_kwh

PARK = Path(__file__).resolve().parents[2] / "data" / "industrial_park"


def ess(**kw: float) -> BatteryAsset:
    values: dict[str, float] = dict(
        capacity_kwh=1000.0,
        power_kw=250.0,
        soc_min=0.1,
        soc_max=0.9,
        initial_soc=0.5,
        charge_efficiency=0.9,
        discharge_efficiency=0.95,
    )
    values.update(kw)
    return BatteryAsset(id="ess", **values)  # type: ignore[arg-type]


def test_usable_window_constant_efficiency_and_full_power() -> None:
    p = battery_params(ess(), step_hours=0.25)
    assert float(p.capacity_kwh) == pytest.approx(800.0)  # 1000 * (0.9 - 0.1)
    assert float(p.initial_soc_kwh) == pytest.approx(400.0)  # 1000 * (0.5 - 0.1)
    assert float(p.nominal_power_kw) == 250.0 and p.step_hours == 0.25
    assert p.efficiency_curve == ((0.0, pytest.approx(0.855)), (1.0, pytest.approx(0.855)))
    assert p.power_curve == ((0.0, 1.0), (1.0, 1.0))
    assert soc_floor_kwh(ess()) == pytest.approx(100.0)
    # One step at full charge power stores power * dt * sqrt(round trip), as the physics says.
    result = step(p, initial_state(p), np.array([1e9]))
    assert float(result.grid_energy_kwh[0]) == pytest.approx(250.0 * 0.25)
    assert float(result.state.soc_kwh[0]) == pytest.approx(400.0 + 62.5 * np.sqrt(0.855))


@pytest.mark.parametrize(("initial", "expected"), [(0.05, 0.0), (0.1, 0.0), (0.95, 800.0)])
def test_a_start_outside_the_window_is_clipped_to_its_edge(initial: float, expected: float) -> None:
    # The copies that differed let a start below soc_min become negative usable energy.
    p = battery_params(ess(initial_soc=initial), step_hours=1.0)
    assert float(p.initial_soc_kwh) == pytest.approx(expected)


def test_citylearn_model_keeps_the_window_and_its_curves() -> None:
    p = battery_params(ess(), step_hours=1.0, model="citylearn")
    assert float(p.capacity_kwh) == pytest.approx(800.0)
    assert p.efficiency_curve == CITYLEARN_EFFICIENCY_CURVE
    with pytest.raises(ConfigError, match="unknown battery model"):
        battery_params(ess(), 1.0, model="lithium")  # type: ignore[arg-type]


def test_every_consumer_uses_the_same_conversion() -> None:
    site = load_site(PARK / "site.toml")
    bat = first_battery(site)
    assert bat is not None
    expected = battery_params(bat, 0.25)
    planned = site_battery(site, 0.25)
    assert planned == (bat.id, expected, soc_floor_kwh(bat))
    assert battery_from_asset(bat, 0.25) == expected
    case = load_park_case(PARK, days=1)
    assert case.battery == battery_params(bat, case.step_hours)
