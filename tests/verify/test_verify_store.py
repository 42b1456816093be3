"""Reading meters, tenants and site series from the store (DuckDB) for verify and account."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

# Register commands without importing every capability (keeps the test fast).
from bitgaram.cli import account as _account  # noqa: F401
from bitgaram.cli import app
from bitgaram.cli import citylearn as _citylearn  # noqa: F401
from bitgaram.cli import verify as _verify  # noqa: F401
from bitgaram.site import parse_site
from bitgaram.store import open_store
from bitgaram.verify.inputs import from_store

SITE = {
    "site": {"id": "park", "name": "Test park", "timezone": "Asia/Seoul"},
    "tenants": [{"id": "acme", "name": "ACME"}, {"id": "bolt", "name": "Bolt"}],
    "meters": [
        {"id": "acme-load", "tenant": "acme", "kind": "load", "unit": "kWh"},
        {"id": "acme-main", "tenant": "acme", "kind": "grid_import", "unit": "kWh"},
        {"id": "acme-pv", "tenant": "acme", "kind": "pv", "unit": "kWh"},
        {"id": "bolt-main", "tenant": "bolt", "kind": "grid_import", "unit": "kWh"},
        {"id": "temp", "kind": "weather", "unit": "degC"},
        {"id": "price", "kind": "price", "unit": "KRW/kWh"},
    ],
}
LOCAL_START = pd.Timestamp("2024-01-01 00:00")
HOURS = 6 * 168


@pytest.fixture
def store_path(tmp_path: Path) -> str:
    local = pd.date_range(LOCAL_START, periods=HOURS, freq="h")
    utc = local.tz_localize("Asia/Seoul").tz_convert("UTC")
    rng = np.random.default_rng(3)
    busy = (local.day_of_week < 5) & (local.hour >= 8) & (local.hour < 18)
    acme = np.where(busy, 30.0, 10.0) + rng.normal(0, 1, HOURS)
    acme[local >= "2024-01-29"] *= 0.9
    series = {
        "acme-load": acme,
        "acme-main": acme * 1.1,  # must not be added on top of the load meter
        "acme-pv": np.where(busy, 5.0, 0.0),
        "bolt-main": np.full(HOURS, 4.0),
        "temp": 5 + rng.normal(0, 1, HOURS),
        "price": np.full(HOURS, 150.0),
    }
    frames = [
        pd.DataFrame({"meter_id": m, "ts": utc, "value": v, "quality": 0})
        for m, v in series.items()
    ]
    path = str(tmp_path / "park.duckdb")
    with open_store(path) as store:
        store.save_site(parse_site(SITE))
        store.write_readings(pd.concat(frames, ignore_index=True))
    return path


def test_from_store_maps_meters_tenants_and_local_time(store_path: str) -> None:
    data = from_store(store_path, "2024-01-01", "2024-01-15")
    assert list(data.energy_kwh.columns) == ["acme-load", "bolt-main"]
    # zone-aware local interval starts (a fall-back hour keeps two distinct labels)
    assert data.energy_kwh.index[0] == LOCAL_START.tz_localize("Asia/Seoul")
    assert len(data.energy_kwh) == 14 * 24
    assert data.tenants == {"acme-load": "acme", "bolt-main": "bolt", "acme-pv": "acme"}
    assert data.temperature_c is not None and data.price is not None
    only = from_store(store_path, tenant="bolt")
    assert list(only.energy_kwh.columns) == ["bolt-main"] and only.onsite_kwh is None


def test_verify_and_account_from_store(store_path: str, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["verify", "--store", store_path, "--tenant", "acme"]
    args += ["--baseline-start", "2024-01-01", "--baseline-end", "2024-01-28"]
    args += ["--reporting-start", "2024-01-29", "--reporting-end", "2024-02-11"]
    args += ["--out", str(tmp_path / "v")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    savings = pd.read_csv(tmp_path / "v" / "savings.csv")
    row = savings[savings["meter"] == "acme-load"].iloc[0]
    truth = row["reporting_kwh"] / 0.9 * 0.1
    assert row["tenant"] == "acme"
    assert abs(row["avoided_kwh"] - truth) <= row["uncertainty_kwh"]

    args = ["account", "--store", store_path, "--out", str(tmp_path / "a")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    annual = pd.read_csv(tmp_path / "a" / "annual.csv").set_index("name")
    assert set(annual.index) == {"acme", "bolt", "park"}
    assert annual.loc["bolt", "consumption_kwh"] == pytest.approx(4.0 * HOURS)
    assert annual.loc["acme", "onsite_used_kwh"] > 0
