"""The device service of a site: registry, setpoints over MQTT (Mosquitto) to a Modbus PCS and
OCPP chargers, states back for the loop, readings in the store, the status file and CLI."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as paho
import pandas as pd
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from typer.testing import CliRunner

from bitgaram.cli import app
from bitgaram.control.setpoints import Mode, Setpoint
from bitgaram.control.state import stored_sessions
from bitgaram.devices.fleet import Fleet, FleetDefault
from bitgaram.devices.service import DeviceService, MqttSetpoints, parse_setpoint
from bitgaram.devices.sim import SimCharger, SimPcs, SimSunSpecInverter, start_modbus_server
from bitgaram.devices.status import read_status
from bitgaram.errors import ConfigError, DataError
from bitgaram.site import load_site, parse_site
from bitgaram.store import DrEventRecord, open_store


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SITE_TOML = """
[site]
id = "devpark"
name = "Device park"
timezone = "Asia/Seoul"

[[meters]]
id = "hub-energy"
kind = "ev_charger"
unit = "kWh"
resolution = "1s"

[[assets]]
type = "battery"
id = "ess"
capacity_kwh = 200
power_kw = 100

[[assets]]
type = "ev_charger"
id = "hub"
chargers = 2
power_kw = 22

[[devices]]
id = "cp0"
protocol = "ocpp1.6"
asset = "hub"
max_kw = 22
safe_kw = 7
meter = "hub-energy"

[[devices]]
id = "cp1"
protocol = "ocpp1.6"
asset = "hub"
max_kw = 22
safe_kw = 7

[[devices]]
id = "pcs"
protocol = "modbus"
asset = "ess"
host = "127.0.0.1"
port = {port}
model = "generic-pcs"
setpoint = "power_setpoint"
measured = "active_power"
soc = "soc"
renew_s = 0.2

[[assets]]
type = "pv"
id = "roof"
kwp = 100

[[devices]]
id = "inv"
protocol = "modbus"
asset = "roof"
host = "127.0.0.1"
port = {port}
unit_id = 2
model = "sunspec:103,123"
setpoint = "123.WMaxLimPct"
measured = "103.W"
safe_kw = 100
enable = {"123.WMaxLim_Ena" = 1}

