"""Live loop on a real broker: a restart gives safe setpoints and an alert, then it resumes."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import paho.mqtt.client as paho
import pandas as pd
from paho.mqtt.enums import CallbackAPIVersion
from park_fixtures import TARGET_KW, park_site

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collect"))
from mqtt_helpers import PrivateBroker, Publisher, wait_until

from bitgaram.control.journal import MemoryJournal
from bitgaram.control.live import LiveController
from bitgaram.control.loop import ControlLoop, LoopConfig
from bitgaram.control.mqtt_link import MqttLink
from bitgaram.control.planner import ParkPlanner
from bitgaram.peak import PeakWatch
from bitgaram.tariff import TouTariff, load_tariff


def test_broker_restart_gives_safe_setpoints_then_resumes(tmp_path: Path) -> None:
    broker = PrivateBroker(tmp_path)
    port = broker.port

    site = park_site("brokerpark")
    tariff = load_tariff("kepco-industrial-eul-high-a", option="II")
    assert isinstance(tariff, TouTariff)
    journal = MemoryJournal()
    received: list[tuple[str, dict[str, object]]] = []
    broker.start()
    watcher = paho.Client(CallbackAPIVersion.VERSION2, client_id="watcher", protocol=paho.MQTTv5)
    watcher.on_message = lambda c, u, m: received.append((m.topic, json.loads(m.payload)))
    watcher.on_connect = lambda c, u, f, r, p: c.subscribe("bitgaram/brokerpark/#", qos=1)
    watcher.reconnect_delay_set(1, 2)
    holder: dict[str, LiveController] = {}

    def status() -> dict[str, object]:
        found = [p for t, p in received if t.endswith("/control/status")]
        return found[-1] if found else {}

    link = MqttLink(
        "127.0.0.1",
        port,
        site.site.id,
        lambda m, ts, v, now: holder["c"].on_reading(m, ts, v, now),
        lambda a, d: holder["c"].on_state(a, d),
        client_id="control-test",
    )
    loop = ControlLoop(
        PeakWatch(site, targets={"park": TARGET_KW}),
        ParkPlanner(site, tariff, horizon=8),
        link.publish,
        journal,
        ("ess",),
        200.0,
        LoopConfig(stale_after_s=600.0),
    )
    ctl = holder["c"] = LiveController(loop)
    try:
        watcher.connect("127.0.0.1", port)
        watcher.loop_start()
        link.start()
        t0 = pd.Timestamp.now(tz="UTC").floor("15min")

        def send(client_id: str, at: pd.Timestamp) -> None:
            pub = Publisher("127.0.0.1", port, client_id)
            pub.publish(
                "bitgaram/brokerpark/park-grid/reading",
                {"timestamp": at.isoformat(), "value": 40.0, "unit": "kWh"},
            )
            pub.publish("bitgaram/brokerpark/ess/state", {"soc_kwh": 200.0})
            pub.close()

        send("pub1", t0 - pd.Timedelta(minutes=5))
        assert wait_until(lambda: ctl.data_time is not None)
        ctl.tick(t0)
        assert loop.setpoints["ess"].mode == "mpc"
        broker.kill()
        assert wait_until(lambda: not link.connected.is_set())
        # The broker is gone: no reading for two intervals, the next tick is stale.
        ctl.tick(t0 + pd.Timedelta(minutes=30))
        assert loop.setpoints["ess"].mode == "safe" and loop.setpoints["ess"].power_kw == 0.0
        broker.start()
        assert wait_until(lambda: link.subscribed.is_set(), timeout=15)
        # Queued while the broker was down, the safe setpoint and the status go out now; both
        # are retained, so the watcher gets them whichever of the two reconnects first.
        assert wait_until(lambda: status().get("faults") == ["stale_data"], timeout=15)
        assert wait_until(
            lambda: any(t.endswith("/ess/setpoint") and p["mode"] == "safe" for t, p in received)
        )
        assert [a.kind for a in journal.alerts] == ["stale_data"]
        time.sleep(0.2)
        send("pub2", t0 + pd.Timedelta(minutes=40))
        assert wait_until(
            lambda: ctl.data_time is not None and ctl.data_time > t0 + pd.Timedelta(minutes=30)
        )
        ctl.tick(t0 + pd.Timedelta(minutes=45))
        assert loop.setpoints["ess"].mode == "mpc"
        assert wait_until(
            lambda: any(t.endswith("/alerts") and p["kind"] == "resumed" for t, p in received),
            timeout=10,
        )
        assert wait_until(lambda: status().get("mode") == "mpc" and not status()["faults"])
    finally:
        link.stop()
        watcher.loop_stop()
        broker.kill()
