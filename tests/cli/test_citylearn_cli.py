"""``bitgaram citylearn run`` over a short window of the sample park."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import Result
from rich.console import Console

Invoke = Callable[..., Result]

#: Rows of the sample simulated: three days in January (schema step numbers).
FIRST, STEPS = 3912, 72


def _window(sample: Path, root: Path) -> Path:
    """A copy of the sample's schema simulating only ``FIRST .. FIRST + STEPS - 1``."""
    root.mkdir()
    schema = json.loads((sample / "schema.json").read_text())
    schema["simulation_start_time_step"] = FIRST
    schema["simulation_end_time_step"] = FIRST + STEPS - 1
    (root / "schema.json").write_text(json.dumps(schema))
    for csv in sample.glob("*.csv"):
        (root / csv.name).symlink_to(csv)
    return root


@pytest.mark.parametrize("controller", ["none", "rule"])
def test_citylearn_run_writes_the_three_files(
    controller: str,
    invoke: Invoke,
    sample_park_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bitgaram.cli import citylearn

    monkeypatch.setattr(citylearn, "console", Console(width=200, no_color=True))
    dataset = _window(sample_park_dir, tmp_path / "jan")
    out = tmp_path / "out"
    result = invoke("citylearn", "run", str(dataset), "--controller", controller,
                    "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    schema = json.loads((sample_park_dir / "schema.json").read_text())
    names = [n for n, b in schema["buildings"].items() if b["include"]]
    net = pd.read_csv(out / "net_electricity_consumption.csv")
    battery = pd.read_csv(out / "battery_energy.csv")
    kpis = json.loads((out / "kpis.json").read_text())
    assert list(net.columns) == list(battery.columns) == names
    assert net.shape == battery.shape == (STEPS, len(names))
    for key in ("price_cost", "emission_cost", "ramping", "load_factor", "grid_cost", "score"):
        assert np.isfinite(kpis[key])
    assert kpis["run_time_s"] >= 0 and kpis["n_steps"] == STEPS
    # net = load - PV + battery, from the building CSVs (PV: kWp x solar_generation [W/kW]).
    rows = slice(FIRST, FIRST + STEPS)
    base = []
    for n in names:
        spec = schema["buildings"][n]
        csv = pd.read_csv(sample_park_dir / spec["energy_simulation"]).iloc[rows]
        kwp = spec["pv"]["attributes"]["nominal_power"]
        base.append(csv["non_shiftable_load"] - kwp * csv["solar_generation"] / 1000.0)
    np.testing.assert_allclose(
        net.to_numpy(), np.column_stack(base) + battery.to_numpy(), atol=2e-6
    )
    if controller == "none":
        assert kpis["score"] == 1.0 and np.all(battery.to_numpy() == 0.0)
    else:
        assert np.abs(battery.to_numpy()).sum() > 1.0
