"""``bitgaram forecast run``: history from a real DuckDB store, forecasts stored back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

import bitgaram.cli.forecast  # noqa: F401  (registers the commands)
from bitgaram.cli import app
from bitgaram.site import parse_site
from bitgaram.store import open_store

SITE = {
    "site": {
        "id": "park",
        "name": "Test park",
        "timezone": "Asia/Seoul",
        "latitude": 35.5,
        "longitude": 129.3,
    },
    "tenants": [{"id": "acme", "name": "ACME"}],
    "meters": [
        {"id": "acme-load", "tenant": "acme", "kind": "load", "unit": "kWh", "resolution": "1h"},
        {"id": "acme-pv", "tenant": "acme", "kind": "pv", "unit": "kWh", "resolution": "1h"},
        {"id": "price", "kind": "price", "unit": "KRW/kWh", "resolution": "1h"},
    ],
    "assets": [{"type": "pv", "id": "arr", "tenant": "acme", "kwp": 50, "meter": "acme-pv"}],
}


def _readings(days: int) -> pd.DataFrame:
    ts = pd.date_range("2024-04-01", periods=24 * days, freq="h", tz="Asia/Seoul")
    hour = ts.hour.to_numpy()
    rng = np.random.default_rng(3)
    load = 20 + 10 * ((hour >= 8) & (hour < 18)) + rng.normal(0, 1, len(ts))
    pv = 40 * np.clip(np.sin(np.pi * (hour - 6) / 13), 0, None) * rng.uniform(0.5, 1, len(ts))
    frames = [
        pd.DataFrame({"meter_id": m, "ts": ts.tz_convert("UTC"), "value": v, "quality": 0})
        for m, v in (("acme-load", load), ("acme-pv", pv))
    ]
    return pd.concat(frames, ignore_index=True)


def test_forecast_run_stores_quantile_forecasts(tmp_path: Path) -> None:
    url = str(tmp_path / "park.duckdb")
    readings = _readings(21)
    with open_store(url) as store:
        store.save_site(parse_site(SITE))
        store.write_readings(readings)
    result = CliRunner().invoke(app, ["forecast", "run", "--store", url, "--horizon", "24"])
    assert result.exit_code == 0, result.output
    with open_store(url) as store:
        fc = store.read_forecasts()
    issued = readings["ts"].max() + pd.Timedelta(hours=1)
    assert set(fc["meter_id"]) == {"acme-load", "acme-pv"}
    assert len(fc) == 2 * 24 * 3
    assert (pd.to_datetime(fc["issued_at"], utc=True) == issued).all()
    assert sorted(fc["horizon"].unique()) == list(range(1, 25))
    wide = fc.pivot_table(index=["meter_id", "ts"], columns="quantile", values="value")
    assert (wide[0.1] <= wide[0.5] + 1e-9).all() and (wide[0.5] <= wide[0.9] + 1e-9).all()
    pv = wide.loc["acme-pv"]
    local_hour = pd.DatetimeIndex(pv.index).tz_convert("Asia/Seoul").hour
    assert (pv[0.9][(local_hour <= 3) | (local_hour >= 21)] == 0).all()  # night
    assert pv[0.5][(local_hour >= 11) & (local_hour <= 13)].min() > 5  # midday
    load = wide.loc["acme-load"][0.5]
    assert 15 < load.mean() < 35
