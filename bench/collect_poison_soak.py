"""Soak: 50,000 MQTT readings with 1 % poison and two ``kill -9`` of the collector.

A publisher sends ``--readings`` readings for ``--meters`` meters, ten per QoS 1
message, at a steady rate. One reading in a hundred is poison, cycling through
four kinds: a NUL byte in the unit, a timestamp in year 9999, a 100,000-character
unit, and a value nested 50 levels deep. ``bitgaram collect run`` (a child
process) writes into PostgreSQL; it is killed with SIGKILL twice mid-stream and
restarted each time. At the end:

- every good reading must be stored exactly once (count and value checksum),
- every poison reading quarantined exactly once,
- and the longest time the stored count stood still while the collector was up
  and readings were outstanding is reported (against the flush interval).

Run (PostgreSQL and Mosquitto on 127.0.0.1; the broker's ``max_queued_messages``
must hold what is published during a restart, ~3 s at the default rate)::

    .venv/bin/python bench/collect_poison_soak.py --store postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from bitgaram.collect.mqtt import reading_topic
from bitgaram.collect.service import read_status
from bitgaram.store import open_store

T0 = 1_735_689_600  # 2025-01-01T00:00Z
PER_MESSAGE = 10
FLUSH_S = 0.05


def site_toml(site_id: str, meters: int, host: str, port: int) -> str:
    lines = [
        "[site]",
        f'id = "{site_id}"',
        'name = "soak"',
        'timezone = "Asia/Seoul"',
    ]
    for m in range(meters):
        lines += ["", "[[meters]]", f'id = "m{m}"', 'kind = "load"', 'unit = "kWh"']
        lines.append('resolution = "1min"')
    lines += [
        "",
        "[collect]",
        'state_file = "state.json"',
        "status_interval_s = 0.2",
        "",
        "[collect.writer]",
        f"max_delay_s = {FLUSH_S}",
        "",
        "[collect.mqtt]",
        f'host = "{host}"',
        f"port = {port}",
        f'client_id = "bitgaram-soak-{site_id}"',
        "session_expiry_s = 600",
    ]
    return "\n".join(lines) + "\n"


def poison(kind: int, ts: int) -> dict[str, Any]:
    """One poison reading of kind 0..3."""
    if kind == 0:
        return {"timestamp": ts, "value": 1.0, "unit": "kWh\u0000"}
    if kind == 1:
        return {"timestamp": 253_402_297_200, "value": 1.0, "unit": "kWh"}
    if kind == 2:
        return {"timestamp": ts, "value": 1.0, "unit": "k" * 100_000}
    nested: Any = 1.0
    for _ in range(50):
        nested = [nested]
    return {"timestamp": ts, "value": nested, "unit": "kWh"}


class Collector:
    """``bitgaram collect run`` as a child process."""

    def __init__(self, site: Path, store: str) -> None:
        self.site, self.store = site, store
        self.state = site.parent / "state.json"
        self.proc: subprocess.Popen[bytes] | None = None
        self.up_since: float | None = None

    def start(self) -> None:
        if self.state.exists():
            self.state.unlink()
        boot = "from bitgaram.cli import app, collect; app(prog_name='bitgaram')"
        cmd = [sys.executable, "-c", boot, "collect", "run", "--site", str(self.site)]
        cmd += ["--store", self.store]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if read_status(self.state).get("mqtt", {}).get("connected"):
                    self.up_since = time.monotonic()
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise RuntimeError("collector did not connect")

    def kill(self) -> None:
        assert self.proc is not None
        self.up_since = None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


def main() -> None:
    """Run the soak and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--mqtt", default="127.0.0.1:1883")
    parser.add_argument("--readings", type=int, default=50_000)
    parser.add_argument("--meters", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second")
    args = parser.parse_args()
    host, port = args.mqtt.split(":")[0], int(args.mqtt.split(":")[1])
    run = "soak" + uuid.uuid4().hex[:8]
    schema = f"bg_{run}"
    store_url = f"{args.store}?schema={schema}"
    work = Path(tempfile.mkdtemp(prefix="bitgaram-soak-"))
    site = work / "site.toml"
    site.write_text(site_toml(run, args.meters, host, int(port)), encoding="utf-8")
    collector = Collector(site, store_url)

    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{run}-pub", protocol=paho.MQTTv5)
    pub.max_inflight_messages_set(1000)
    pub.connect(host, int(port))
    pub.loop_start()

    messages: list[tuple[str, list[dict[str, Any]]]] = []
    good_count = good_sum = poison_count = 0
    for i in range(args.readings // PER_MESSAGE):
        meter = i % args.meters
        items = []
        for k in range(PER_MESSAGE):
            n = i * PER_MESSAGE + k
            ts = T0 + 60 * ((i // args.meters) * PER_MESSAGE + k)  # one minute apart per meter
            if n % 100 == 37:
                items.append(poison((n // 100) % 4, ts))
                poison_count += 1
            else:
                value = float(n % 97) / 4
                items.append({"timestamp": ts, "value": value, "unit": "kWh"})
                good_count += 1
                good_sum += value
        messages.append((reading_topic("bitgaram", run, f"m{meter}"), items))

    counts: list[tuple[float, int, bool]] = []
    stop = threading.Event()

    def watch() -> None:
        with psycopg.connect(args.store, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    n = conn.execute(f"SELECT count(*) FROM {schema}.readings").fetchone()[0]
                except psycopg.Error:
                    n = -1
                counts.append((time.monotonic(), int(n), collector.up_since is not None))
                time.sleep(0.05)

    kills = (len(messages) // 3, 2 * len(messages) // 3)
    started = time.monotonic()
    try:
        collector.start()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        infos = []
        for i, (topic, items) in enumerate(messages):
            infos.append(pub.publish(topic, json.dumps(items), qos=1))
            if i in kills:
                collector.kill()
                collector.start()
            time.sleep(1 / args.rate)
        for info in infos:
            info.wait_for_publish(30)
        published_at = time.monotonic()
        deadline = time.monotonic() + 120
        with open_store(store_url) as store:
            while store.count_readings() < good_count and time.monotonic() < deadline:
                time.sleep(0.2)
        done_at = time.monotonic()
        assert collector.terminate() == 0
    finally:
        stop.set()
        pub.loop_stop()
        pub.disconnect()
        if collector.proc is not None and collector.proc.poll() is None:
            collector.kill()
    with open_store(store_url) as store:
        frame = store.read_readings()
        stored, total = len(frame), float(frame["value"].sum())
        quarantined = store.count_quarantine()
        reasons = store.list_quarantine(limit=100_000)["reason"].str.split(":").str[0]
    stall = 0.0
    last_change = None
    last_n = -1
    for t, n, up in counts:
        if n != last_n or not up or n >= good_count:
            last_change, last_n = t, n
            continue
        if last_change is not None:
            stall = max(stall, t - last_change)
    with psycopg.connect(args.store, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    print(f"published {good_count:,} good and {poison_count:,} poison readings in "
          f"{len(messages):,} messages; collector killed with SIGKILL twice")  # fmt: skip
    print(f"stored {stored:,} readings (expected {good_count:,}); value sum {total:,.2f} "
          f"(expected {good_sum:,.2f})")  # fmt: skip
    print(f"quarantined {quarantined:,} rows (expected {poison_count:,}): "
          f"{reasons.value_counts().to_dict()}")  # fmt: skip
    print(f"longest stall with the collector up and readings outstanding: {stall:.2f} s "
          f"(flush interval {FLUSH_S} s, store polled every 0.05 s)")  # fmt: skip
    print(f"wall time {done_at - started:.1f} s (publishing {published_at - started:.1f} s)")
    ok = stored == good_count and abs(total - good_sum) < 1e-6 and quarantined == poison_count
    print("RESULT: " + ("every good reading once, every poison once" if ok else "MISMATCH"))


if __name__ == "__main__":
    main()
