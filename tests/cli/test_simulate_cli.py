"""``bitgaram simulate run`` on the sample park imported into a DuckDB store."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import Result
from rich.console import Console
from typer.testing import CliRunner

from bitgaram.cli import app
from bitgaram.errors import DataError
from bitgaram.simulate.from_store import site_from_store
from bitgaram.site import SiteChoiceError
from bitgaram.store import open_store

Invoke = Callable[..., Result]

OVERRIDES = Path(__file__).resolve().parents[2] / "data" / "sample_park.toml"

#: Three days from midnight local standard time (Fontana: UTC-8).
START, DAYS = "2023-01-10T08:00", "3"


@pytest.fixture(scope="module")
def park_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The sample park imported with ``bitgaram import citylearn`` into a DuckDB file."""
    from bitgaram.cli import importing  # noqa: F401  (registers 'import')
    from bitgaram.collect.citylearn import sample_park_dir

    path = str(tmp_path_factory.mktemp("store") / "park.duckdb")
    args = ["import", "citylearn", str(sample_park_dir()), "--overrides", str(OVERRIDES)]
    result = CliRunner().invoke(app, [*args, "--store", path])
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def sim(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """``invoke`` with ``bitgaram simulate`` registered and a wide console."""
    from bitgaram.cli import simulate

    monkeypatch.setattr(simulate, "console", Console(width=200, no_color=True, highlight=False))
    return invoke


@pytest.mark.parametrize("controller", ["none", "rule", "mpc"])
def test_simulate_run_writes_balanced_schedules_and_scores(
    controller: str, park_store: str, sim: Invoke, tmp_path: Path
) -> None:
    out = tmp_path / controller
    result = sim("simulate", "run", "--store", park_store, "--start", START, "--days", DAYS,
                 "--controller", controller, "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"{controller} on fontana" in result.output
    net = pd.read_csv(out / "net_electricity_consumption.csv")
    battery = pd.read_csv(out / "battery_energy.csv")
    kpis = json.loads((out / "kpis.json").read_text())
    names = [f"building_{i}" for i in range(1, 6)]
    assert list(net.columns) == list(battery.columns) == names
    assert net.shape == battery.shape == (72, 5)
    assert kpis["controller"] == controller and kpis["n_steps"] == 72
    assert kpis["site"] == "fontana" and kpis["start"] == "2023-01-10T08:00:00+00:00"
    assert kpis["sources"]["price"] == "meter fontana-price"
    assert (out / "schedule_week.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Energy balance per building and step: net = load - PV + battery (CSV has 6 decimals).
    with open_store(park_store) as store:
        data = site_from_store(store, start=START, days=3).data
    np.testing.assert_allclose(
        net.to_numpy(), data.load_kwh - data.pv_kwh + battery.to_numpy(), atol=2e-6
    )
    if controller == "none":
        assert np.all(battery.to_numpy() == 0.0)
        for key in ("score", "price_cost", "emission_cost", "ramping", "load_factor"):
            assert kpis[key] == 1.0
    else:
        assert np.abs(battery.to_numpy()).sum() > 1.0  # the batteries were used
        # Never beyond the 5 kW x 1 h power limit of the sample's batteries.
        assert np.abs(battery.to_numpy()).max() <= 5.0 + 1e-6
        assert 0.0 < kpis["score"] < 1.5


def test_simulate_run_refuses_too_little_history_and_unknown_sites(
    park_store: str, sim: Invoke, tmp_path: Path
) -> None:
    common = ["simulate", "run", "--store", park_store, "--controller", "none"]
    short = sim(*common, "--days", "1", "--out", str(tmp_path / "a"))
    assert isinstance(short.exception, DataError)
    assert "too little history" in str(short.exception) and "--days" in str(short.exception)
    unknown = sim(*common, "--site", "nowhere", "--days", "3", "--out", str(tmp_path / "b"))
    assert isinstance(unknown.exception, SiteChoiceError)  # names the stored ids to choose from
    assert "'nowhere'" in str(unknown.exception) and "sites:" in str(unknown.exception)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
