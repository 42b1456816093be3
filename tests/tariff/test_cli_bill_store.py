"""``bitgaram bill --store``: bills from a store's per-tenant and park totals."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bitgaram.cli import _register, app
from bitgaram.cli.bill import bills_from_store
from bitgaram.site import parse_site
from bitgaram.store import open_store

_register()

SITE = {
    "site": {
        "id": "park",
        "name": "Test park",
        "timezone": "Asia/Seoul",
        "tariff": {"name": "kepco-industrial-eul-high-a", "option": "II", "contract_kw": 1000},
    },
    "tenants": [
        {
            "id": "acme",
            "name": "ACME",
            "tariff": {"name": "kepco-industrial-gap2-high-a", "option": "I", "contract_kw": 250},
        },
        {"id": "bolt", "name": "Bolt"},
    ],
    "meters": [
        {
            "id": "acme-in",
            "tenant": "acme",
            "kind": "grid_import",
            "unit": "kWh",
            "resolution": "15min",
        },
        {
            "id": "bolt-in",
            "tenant": "bolt",
            "kind": "grid_import",
            "unit": "kWh",
            "resolution": "15min",
        },
        {"id": "price", "kind": "price", "unit": "KRW/kWh", "resolution": "1h"},
    ],
}


@pytest.fixture
def store_path(tmp_path: Path) -> str:
    path = str(tmp_path / "bitgaram.duckdb")
    # Two days of September 2026 in Korean time, stored as UTC interval starts.
    idx = pd.date_range("2026-09-01", "2026-09-03", freq="15min", inclusive="left", tz="Asia/Seoul")
    rows = []
    for meter, kw in (("acme-in", 100.0), ("bolt-in", 40.0)):
        value = pd.Series(kw / 4, index=idx)
        if meter == "acme-in":
            value[pd.Timestamp("2026-09-01 16:00", tz="Asia/Seoul")] = 50.0  # 200 kW
        rows.append(
            pd.DataFrame(
                {
                    "meter_id": meter,
                    "ts": idx.tz_convert("UTC"),
                    "value": value.to_numpy(),
                    "quality": 0,
                }
            )
        )
    hours = pd.date_range("2026-08-31 15:00", periods=48, freq="h", tz="UTC")
    rows.append(pd.DataFrame({"meter_id": "price", "ts": hours, "value": 100.0, "quality": 0}))
    with open_store(path) as store:
        store.save_site(parse_site(SITE))
        store.write_readings(pd.concat(rows, ignore_index=True))
    return path


def test_bills_from_store_use_site_tariffs(store_path: str) -> None:
    with open_store(store_path) as store:
        result = bills_from_store(store)
    tenants = {b.meter: b for b in result.tenants}
    (park,) = result.park
    assert tenants["acme"].tariff == "kepco-industrial-gap2-high-a"
    assert tenants["acme"].max_demand_kw == 200.0
    assert tenants["acme"].billing_demand_kw == 200.0  # floor 75 kW
    assert tenants["bolt"].tariff == "kepco-industrial-eul-high-a"  # site default
    assert tenants["bolt"].option == "II"
    assert park.max_demand_kw == 240.0
    assert park.billing_demand_kw == 300.0  # 30 % of the site's 1000 kW
    assert park.energy_kwh == pytest.approx(tenants["acme"].energy_kwh + tenants["bolt"].energy_kwh)
    # The 16:00 KST interval is peak: the UTC timestamps were converted to local time.
    assert tenants["acme"].line("energy_peak").quantity > 0


def test_bill_command_with_store(store_path: str) -> None:
    result = CliRunner().invoke(
        app,
        ["bill", "--store", store_path, "--option", "I", "--tariff", "kepco-industrial-eul-high-a"],
    )
    assert result.exit_code == 0, result.output
    assert "acme" in result.output and "park" in result.output


def test_bills_on_a_stored_price_series(store_path: str) -> None:
    with open_store(store_path) as store:
        result = bills_from_store(store, price_meter="price")
    # 48 h at 100 + 40 kW plus the 25 kWh spike, at 100 KRW/kWh, split over UTC months.
    assert [str(b.month) for b in result.park] == ["2026-08", "2026-09"]
    assert sum(b.total for b in result.park) == pytest.approx((140 * 48 + 25) * 100.0)
    assert sum(b.total for b in result.tenants) == pytest.approx((140 * 48 + 25) * 100.0)
