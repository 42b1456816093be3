"""Overhead of running the park under one supervisor (`bitgaram run`) against the standalone
commands (`bitgaram collect run` and `bitgaram control run` as two processes), same run.

Each repeat starts one arrangement on a fresh DuckDB store and a fresh site id (the two
arrangements alternate), then measures (in this order):

- **control tick latency**: the loop ticks every ``--interval`` seconds on the wall clock while
  readings keep arriving (20 messages/s); latency = arrival of its status message on
  ``<prefix>/<site>/control/status`` minus the tick's clock time (the ``at`` in the message):
  snapshot, MPC solve, setpoints published and journaled, seen by a subscriber.
- **MQTT ingest rate**: ``--messages`` QoS 1 messages of ``--batch`` readings each, published
  flat out; rate = readings from the first publish until the collector's status file shows them
  all accepted (both arrangements write the same status file).
- **CPU per burst**: CPU time (user + system) the arrangement's processes spent from the first
  publish until they are idle again (the control loop may still digest the burst after the
  collector has accepted it), per 1,000 readings. Unlike the rates it hardly depends on what
  else the machine runs, so it tells the per-reading costs apart on a loaded machine too.

Under `bitgaram run` the API is up as well (it serves nothing during the run). Reported:
medians over repeats (ingest) and over all ticks (latency, also p90), and the ratio
service / standalone.

    .venv/bin/python bench/service_overhead.py --messages 400 --batch 100 --repeats 3 --ticks 10

The planner's day-type forecast works on steps of the control interval, so a very short
interval (1 s: 86,400 steps a day) makes each tick take seconds in both arrangements; 5 s (the
default) keeps a plan at ~20 ms and the run around ten minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console

console = Console()
BIN = Path(sys.executable).parent

SITE = """\
[site]
id = "{site}"
name = "Overhead park"
timezone = "Asia/Seoul"
tariff = {{ name = "kepco-industrial-eul-high-a", option = "II", contract_kw = 1000 }}

[[tenants]]
id = "a"
name = "A"

[[tenants]]
id = "b"
name = "B"

[[meters]]
id = "a-load"
tenant = "a"
kind = "load"
unit = "kWh"
resolution = "5min"

[[meters]]
id = "b-load"
tenant = "b"
kind = "load"
unit = "kWh"
resolution = "5min"

[[assets]]
type = "battery"
id = "ess"
tenant = "a"
capacity_kwh = 400
power_kw = 200
"""

COLLECT = """
[collect]
state_file = "state.json"
status_interval_s = 0.1

[collect.writer]
max_delay_s = 0.05

[collect.mqtt]
host = "{host}"
port = {port}
client_id = "bitgaram-bench-{site}"
session_expiry_s = 120
"""

SERVICE = """
[service]
store = "park.duckdb"

[service.admin]
port = {admin}

[service.api]
port = {api}

