"""Latency from a reading published on MQTT to the alert and setpoint it causes, real broker.

The live loop (MqttLink + LiveController + ControlLoop, park MPC planning each window) runs on
the broker. For each simulated window the loop first plans (tick), then a publisher sends one
park-grid reading, alternately far above and far below the target, so every reading raises or
clears a peak alert, and every high one also triggers a peak action (an ESS setpoint). A
separate subscriber timestamps what it receives. Reported: median and p99 [ms] from publishing
the reading to receiving the alert / the setpoint, with the broker round trip of a plain message
measured in the same run as the reference.

    .venv/bin/python bench/control_latency.py --n 300 [--private-nodelay]

Mosquitto leaves Nagle's algorithm on by default: two small messages to one subscriber in a row
(a setpoint, then the alert) wait ~40 ms for the subscriber's delayed ACK. ``--private-nodelay``
runs the same measurement on a private broker with ``set_tcp_nodelay true``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from operator import contains
from pathlib import Path

import numpy as np
import paho.mqtt.client as paho
import pandas as pd
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "control"))
from park_fixtures import TARGET_KW, park_site

from bitgaram.control.journal import MemoryJournal
from bitgaram.control.live import LiveController
from bitgaram.control.loop import ControlLoop, LoopConfig
from bitgaram.control.mqtt_link import MqttLink
from bitgaram.control.planner import ParkPlanner
from bitgaram.peak import PeakWatch
from bitgaram.tariff import TouTariff, load_tariff


def _longer(items: list[float], n: int) -> bool:
    return len(items) > n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument(
        "--private-nodelay",
        action="store_true",
        help="Start a private mosquitto with set_tcp_nodelay true on a free port and use it.",
    )
    args = ap.parse_args()
    broker: subprocess.Popen[bytes] | None = None
    if args.private_nodelay:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            args.port = int(s.getsockname()[1])
        conf = Path(tempfile.mkdtemp()) / "mosquitto.conf"
        conf.write_text(
            f"listener {args.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "set_tcp_nodelay true\n"
        )
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        broker = subprocess.Popen([mosquitto, "-c", str(conf)], stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    try:
        run(args)
    finally:
        if broker is not None:
            broker.kill()
            broker.wait()


def run(args: argparse.Namespace) -> None:
    """The measurement."""
    site_id = f"lat{int(time.time())}"
    site = park_site(site_id)
    tariff = load_tariff("kepco-industrial-eul-high-a", option="II")
    assert isinstance(tariff, TouTariff)
    holder: dict[str, LiveController] = {}
    link = MqttLink(
        args.host,
        args.port,
        site_id,
        lambda m, ts, v, now: holder["c"].on_reading(m, ts, v, now),
        client_id=f"{site_id}-ctl",
    )
    loop = ControlLoop(
        PeakWatch(site, targets={"park": TARGET_KW}),
        ParkPlanner(site, tariff, horizon=8),
        link.publish,
        MemoryJournal(),
        ("ess",),
        200.0,
        LoopConfig(stale_after_s=1e9),  # simulated time runs ahead of the wall clock
    )
    holder["c"] = LiveController(loop)
    holder["c"].soc_kwh = 300.0  # the ESS has energy: high readings get a discharge action
    got: dict[str, float] = {}
    echo: dict[int, float] = {}
    peak_setpoints: list[float] = []
    cond = threading.Condition()

    def on_message(c: paho.Client, u: object, m: paho.MQTTMessage) -> None:
        now = time.perf_counter()
        with cond:
            if m.topic.endswith("/alerts"):
                ws = json.loads(m.payload).get("window_start")
                if ws and ws not in got:
                    got[ws] = now
            elif m.topic.endswith("/setpoint") and json.loads(m.payload)["mode"] == "peak":
                peak_setpoints.append(now)
            elif m.topic.endswith("/echo"):
                echo[int(m.payload)] = now
            cond.notify_all()

    sub = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{site_id}-sub", protocol=paho.MQTTv5)
    sub.on_message = on_message
    sub.connect(args.host, args.port)
    sub.subscribe(
        [
            (f"bitgaram/{site_id}/alerts", 1),
            (f"bitgaram/{site_id}/echo", 1),
            (f"bitgaram/{site_id}/ess/setpoint", 1),
        ]
    )
    sub.loop_start()
    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{site_id}-pub", protocol=paho.MQTTv5)
    pub.connect(args.host, args.port)
    pub.loop_start()
    link.start()
    time.sleep(0.5)
    t0 = pd.Timestamp("2026-08-04 05:00", tz="UTC")
    lat, ref, sp_lat = [], [], []
    for i in range(args.n):
        ws = t0 + pd.Timedelta(minutes=15 * i)
        # Plan the window first (as the live loop does at its start): resets the setpoints.
        holder["c"].tick(ws)
        time.sleep(0.005)
        with cond:
            n_sp = len(peak_setpoints)
        kwh = (900.0 if i % 2 == 0 else 100.0) * 5 / 60
        payload = json.dumps({"timestamp": ws.isoformat(), "value": kwh, "unit": "kWh"})
        sent = sent_reading = time.perf_counter()
        pub.publish(f"bitgaram/{site_id}/park-grid/reading", payload, qos=1)
        with cond:
            cond.wait_for(partial(contains, got, ws.isoformat()), timeout=5)
        if ws.isoformat() in got:
            lat.append(got[ws.isoformat()] - sent)
        if i % 2 == 0:
            with cond:
                cond.wait_for(partial(_longer, peak_setpoints, n_sp), timeout=5)
                if len(peak_setpoints) > n_sp:
                    sp_lat.append(peak_setpoints[n_sp] - sent_reading)
        sent = time.perf_counter()
        pub.publish(f"bitgaram/{site_id}/echo", str(i), qos=1)
        with cond:
            cond.wait_for(partial(contains, echo, i), timeout=5)
        if i in echo:
            ref.append(echo[i] - sent)
    link.stop()
    pub.loop_stop()
    sub.loop_stop()
    a, r, sp = np.array(lat) * 1e3, np.array(ref) * 1e3, np.array(sp_lat) * 1e3
    print(f"readings {args.n}, alerts received {a.size}, peak setpoints received {sp.size}")
    print(f"reading -> alert: median {np.median(a):.2f} ms, p99 {np.percentile(a, 99):.2f} ms")
    print(
        f"reading -> peak setpoint: median {np.median(sp):.2f} ms, "
        f"p99 {np.percentile(sp, 99):.2f} ms"
    )
    print(
        f"broker round trip (reference): median {np.median(r):.2f} ms, "
        f"p99 {np.percentile(r, 99):.2f} ms"
    )


if __name__ == "__main__":
    main()
