"""``bitgaram init``, ``site show`` and ``query`` against a real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import bitgaram.cli.store  # noqa: F401  (registers the commands)
from bitgaram.cli import app
from bitgaram.errors import ConfigError, StoreError
from bitgaram.store import open_store

SITE = """\
[site]
id = "cli-park"
name = "CLI park"

[[tenants]]
id = "acme"
name = "ACME Motors"

[[meters]]
id = "acme-load"
tenant = "acme"
kind = "load"
unit = "kWh"
resolution = "15min"

[[meters]]
id = "acme-pv"
tenant = "acme"
kind = "pv"
unit = "kW"
resolution = "15min"

[[assets]]
type = "battery"
id = "acme-ess"
tenant = "acme"
capacity_kwh = 500
power_kw = 250
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def initialised(tmp_path: Path, runner: CliRunner) -> Path:
    """A store made by ``bitgaram init --site`` holding two hours of readings."""
    site = tmp_path / "site.toml"
    site.write_text(SITE, encoding="utf-8")
    db = tmp_path / "cli.duckdb"
    result = runner.invoke(app, ["init", "--store", str(db), "--site", str(site)])
    assert result.exit_code == 0, result.output
    assert "saved site cli-park" in result.output
    ts = pd.date_range("2022-08-01", periods=8, freq="15min", tz="UTC")
    with open_store(db) as store:
        store.write_readings(
            pd.DataFrame({"meter_id": "acme-load", "ts": ts, "value": range(1, 9)})
        )
    return db


def test_site_show_lists_tenants_meters_assets(initialised: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["site", "show", "--store", str(initialised)])
    assert result.exit_code == 0, result.output
    for text in ("ACME Motors", "acme-load", "acme-pv", "acme-ess", "capacity_kwh=500", "mean"):
        assert text in result.output


def test_query_meter_to_csv_sums_energy(
    initialised: Path, runner: CliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "out.csv"
    args = ["query", "--meter", "acme-load", "--resolution", "1h", "--csv", str(out)]
    result = runner.invoke(app, args, env={"BITGARAM_DATABASE_URL": str(initialised)})
    assert result.exit_code == 0, result.output
    got = pd.read_csv(out)
    assert got["value"].tolist() == [10.0, 26.0]
    assert got["ts"].tolist() == ["2022-08-01T00:00:00+00:00", "2022-08-01T01:00:00+00:00"]


def test_query_tenant_table_with_period(initialised: Path, runner: CliRunner) -> None:
    args = ["query", "--store", str(initialised), "--tenant", "acme", "--start", "2022-08-01T01:00"]
    result = runner.invoke(app, [*args, "--end", "2022-08-02", "-r", "1D"])
    assert result.exit_code == 0, result.output
    assert "26.000" in result.output
    assert "10.000" not in result.output


def test_query_needs_exactly_one_subject(initialised: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["query", "--store", str(initialised)])
    assert isinstance(result.exception, ConfigError)
    both = ["query", "--store", str(initialised), "--meter", "acme-load", "--park"]
    assert isinstance(runner.invoke(app, both).exception, ConfigError)


def test_site_show_without_a_site_says_how_to_add_one(tmp_path: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["site", "show", "--store", str(tmp_path / "empty.duckdb")])
    assert isinstance(result.exception, StoreError)
    assert "bitgaram init --site" in str(result.exception)