[service.control]
enabled = {control}
target_kw = 600
interval_s = {interval}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Arrangement:
    """One way to run the park: `bitgaram run`, or the two standalone commands."""

    def __init__(
        self, kind: str, host: str, port: int, interval: int, control: bool = True
    ) -> None:
        self.kind = kind
        self.interval = interval
        self.control = control
        self.site = "ov" + uuid.uuid4().hex[:8]
        self.host, self.port = host, port
        self.dir = Path(tempfile.mkdtemp(prefix=f"bg-{kind}-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.state = self.dir / "state.json"

    def start(self) -> None:
        fill = {"site": self.site, "host": self.host, "port": self.port}
        site_only = SITE.format(**fill)
        with_collect = site_only + COLLECT.format(**fill)
        store = str(self.dir / "park.duckdb")
        bitgaram = str(BIN / "bitgaram")
        if self.kind == "service":
            path = self.dir / "park.toml"
            ports = {
                "admin": _free_port(),
                "api": _free_port(),
                "interval": self.interval,
                "control": str(self.control).lower(),
            }
            path.write_text(with_collect + SERVICE.format(**ports), encoding="utf-8")
            self._spawn([bitgaram, "run", "--site", str(path)])
        else:
            c, s = self.dir / "collect.toml", self.dir / "site.toml"
            c.write_text(with_collect, encoding="utf-8")
            s.write_text(site_only, encoding="utf-8")
            self._spawn([bitgaram, "collect", "run", "--site", str(c), "--store", store])
            if self.control:
                # The control loop journals to its own store: DuckDB lets one process own a file.
                control_store = str(self.dir / "control.duckdb")
                control = [bitgaram, "control", "run", "--site", str(s), "--target", "600"]
                control += ["--interval", str(self.interval), "--port", str(self.port)]
                self._spawn([*control, "--store", control_store])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self._status().get("mqtt", {}).get("connected"):
                return
            for p in self.procs:
                if p.poll() is not None:
                    raise SystemExit(f"{self.kind}: a process exited with {p.returncode}")
            time.sleep(0.1)
        raise SystemExit(f"{self.kind}: collector not connected in 120 s")

    def _spawn(self, cmd: list[str]) -> None:
        log = (self.dir / f"{len(self.procs)}.log").open("wb")
        self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))

    def _status(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.state.read_text()))
        except (OSError, ValueError):
            return {}

    def cpu_s(self) -> float:
        """CPU time (user + system) of the arrangement's processes so far [s]."""
        total = 0
        for p in self.procs:
            try:
                fields = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime [clock ticks]
        return total / os.sysconf("SC_CLK_TCK")

    def accepted(self) -> int:
        return int(self._status().get("sources", {}).get("mqtt", {}).get("accepted", 0))

    def stop(self) -> None:
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


def _client(host: str, port: int, name: str) -> paho.Client:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=paho.MQTTv5)
    c.max_inflight_messages_set(1000)
    c.connect(host, port, keepalive=30)
    c.loop_start()
    return c


def _payload(start: int, n: int, newest: int) -> str:
    return json.dumps(
        [{"timestamp": newest - 300 * (start + i), "value": 25.0, "unit": "kWh"} for i in range(n)]
    )


