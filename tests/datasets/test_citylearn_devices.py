"""CityLearn 2023-format datasets: every declared device recognised (issue 21).

Each test writes a small dataset of its own (two buildings, two days): building A has a
heat pump for cooling, an electric heater for hot water and a battery; building B a heat
pump for heating and, in some tests, a hot-water storage tank bitgaram cannot control.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bitgaram.cli import app
from bitgaram.datasets.citylearn import UnsupportedDeviceError, heat_pump_cop, read_citylearn

N = 48


def _write(root: Path, tank: bool = False, extra: dict[str, object] | None = None) -> Path:
    root.mkdir()
    hours = np.arange(N)
    cal = pd.DataFrame(
        {
            "month": 7,
            "hour": hours % 24 + 1,
            "day_type": np.where(hours < 24, 5, 6),
            "daylight_savings_status": 0,
        }
    )
    rng = np.random.default_rng(3)
    for name, cooling, heating in (("A", 2.0, 0.0), ("B", 0.0, 1.5)):
        frame = cal.copy()
        frame["non_shiftable_load"] = 1.0 + rng.random(N)
        frame["dhw_demand"] = 0.5
        frame["cooling_demand"] = cooling
        frame["heating_demand"] = heating
        frame["solar_generation"] = np.clip(np.sin((hours % 24 - 6) / 12 * np.pi), 0, None) * 500
        frame.to_csv(root / f"{name}.csv", index=False)
    temp = 20.0 + 8.0 * np.sin(hours / 24 * 2 * np.pi)
    pd.DataFrame({"outdoor_dry_bulb_temperature": temp}).to_csv(root / "weather.csv", index=False)
    pd.DataFrame({"electricity_pricing": np.full(N, 0.2)}).to_csv(root / "pricing.csv", index=False)
    pd.DataFrame({"carbon_intensity": np.full(N, 0.4)}).to_csv(
        root / "carbon_intensity.csv", index=False
    )
    shared = {"weather": "weather.csv", "pricing": "pricing.csv"}
    shared["carbon_intensity"] = "carbon_intensity.csv"
    hp = "citylearn.energy_model.HeatPump"
    a: dict[str, object] = {
        "include": True,
        "energy_simulation": "A.csv",
        **shared,
        "cooling_device": {
            "type": hp,
            "attributes": {"efficiency": 0.25, "target_cooling_temperature": 8.0},
        },
        "dhw_device": {
            "type": "citylearn.energy_model.ElectricHeater",
            "attributes": {"efficiency": 0.9},
        },
        "electrical_storage": {
            "type": "citylearn.energy_model.Battery",
            "attributes": {"capacity": 6.4, "nominal_power": 5.0},
        },
        "pv": {"type": "citylearn.energy_model.PV", "attributes": {"nominal_power": 4.0}},
    }
    b: dict[str, object] = {
        "include": True,
        "energy_simulation": "B.csv",
        **shared,
        "heating_device": {
            "type": hp,
            "attributes": {"efficiency": 0.3, "target_heating_temperature": 45.0},
        },
        "dhw_device": {"type": hp, "attributes": {"efficiency": 0.3}},
    }
    if tank:
        b["dhw_storage"] = {
            "type": "citylearn.energy_model.StorageTank",
            "attributes": {"capacity": 10.0},
        }
    b.update(extra or {})
    schema = {"seconds_per_time_step": 3600, "buildings": {"A": a, "B": b}}
    (root / "schema.json").write_text(json.dumps(schema))
    return root


def test_thermal_devices_become_electricity(tmp_path: Path) -> None:
    ds = read_citylearn(_write(tmp_path / "ds"))
    a, b = ds.buildings
    temp = ds.weather["outdoor_dry_bulb_temperature"].to_numpy()
    base_a = a.frame["non_shiftable_load"].to_numpy()
    cooling = 2.0 / heat_pump_cop(temp, 0.25, 8.0, heating=False)
    np.testing.assert_allclose(a.load_kwh, base_a + cooling + 0.5 / 0.9)
    # B's hot-water heat pump has no target temperature: CityLearn's range midpoint 47.5 degC.
    heat = 1.5 / heat_pump_cop(temp, 0.3, 45.0, True) + 0.5 / heat_pump_cop(temp, 0.3, 47.5, True)
    np.testing.assert_allclose(b.load_kwh, b.frame["non_shiftable_load"].to_numpy() + heat)
    assert a.thermal_kwh is not None and np.all(a.thermal_kwh > 0)
    assert len(ds.modelled) == 4 and ds.ignored == ()
    assert any("target_heating_temperature 47.5" in m for m in ds.modelled)
    assert a.battery is not None and a.pv_kwp == 4.0


def test_a_storage_tank_is_a_clear_error(tmp_path: Path) -> None:
    root = _write(tmp_path / "ds", tank=True)
    with pytest.raises(UnsupportedDeviceError, match=r"B\.dhw_storage.*--ignore-unsupported"):
        read_citylearn(root)
    ds = read_citylearn(root, ignore_unsupported=True)
    assert len(ds.ignored) == 1 and ds.ignored[0].startswith("B.dhw_storage")


@pytest.mark.parametrize(
    ("key", "device"),
    [
        ("dynamics", {"type": "citylearn.dynamics.LSTMDynamics", "attributes": {}}),
        ("heating_device", {"type": "citylearn.energy_model.GasBoiler", "attributes": {}}),
        ("future_thing", {"type": "citylearn.energy_model.Unknown"}),
    ],
)
def test_devices_it_cannot_model_are_named(
    tmp_path: Path, key: str, device: dict[str, object]
) -> None:
    root = _write(tmp_path / "ds", extra={key: device})
    with pytest.raises(UnsupportedDeviceError, match=rf"buildings\.B\.{key} "):
        read_citylearn(root)


def test_a_heat_pump_without_outdoor_temperature_is_a_data_error(tmp_path: Path) -> None:
    root = _write(tmp_path / "ds")
    pd.DataFrame({"other": np.zeros(N)}).to_csv(root / "weather.csv", index=False)
    with pytest.raises(Exception, match="outdoor_dry_bulb_temperature"):
        read_citylearn(root)


def test_cli_scores_every_load_or_records_what_it_ignored(tmp_path: Path) -> None:
    import bitgaram.cli.citylearn  # noqa: F401  (registers the command)

    runner = CliRunner()
    ok = _write(tmp_path / "ok")
    res = runner.invoke(
        app, ["citylearn", "run", str(ok), "--controller", "none", "--out", str(tmp_path / "o1")]
    )
    assert res.exit_code == 0, res.output
    kpis = json.loads((tmp_path / "o1" / "kpis.json").read_text())
    assert len(kpis["modelled"]) == 4 and kpis["ignored"] == []
    tank = _write(tmp_path / "tank", tank=True)
    args = ["citylearn", "run", str(tank), "--controller", "none", "--out", str(tmp_path / "o2")]
    res = runner.invoke(app, args)
    # The command raises the domain error; bitgaram's entry point turns it into one line.
    assert isinstance(res.exception, UnsupportedDeviceError)
    assert "B.dhw_storage" in str(res.exception) and "--ignore-unsupported" in str(res.exception)
    res = runner.invoke(app, [*args, "--ignore-unsupported"])
    assert res.exit_code == 0, res.output
    kpis = json.loads((tmp_path / "o2" / "kpis.json").read_text())
    assert kpis["ignored"] and "dhw_storage" in kpis["ignored"][0]
