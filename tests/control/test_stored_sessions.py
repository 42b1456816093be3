"""The planner's EV sessions from the store (``control run --evs-from-store``): only vehicles
plugged in now, with fleet data, a departure ahead and a row the device service keeps fresh."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as paho
import pandas as pd
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from bitgaram.cli import _register, app
from bitgaram.control.state import STORED_SESSION_MAX_AGE_S, EVSession, stored_sessions
from bitgaram.store import EvSessionRecord, open_store

_register()

NOW = pd.Timestamp("2026-06-10 03:00", tz="UTC")


def _row(sid: str, started_h: float, **kw: object) -> EvSessionRecord:
    fields: dict[str, object] = {
        "site_id": "evpark",
        "session_id": sid,
        "started_at": NOW + pd.Timedelta(hours=started_h),
        "asset": "hub",
        "cp_id": sid.split(".")[0],
        "connector": 1,
        "transaction_id": "1",
        "id_tag": "T",
        "vehicle": "van",
        "ended_at": None,
        "departure": NOW + pd.Timedelta(hours=5),
        "needed_kwh": 30.0,
        "capacity_kwh": 20.0,  # smaller than the need: the planner's capacity is raised to it
        "delivered_kwh": 8.0,
        "power_kw": 11.0,
        "charger_kw": 22.0,
        "soc_pct": None,
        "updated_at": NOW - pd.Timedelta(seconds=30),
        **kw,
    }
    return EvSessionRecord(**fields)  # type: ignore[arg-type]


def test_only_fresh_plugged_in_sessions_with_a_departure_ahead_are_planned() -> None:
    stale = NOW - pd.Timedelta(seconds=STORED_SESSION_MAX_AGE_S + 1)
    with open_store(":memory:") as store:
        store.write_ev_sessions(
            [
                _row("cp1.1", -1),  # planned
                _row("cp2.1", -2, ended_at=NOW - pd.Timedelta(minutes=1)),  # left
                _row("cp3.1", 1),  # not yet arrived
                _row("cp4.1", -1, departure=None, needed_kwh=None),  # no fleet data: safe rate
                _row("cp5.1", -1, updated_at=stale),  # its device service is gone
                _row("cp6.1", -6, departure=NOW - pd.Timedelta(minutes=5)),  # overstaying
                _row("cp7.1", -1, site_id="other"),
            ]
        )
        evs = stored_sessions(store, "evpark")(NOW)
    assert evs == (
        EVSession("cp1.1", 8.0, 30.0, 30.0, NOW + pd.Timedelta(hours=5), 22.0, efficiency=1.0),
    )
    assert evs[0].min_rate_kw(NOW) == pytest.approx((30.0 - 8.0) / 5)


@pytest.mark.parametrize("from_store", [True, False])
def test_control_run_plans_the_stored_sessions(
    tmp_path: Path, mqtt_server: tuple[str, int], from_store: bool
) -> None:
    """``control run --evs-from-store`` over Mosquitto: the stored vehicle gets a setpoint."""
    host, port = mqtt_server
    site_id = "evs" + uuid.uuid4().hex[:8]
    site_file = tmp_path / "site.toml"
    site_file.write_text(
        f"""
[site]
id = "{site_id}"
name = "EV park"
timezone = "Asia/Seoul"
tariff = {{ name = "kepco-industrial-eul-high-a", option = "II" }}

[[meters]]
id = "grid"
kind = "grid_import"
unit = "kWh"
resolution = "5min"
""",
        encoding="utf-8",
    )
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    now = pd.Timestamp.now(tz="UTC")
    with open_store(url) as store:
        store.write_ev_sessions(
            [_row("cp0.1", -1, site_id=site_id, started_at=now - pd.Timedelta(hours=1),
                  departure=now + pd.Timedelta(hours=4), updated_at=now)]
        )  # fmt: skip
    args = ["control", "run", "--site", str(site_file), "--target", "5000", "--store", url]
    args += ["--host", host, "--port", str(port), "--interval", "60", "--ticks", "1"]
    r = CliRunner().invoke(app, args + (["--evs-from-store"] if from_store else []))
    assert r.exit_code == 0, r.output
    got: dict[str, dict[str, object]] = {}
    seen = threading.Event()

    def on_msg(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        if msg.payload:
            got[msg.topic.split("/")[-2]] = json.loads(msg.payload)
            seen.set()

    watcher = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    watcher.on_message = on_msg
    watcher.connect(host, port)
    watcher.subscribe(f"bitgaram/{site_id}/+/setpoint", qos=1)  # retained: the last plan
    watcher.loop_start()
    seen.wait(3 if from_store else 1)
    for asset in got:  # leave no retained message behind
        watcher.publish(f"bitgaram/{site_id}/{asset}/setpoint", b"", qos=1, retain=True)
    watcher.loop_stop()
    if not from_store:
        assert "cp0.1" not in got  # the chargers' state messages were never sent
        return
    sp = got["cp0.1"]
    # no meter data yet: the safe setpoint, the even rate meeting the departure
    assert sp["kind"] == "ev" and sp["mode"] == "safe"
    assert float(sp["power_kw"]) == pytest.approx((30.0 - 8.0) / 4, rel=0.02)  # type: ignore[arg-type]