def ingest(a: Arrangement, messages: int, batch: int) -> tuple[float, float]:
    """Readings per second from the first publish to the last accepted, and the CPU time
    the arrangement spent on them until idle [ms per 1,000 readings]."""
    pub = _client(a.host, a.port, f"bench-pub-{a.site}")
    newest = int(time.time() // 300) * 300 - 300
    before = a.accepted()
    cpu0 = a.cpu_s()
    started = time.perf_counter()
    infos = []
    for m in range(messages):
        meter = ("a-load", "b-load")[m % 2]
        body = _payload((m // 2) * batch, batch, newest)
        infos.append(pub.publish(f"bitgaram/{a.site}/{meter}/reading", body, qos=1))
    for info in infos:
        info.wait_for_publish(30)
    total = messages * batch
    while a.accepted() - before < total:
        time.sleep(0.005)
        if time.perf_counter() - started > 300:
            raise SystemExit(f"{a.kind}: only {a.accepted() - before} of {total} accepted")
    elapsed = time.perf_counter() - started
    pub.disconnect()
    pub.loop_stop()
    # idle again: under 5 % of a core over half a second (the loop ticks now and then)
    cpu, deadline = a.cpu_s(), time.monotonic() + 300
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = a.cpu_s()
        if now - cpu < 0.025:
            break
        cpu = now
    return total / elapsed, (cpu - cpu0) / total * 1e6


def tick_latency(a: Arrangement, ticks: int) -> list[float]:
    """Status arrival minus the tick's clock time [ms], while readings keep coming."""
    seen: list[float] = []
    done = threading.Event()

    def on_message(client: paho.Client, u: Any, msg: paho.MQTTMessage) -> None:
        arrived = time.time()
        doc = json.loads(msg.payload)
        at = np.datetime64(doc["at"].replace("+00:00", ""), "us").astype(float) / 1e6
        seen.append((arrived - at) * 1000.0)
        if len(seen) >= ticks + 1:
            done.set()

    sub = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-sub-{a.site}", protocol=paho.MQTTv5
    )
    sub.on_message = on_message
    sub.connect(a.host, a.port)
    sub.subscribe(f"bitgaram/{a.site}/control/status", qos=1)
    sub.loop_start()
    pub = _client(a.host, a.port, f"bench-feed-{a.site}")
    newest = int(time.time() // 300) * 300 - 300  # the last whole 5-min interval
    k = 0
    deadline = time.monotonic() + ticks * a.interval * 3 + 30
    while not done.is_set() and time.monotonic() < deadline:
        for meter in ("a-load", "b-load"):
            pub.publish(f"bitgaram/{a.site}/{meter}/reading", _payload(0, 1, newest), qos=1)
        k += 1
        time.sleep(0.05)
    for c in (sub, pub):
        c.disconnect()
        c.loop_stop()
    return seen[1:]  # the first status may be a retained one from before


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--messages", type=int, default=400)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ticks", type=int, default=10)
    ap.add_argument("--interval", type=int, default=5, help="Control interval [s].")
    ap.add_argument(
        "--no-control",
        action="store_true",
        help="Collector (and API) only: no control loop in either arrangement, no tick latency.",
    )
    args = ap.parse_args()
    # SIGTERM ends the run like Ctrl-C: the arrangements' processes are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rates: dict[str, list[float]] = {"standalone": [], "service": []}
    cpus: dict[str, list[float]] = {"standalone": [], "service": []}
    lat: dict[str, list[float]] = {"standalone": [], "service": []}
    for r in range(args.repeats):
        for kind in ("standalone", "service") if r % 2 == 0 else ("service", "standalone"):
            a = Arrangement(kind, args.host, args.port, args.interval, not args.no_control)
            try:
                a.start()
                # Ticks first: the control loop subscribes to the readings too, and would still
                # be digesting the ingest burst (peak watch) if measured right after it.
                ms = [] if args.no_control else tick_latency(a, args.ticks)
                rate, cpu = ingest(a, args.messages, args.batch)
            finally:
                a.stop()
            rates[kind].append(rate)
            cpus[kind].append(cpu)
            lat[kind] += ms
            ticks = (
                f", tick latency median {np.median(ms):.1f} ms over {len(ms)} ticks" if ms else ""
            )
            console.print(
                f"repeat {r + 1} {kind:>10}: ingest {rate:,.0f} readings/s, "
                f"CPU {cpu:.1f} ms per 1,000 readings{ticks}"
            )
    console.print(
        f"\n{args.messages * args.batch:,} readings per ingest run, {args.repeats} repeats"
    )
    for kind in ("standalone", "service"):
        ticks = (
            f"; tick latency median {np.median(lat[kind]):.1f} ms, "
            f"p90 {np.percentile(lat[kind], 90):.1f} ms"
            if lat[kind]
            else ""
        )
        console.print(
            f"{kind:>10}: ingest median {np.median(rates[kind]):,.0f} readings/s "
            f"({min(rates[kind]):,.0f}-{max(rates[kind]):,.0f}); CPU median "
            f"{np.median(cpus[kind]):.1f} ms per 1,000 readings{ticks}"
        )
    ingest_ratio = np.median(rates["service"]) / np.median(rates["standalone"])
    cpu_ratio = np.median(cpus["service"]) / np.median(cpus["standalone"])
    ratios = f"ratio service/standalone: ingest {ingest_ratio:.2f}, CPU {cpu_ratio:.2f}"
    if lat["service"] and lat["standalone"]:
        ratios += f", tick latency {np.median(lat['service']) / np.median(lat['standalone']):.2f}"
    console.print(ratios)


if __name__ == "__main__":
    main()
