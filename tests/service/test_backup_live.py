"""Backup while `bitgaram run` writes, restore into a new store, export one tenant."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from service_helpers import Publisher, RunningService, forget_session, park_messages, wait_until
from typer.testing import CliRunner

from bitgaram.api import Settings
from bitgaram.api.app import token_store_for
from bitgaram.cli import app
from bitgaram.cli import service as _service_commands  # noqa: F401
from bitgaram.service.config import load_service_site
from bitgaram.store import open_store
from bitgaram.store.backup import store_digest

pytestmark = pytest.mark.mqtt


@pytest.fixture
def service(tmp_path: Path, mqtt_server: tuple[str, int]) -> Iterator[RunningService]:
    host, port = mqtt_server
    svc = RunningService(tmp_path, "b" + uuid.uuid4().hex[:10], host, port)
    yield svc
    svc.kill()
    forget_session(host, port, f"bitgaram-svc-{svc.site_id}")


def _forecasts() -> pd.DataFrame:
    ts = pd.date_range("2026-08-04", periods=24, freq="1h", tz="UTC")
    return pd.DataFrame(
        {
            "meter_id": ["a-load"] * 24 + ["b-load"] * 24,
            "issued_at": pd.Timestamp("2026-08-03T15:00Z"),
            "ts": list(ts) * 2,
            "horizon": list(range(1, 25)) * 2,
            "quantile": 0.5,
            "value": [float(i) for i in range(48)],
            "model": "seasonal_naive_168",
        }
    )


def _seed(svc: RunningService) -> None:
    with open_store(svc.store) as store:
        store.save_site(load_service_site(svc.site).site)
        store.write_forecasts(_forecasts())
        tokens = token_store_for(store, Settings())
        tokens.add_user("manager-a", "tenant_manager", "a", password="x" * 12)


def test_backup_while_writing_then_restore_and_export(
    service: RunningService, mqtt_server: tuple[str, int], tmp_path: Path
) -> None:
    _seed(service)
    service.start()
    pub = Publisher(*mqtt_server, client_id=f"bgsvc-pub-{service.site_id}")
    stop = threading.Event()
    now = time.time()

    def feed() -> None:
        i = 0
        while not stop.is_set() and i < 2000:
            for meter, payload in park_messages(i, 5, now):
                pub.publish(f"{service.prefix}/{service.site_id}/{meter}/reading", payload)
            i += 5
            time.sleep(0.01)

    feeder = threading.Thread(target=feed)
    feeder.start()
    runner = CliRunner()
    backup = tmp_path / "snap.duckdb"
    try:
        assert wait_until(
            lambda: service.metric("bitgaram_readings_accepted_total", source="mqtt") > 200
        )
        assert wait_until(lambda: service.metric("bitgaram_control_ticks_total") >= 1)
        done = runner.invoke(
            app, ["store", "backup", "--store", str(service.store), "--out", str(backup)]
        )
        assert done.exit_code == 0, done.output
        assert "backup by the running service" in done.output
        accepted_after = service.metric("bitgaram_readings_accepted_total", source="mqtt")
    finally:
        stop.set()
        feeder.join()
        pub.close()
    assert accepted_after > 0
    restored = tmp_path / "restored.duckdb"
    done = runner.invoke(app, ["store", "restore", str(backup), "--store", str(restored)])
    assert done.exit_code == 0, done.output
    with open_store(backup, migrate=False) as a, open_store(restored, migrate=False) as b:
        snap, back = store_digest(a), store_digest(b)
        snap_readings = a.read_readings()
    assert snap == back  # every table: same rows, same checksum
    assert snap["readings"][0] == len(snap_readings) > 0
    assert snap["forecasts"][0] == len(_forecasts())
    assert snap["control_setpoints"][0] >= 1
    assert snap["api_users"][0] == 1  # the seeded manager (so no first-start admin)

    code, _ = service.terminate()
    assert code == 0, service.output()
    with open_store(service.store) as live:
        final = live.read_readings()
        # The snapshot is one instant of the live store: every reading in it is stored.
        merged = snap_readings.merge(
            final, on=["meter_id", "ts", "value"], how="left", indicator=True
        )
        assert (merged["_merge"] == "both").all()
        assert len(final) >= len(snap_readings)
        offline = tmp_path / "offline.duckdb"
        full = store_digest(live)
    done = runner.invoke(
        app, ["store", "backup", "--store", str(service.store), "--out", str(offline)]
    )
    assert done.exit_code == 0, done.output
    again = tmp_path / "again.duckdb"
    assert (
        runner.invoke(app, ["store", "restore", str(offline), "--store", str(again)]).exit_code == 0
    )
    with open_store(again, migrate=False) as copy:
        assert store_digest(copy) == full
    # A restore never overwrites a store.
    refused = runner.invoke(app, ["store", "restore", str(offline), "--store", str(again)])
    assert refused.exit_code != 0

    out = tmp_path / "tenant-a"
    done = runner.invoke(
        app, ["store", "export", "--tenant", "a", "--out", str(out), "--store", str(again)]
    )
    assert done.exit_code == 0, done.output
    readings = pd.read_csv(out / "readings.csv")
    assert set(readings["meter_id"]) == {"a-load"}
    assert len(readings) == int((final["meter_id"] == "a-load").sum())
    assert len(pd.read_csv(out / "forecasts.csv")) == 24
    assert list(pd.read_csv(out / "users.csv")["name"]) == ["manager-a"]
    setpoints = pd.read_csv(out / "setpoints.csv")
    assert len(setpoints) >= 1 and set(setpoints["asset"]) == {"ess"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["readings.csv"]["rows"] == len(readings)
    doc = json.loads((out / "tenant.json").read_text())
    assert doc["tenant"]["id"] == "a" and [m["id"] for m in doc["meters"]] == ["a-load"]
    assert "password" not in (out / "users.csv").read_text()