[[devices]]
id = "ven"
protocol = "openadr2.0b"
asset = "park"
vtn_url = "http://127.0.0.1:9/OpenADR2/Simple/2.0b"
ven_name = "devpark"
"""


def _site(tmp_path: Path, port: int) -> Path:
    f = tmp_path / "site.toml"
    f.write_text(SITE_TOML.replace("{port}", str(port)), encoding="utf-8")
    return f


def test_registry_validation() -> None:
    base = {
        "site": {"id": "s", "name": "S"},
        "assets": [{"type": "battery", "id": "ess", "capacity_kwh": 1, "power_kw": 1}],
    }
    bad = {
        **base,
        "devices": [{"id": "c", "protocol": "ocpp1.6", "asset": "ess", "max_kw": 22, "safe_kw": 7}],
    }
    with pytest.raises(ConfigError, match=r"devices\[0\]\.asset: ocpp1.6 cannot drive a battery"):
        parse_site(bad)
    with pytest.raises(ConfigError, match="safe_kw must not exceed max_kw"):
        parse_site(
            {
                **base,
                "assets": [{"type": "ev_charger", "id": "h", "chargers": 1, "power_kw": 7}],
                "devices": [
                    {"id": "c", "protocol": "ocpp1.6", "asset": "h", "max_kw": 7, "safe_kw": 11}
                ],
            }
        )
    with pytest.raises(ConfigError, match="unknown asset"):
        parse_site(
            {
                **base,
                "devices": [
                    {
                        "id": "p",
                        "protocol": "modbus",
                        "asset": "nope",
                        "host": "h",
                        "model": "generic-pcs",
                        "setpoint": "power_setpoint",
                    }
                ],
            }
        )


def test_parse_setpoint_round_trip_and_errors() -> None:
    now = pd.Timestamp("2026-03-08 10:00", tz="America/Los_Angeles")  # DST day
    sp = Setpoint("ess", "battery", -12.5, now, now + pd.Timedelta("20min"), Mode.PEAK, "alert")
    back = parse_setpoint(sp.to_json())
    assert back == Setpoint(
        "ess",
        "battery",
        -12.5,
        now.tz_convert("UTC"),
        (now + pd.Timedelta("20min")).tz_convert("UTC"),
        Mode.PEAK,
        "alert",
    )
    with pytest.raises(DataError, match="valid_until"):
        parse_setpoint(b'{"asset": "ess", "kind": "battery", "valid_from": "2026-01-01T00:00Z"}')
    with pytest.raises(DataError, match="UTC offset"):
        parse_setpoint(
            json.dumps(
                {
                    "asset": "e",
                    "kind": "battery",
                    "power_kw": 1,
                    "valid_from": "2026-01-01T00:00",
                    "valid_until": "2026-01-01T01:00",
                }
            )
        )


def test_service_over_mqtt(tmp_path: Path, mqtt_server: tuple[str, int]) -> None:
    host, mport = mqtt_server
    prefix = f"t{uuid.uuid4().hex[:8]}"
    port = _port()
    site = load_site(_site(tmp_path, port))
    store = open_store(":memory:")
    store.save_site(site)
    states: dict[str, dict[str, object]] = {}
    got = threading.Event()
    planned: list[object] = []
    alerts: list[dict[str, object]] = []

    def on_msg(c: paho.Client, u: object, msg: paho.MQTTMessage) -> None:
        if msg.topic.endswith("/alerts"):
            alerts.append(json.loads(msg.payload))
            return
        states[msg.topic.split("/")[-2]] = json.loads(msg.payload)
        if "sessions" in states.get("hub", {}) and states["hub"]["sessions"]:
            planned.append(states["hub"]["sessions"])
            got.set()

    watcher = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    watcher.on_message = on_msg
    watcher.connect(host, mport)
    watcher.subscribe(f"{prefix}/devpark/+/state", qos=1)
    watcher.subscribe(f"{prefix}/devpark/alerts", qos=1)
    watcher.loop_start()

    async def scenario() -> DeviceService:
        pcs = SimPcs(200.0, 100.0, soc=0.5)
        inv = SimSunSpecInverter(available_kw=90.0, rated_kw=100.0)
        server = await start_modbus_server([pcs.device(1), inv.device(2)], port)
        holder: list[DeviceService] = []
        link = MqttSetpoints(
            host,
            mport,
            "devpark",
            lambda p: holder[0].submit(p),
            prefix=prefix,
            client_id=f"dev-{prefix}",
        )
        svc = DeviceService(
            site,
            Fleet({}, FleetDefault(8.0, 20.0)),
            publish=link.publish,
            prefix=prefix,
            status_path=tmp_path / "status.json",
            sessions_path=tmp_path / "sessions.jsonl",
            store=store,
            ocpp_port=0,
            tick_s=0.2,
        )
        holder.append(svc)
        await svc.start()
        await asyncio.to_thread(link.start)
        cp = SimCharger("cp0", f"ws://127.0.0.1:{svc.ocpp_port}", 22.0, 0.05, speed=60)
        await cp.connect()
        session = asyncio.ensure_future(cp.charge("anyone", 0.5))
        await asyncio.to_thread(got.wait, 5)
        now = pd.Timestamp.now(tz="UTC")
        # the planner reading the store sees the session the chargers' state message carries
        from_store = stored_sessions(store, "devpark")(now)
        assert [(e.id, e.required_kwh) for e in from_store] == [("cp0.1", 20.0)]
        assert from_store[0].departure == pd.Timestamp(planned[0][0]["departure"])
        for sp in (
            Setpoint("ess", "battery", -40.0, now, now + pd.Timedelta("1min"), Mode.MPC),
            Setpoint("cp0.1", "ev", 11.0, now, now + pd.Timedelta("1min"), Mode.MPC),
            Setpoint("roof", "export_limit", 45.0, now, now + pd.Timedelta("1min"), Mode.MPC),
        ):
            watcher.publish(f"{prefix}/devpark/{sp.asset}/setpoint", sp.to_json(), qos=1)
        watcher.publish(f"{prefix}/devpark/ess/setpoint", b"{not json", qos=1)
        for _ in range(100):
            if len(svc.confirmations) >= 3:
                break
            await asyncio.sleep(0.05)
        assert pcs.power_kw == pytest.approx(-40.0) or pcs.writes >= 1
        assert cp.limit_kw() == pytest.approx(11.0)
        await session
        pcs.behaviour = "reject"  # the PCS refuses the next write: an alert, no crash
        bad = Setpoint("ess", "battery", 10.0, now, now + pd.Timedelta("1min"), Mode.MPC)
        assert not (await svc.apply(bad)).ok
        await asyncio.sleep(0.3)
        pcs.behaviour = "ok"
        await cp.disconnect()
        await svc.stop()
        link.stop()
        await server.shutdown()
        return svc

    svc = asyncio.run(scenario())
    watcher.loop_stop()
    assert [c.ok for c in svc.confirmations].count(False) == 1
    assert alerts and alerts[0]["point"] == "pcs" and alerts[0]["kind"] == "device_fault"
    assert "rejected" in str(alerts[0]["message"])
    assert svc.rejected == 1
    hub = planned[0]
    assert isinstance(hub, list) and hub[0]["id"] == "cp0.1" and hub[0]["required_kwh"] == 20.0
    assert "soc_kwh" in states["ess"]
    assert states["dr"] == {"events": []}  # the VEN's (no) events, for `control run --dr`
    line = json.loads((tmp_path / "sessions.jsonl").read_text().splitlines()[0])
    assert line["energy_kwh"] == pytest.approx(0.5, abs=0.01) and line["id_tag"] == "anyone"
    assert store.count_readings("hub-energy") >= 1
    (kept,) = store.read_ev_sessions("devpark")  # the finished session, once
    assert kept.id_tag == "anyone" and kept.asset == "hub" and kept.ended_at is not None
    assert kept.delivered_kwh == pytest.approx(line["energy_kwh"], abs=1e-3)
    assert stored_sessions(store, "devpark")(pd.Timestamp.now(tz="UTC")) == ()
    devices, extra = read_status(tmp_path / "status.json")
    by_id = {d.id: d for d in devices}
    assert by_id["pcs"].last_setpoint_kw == 10.0 and by_id["cp0"].last_setpoint_kw == 11.0
    assert "rejected" in by_id["pcs"].faults[-1]
    assert not by_id["cp1"].connected
    assert any("retry" in f for f in by_id["devpark"].faults)  # the VTN is not there
    assert extra["confirmations"] == 4
    assert by_id["inv"].last_setpoint_kw == 45.0
    store.close()


def test_cli_run_and_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bitgaram.cli import devices as cli_devices

    monkeypatch.setattr(cli_devices, "console", Console(width=200, no_color=True))
    port = _port()
    site_file = _site(tmp_path, port)
    runner = CliRunner()
    r = runner.invoke(app, ["devices", "status", "--site", str(site_file)])
    assert r.exit_code != 0 and "devices run" in str(r.exception)

    def serve() -> None:
        async def main() -> None:
            server = await start_modbus_server([SimPcs(200.0, 100.0).device(1)], port)
            await asyncio.sleep(4.0)
            await server.shutdown()

        asyncio.run(main())

    t = threading.Thread(target=serve)
    t.start()
    try:
        r = runner.invoke(
            app,
            [
                "devices",
                "run",
                "--site",
                str(site_file),
                "--no-mqtt",
                "--ocpp-port",
                str(_port()),
                "--seconds",
                "1.5",
                "--tick",
                "0.2",
            ],
        )
    finally:
        t.join()
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["devices", "status", "--site", str(site_file)])
    assert r.exit_code == 0, r.output
    assert "pcs" in r.output and "cp0" in r.output and "modbus" in r.output


def test_cli_cbl_from_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bitgaram.cli import devices as cli_devices

    monkeypatch.setattr(cli_devices, "console", Console(width=200, no_color=True))
    site = parse_site(
        {
            "site": {"id": "cblpark", "name": "C", "timezone": "Asia/Seoul"},
            "tenants": [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}],
            "meters": [
                {"id": "a-load", "tenant": "a", "kind": "load", "unit": "kWh"},
                {"id": "b-load", "tenant": "b", "kind": "load", "unit": "kWh"},
            ],
        }
    )
    idx = pd.date_range("2026-05-25", "2026-06-11", freq="1h", tz="Asia/Seoul", inclusive="left")
    event = (idx >= pd.Timestamp("2026-06-10 14:00", tz="Asia/Seoul")) & (
        idx < pd.Timestamp("2026-06-10 16:00", tz="Asia/Seoul")
    )
    rows = [
        pd.DataFrame(
            {
                "meter_id": m,
                "ts": idx.tz_convert("UTC"),
                "quality": 0,
                "value": [v - (cut if e else 0.0) for e in event],
            }
        )
        for m, v, cut in (("a-load", 100.0, 30.0), ("b-load", 50.0, 0.0))
    ]
    url = f"duckdb:///{tmp_path / 's.duckdb'}"
    with open_store(url) as store:
        store.save_site(site)
        store.write_readings(pd.concat(rows, ignore_index=True))
    r = CliRunner().invoke(
        app,
        [
            "devices",
            "cbl",
            "--store",
            url,
            "--start",
            "2026-06-10T14:00+09:00",
            "--end",
            "2026-06-10T16:00+09:00",
            "--method",
            "mid",
            "--method",
            "high:3/5",
        ],
    )
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.output.splitlines() if "Mid(6/10)" in ln or "High(3/5)" in ln]
    assert len(lines) == 6  # a, b and the park by two methods
    park = next(ln for ln in lines if "park" in ln and "Mid" in ln)
    assert "300.0" in park and "240.0" in park and "60.0" in park  # CBL, metered, reduction kWh
    r = CliRunner().invoke(
        app,
        [
            "devices",
            "cbl",
            "--store",
            url,
            "--start",
            "2026-06-10T14:00",
            "--end",
            "2026-06-10T16:00",
        ],
    )
    assert r.exit_code != 0 and "UTC offset" in str(r.exception)
    # a stored event by its id: the same figures as its start and end
    with open_store(url) as store:
        store.write_dr_events([
            DrEventRecord("cblpark", "ev7", pd.Timestamp("2026-06-10 05:00", tz="UTC"),
                          pd.Timestamp("2026-06-10 07:00", tz="UTC"), 100.0, "SIMPLE/level",
                          True, "", pd.Timestamp("2026-06-09", tz="UTC"))
        ])  # fmt: skip
    r = CliRunner().invoke(app, ["devices", "cbl", "--store", url, "--event", "ev7"])
    assert r.exit_code == 0, r.output
    park = next(ln for ln in r.output.splitlines() if "park" in ln and "Mid" in ln)
    assert "300.0" in park and "240.0" in park and "60.0" in park
    r = CliRunner().invoke(app, ["devices", "cbl", "--store", url, "--event", "nope"])
    assert r.exit_code != 0 and "nope" in str(r.exception)


def test_registry_example_in_the_package_docstring_is_valid() -> None:
    import tomllib

    import bitgaram.devices

    doc = bitgaram.devices.__doc__ or ""
    example = doc.split("::", 1)[1]
    data = tomllib.loads("\n".join(ln[4:] for ln in example.splitlines()))
    site = parse_site(
        {
            "site": {"id": "ex", "name": "Example"},
            "meters": [{"id": "depot-energy", "kind": "ev_charger", "unit": "kWh"}],
            "assets": [
                {"type": "ev_charger", "id": "depot", "chargers": 4, "power_kw": 22},
                {"type": "battery", "id": "park-ess", "capacity_kwh": 2000, "power_kw": 1000},
            ],
            **data,
        }
    )
    assert [d.protocol for d in site.devices] == ["ocpp1.6", "modbus", "openadr2.0b"]


def test_dr_events_of_the_ven_are_kept_in_the_store() -> None:
    """Each tick keeps the VEN's events (a re-sent event replaces its row); an ended event,
    pruned from the VEN, stays in the store for its CBL report."""
    from bitgaram.devices.openadr_ven import DrEvent

    site = parse_site(
        {
            "site": {"id": "drsite", "name": "D", "timezone": "Asia/Seoul"},
            "devices": [
                {
                    "id": "ven",
                    "protocol": "openadr2.0b",
                    "asset": "park",
                    "vtn_url": "http://127.0.0.1:1/OpenADR2/Simple/2.0b",
                    "ven_name": "drsite-ven",
                }
            ],
        }
    )
    now = pd.Timestamp.now(tz="UTC").floor("min")
    with open_store(":memory:") as store:
        svc = DeviceService(site, Fleet({}, None), store=store)
        assert svc.ven is not None
        published = DrEvent("e1", now + pd.Timedelta(hours=1), now + pd.Timedelta(hours=3), 800.0,
                            "LOAD_CONTROL/x-loadControlCapacity", opted_in=True)  # fmt: skip
        svc.ven.events["e1"] = published
        asyncio.run(svc.tick())
        svc.ven.events["e1"] = DrEvent("e1", published.start, published.end, 650.0,
                                       published.signal, opted_in=True)  # fmt: skip
        ago = now - pd.Timedelta(hours=3)
        svc.ven.events["old"] = DrEvent(
            "old", ago, ago + pd.Timedelta(hours=2), None, "SIMPLE/level", reason="no level"
        )
        asyncio.run(svc.tick())
        assert "old" not in svc.ven.events  # ended: pruned from the VEN...
        stored = {e.event_id: e for e in store.read_dr_events("drsite")}
        assert set(stored) == {"e1", "old"}  # ...but kept in the store
        assert stored["e1"].target_kw == 650.0 and stored["e1"].opted_in
        assert pd.Timestamp(stored["e1"].start_at) == published.start
        assert stored["old"].reason == "no level" and stored["old"].target_kw is None
