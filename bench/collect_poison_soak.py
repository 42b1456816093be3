"""Soak: 50,000 MQTT readings with 1 % poison and two ``kill -9`` of the collector.

A publisher sends ``--readings`` readings for ``--meters`` meters, ten per QoS 1
message, at a steady rate. One reading in a hundred is poison, cycling through
four kinds: a NUL byte in the unit, a timestamp in year 9999, a 100,000-character
unit, and a value nested 50 levels deep. ``bitgaram collect run`` (a child
process) writes into PostgreSQL; it is killed with SIGKILL twice mid-stream and
restarted each time. At the end:

- every good reading must be stored exactly once (count and value checksum),
- every poison reading quarantined exactly once,
- and two times are reported per restart and overall: the restart time (from
  the ``kill -9``, through the new process's start, to its subscription and then
  to the first reading stored again), and the stalls: a stall is a time while
  the collector is up (subscribed) and readings it had been sent are not yet
  stored (published good readings > stored readings), with no commit that stores
  a reading. Time while the collector is down or starting is restart time, not
  stall; a stall cut short by a ``kill -9`` is not counted.

Stalls are measured exactly, not to within a poll: the collector runs with a
clock (installed by this script's boot code, the collector itself unchanged)
that appends a line to a file when each store transaction returns from its
commit (``time.monotonic()``, the system-wide monotonic clock, and the readings
it inserted) and when the MQTT subscription is granted. The stored count at
any instant is the sum of the commits logged before it. The count polled from
the store every ``--poll`` seconds (DuckDB: the collector's status file, since
DuckDB admits a single process) is a cross-check, and it restores a commit that
a ``kill -9`` left unlogged (the server committed, the client was killed before
its line): what the store holds between a kill and the next subscription beyond
the logged count is counted as committed at the kill (:func:`reconcile`).

The publisher waits while the collector restarts, so the backlog a restart
meets is what the killed collector had received but not committed (tens of
messages); ``collect_restart_stages.py`` times a restart onto a larger one.

Run (PostgreSQL on 127.0.0.1). By default the run starts its own Mosquitto configured as
docs/deploy.md says (``max_inflight_messages 1000``, ``set_tcp_nodelay true``, a large
``max_queued_messages``: :func:`private_broker`); ``--mqtt host:port`` uses a running broker
as it is configured (its ``max_queued_messages`` must hold the messages in flight at a kill)::

    .venv/bin/python bench/collect_poison_soak.py --store postgresql://postgres@127.0.0.1/test
    .venv/bin/python bench/collect_poison_soak.py --mqtt 127.0.0.1:1883  # the default store
    .venv/bin/python bench/collect_poison_soak.py --store duckdb

The collector of another source tree (a reference measured in the same session)
runs with ``PYTHONPATH=<tree>/src`` set for this script, e.g.
``PYTHONPATH=/work/main/src .venv/bin/python bench/collect_poison_soak.py ...``;
the clock only wraps ``write_readings`` of the store class and the MQTT source's
subscription callback, which every version has.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
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
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from bitgaram.collect.mqtt import reading_topic
from bitgaram.collect.service import read_status
from bitgaram.store import open_store

T0 = 1_735_689_600  # 2025-01-01T00:00Z
PER_MESSAGE = 10
FLUSH_S = 0.05
#: Stalls beginning this soon after the collector came up are the restart's (backlog) [s].
AFTER_START_S = 2.0


def site_toml(site_id: str, meters: int, host: str, port: int, status_s: float = 0.2) -> str:
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
        f"status_interval_s = {status_s}",
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


#: The broker settings of docs/deploy.md ("Mosquitto on the same machine"), for a private
#: broker on ``{port}`` keeping its files in ``{dir}``.
DEPLOY_BROKER_CONF = """listener {port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location {dir}/
max_queued_messages 100000
max_inflight_messages 1000
set_tcp_nodelay true
"""


def private_broker(work: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A Mosquitto for this run, configured as the deployment guide says; (process, port).

    The machine's own broker may run with Mosquitto's defaults: 20 messages in flight
    per client, and Nagle's algorithm on its sends, which holds the first message after a
    subscription back until the client's delayed ACK (about 40 ms). docs/deploy.md asks
    for ``max_inflight_messages 1000`` and ``set_tcp_nodelay true``; this is that broker.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    conf = work / "mosquitto.conf"
    conf.write_text(DEPLOY_BROKER_CONF.format(port=port, dir=work), encoding="utf-8")
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen(
        [mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return proc, port
        if proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {proc.returncode}; config {conf}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the private mosquitto did not listen within 10 s")


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


#: Boot code of the collector process: ``bitgaram collect run`` with a commit clock.
BOOT = """
import os, time
from bitgaram.collect.mqtt import MqttSource
from {module} import {store_class} as _Store
_fd = os.open(os.environ["BITGARAM_SOAK_CLOCK"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
def _note(*fields):
    os.write(_fd, (" ".join(map(str, fields)) + "\\n").encode())
_write = _Store.write_readings
def _write_readings(self, *args, **kwargs):
    report = _write(self, *args, **kwargs)
    _note("c", repr(time.monotonic()), report.inserted)
    return report
_Store.write_readings = _write_readings
_subscribe = MqttSource._on_subscribe
def _on_subscribe(self, *args, **kwargs):
    _subscribe(self, *args, **kwargs)
    if self.subscribed.is_set():
        _note("s", repr(time.monotonic()), os.getpid())
MqttSource._on_subscribe = _on_subscribe
from bitgaram.cli import app, collect
app(prog_name="bitgaram")
"""


def read_clock(path: Path) -> tuple[list[tuple[float, int]], list[float]]:
    """The commits ``(time, readings inserted)`` and subscriptions (times) in a clock file."""
    commits: list[tuple[float, int]] = []
    subscribed: list[float] = []
    if not path.exists():
        return commits, subscribed
    for line in path.read_text(encoding="utf-8").splitlines():
        kind, t, rest = line.split(" ")[:3]
        if kind == "c":
            commits.append((float(t), int(rest)))
        elif kind == "s":
            subscribed.append(float(t))
    return commits, subscribed


class Collector:
    """``bitgaram collect run`` as a child process."""

    def __init__(self, site: Path, store: str) -> None:
        self.site, self.store = site, store
        self.state = site.parent / "state.json"
        self.clock = site.parent / "clock.log"
        #: (up, down) of every run of the collector [monotonic s].
        self.lives: list[tuple[float, float]] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.up_since: float | None = None
        #: (killed or first spawned at, up at) of every start [monotonic s].
        self.starts: list[tuple[float, float]] = []
        #: Readings stored before this process started (DuckDB: counted from its status).
        self.base = 0

    def start(self, since: float | None = None) -> None:
        if self.state.exists():
            self.state.unlink()
        since = time.monotonic() if since is None else since
        if not self.store.startswith("postgresql"):
            with open_store(self.store) as store:  # the process holding the file is gone
                self.base = store.count_readings()
        if self.store.startswith("postgresql"):
            boot = BOOT.format(module="bitgaram.store.postgres_store", store_class="PostgresStore")
        else:
            boot = BOOT.format(module="bitgaram.store.duckdb_store", store_class="DuckDBStore")
        cmd = [sys.executable, "-c", boot, "collect", "run", "--site", str(self.site)]
        cmd += ["--store", self.store]
        env = {**os.environ, "BITGARAM_SOAK_CLOCK": str(self.clock)}
        known = len(read_clock(self.clock)[1])
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            subscribed = read_clock(self.clock)[1]
            if len(subscribed) > known:
                self.up_since = subscribed[known]  # the subscription's own time
                self.starts.append((since, self.up_since))
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector exited with {self.proc.returncode}")
            time.sleep(0.005)
        raise RuntimeError("collector did not subscribe")

    def kill(self) -> float:
        """SIGKILL the collector; when it was sent [monotonic s]."""
        assert self.proc is not None
        killed = time.monotonic()
        if self.up_since is not None:
            self.lives.append((self.up_since, killed))
        self.up_since = None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        return killed

    def terminate(self) -> int:
        assert self.proc is not None and self.up_since is not None
        self.lives.append((self.up_since, time.monotonic()))
        self.up_since = None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


def main() -> None:
    """Run the soak and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--store",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="PostgreSQL server (a fresh schema is used), or 'duckdb' for a fresh DuckDB file",
    )
    parser.add_argument(
        "--mqtt",
        default="private",
        help="'private': a Mosquitto of this run, configured as docs/deploy.md says"
        " (default); or host:port of a running broker, as it is configured",
    )
    parser.add_argument("--readings", type=int, default=50_000)
    parser.add_argument("--meters", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second")
    parser.add_argument(
        "--poll", type=float, default=0.02, help="store polled every [s] (a cross-check)"
    )
    args = parser.parse_args()
    run = "soak" + uuid.uuid4().hex[:8]
    schema = f"bg_{run}"
    work = Path(tempfile.mkdtemp(prefix="bitgaram-soak-"))
    broker = None
    if args.mqtt == "private":
        broker, port = private_broker(work)
        host = "127.0.0.1"
    else:
        host, port = args.mqtt.split(":")[0], int(args.mqtt.split(":")[1])
    postgres = args.store.startswith("postgresql")
    store_url = f"{args.store}?schema={schema}" if postgres else str(work / "soak.duckdb")
    site = work / "site.toml"
    # DuckDB admits one process: the count is the collector's own (status file, every poll).
    status_s = 0.2 if postgres else args.poll
    site.write_text(site_toml(run, args.meters, host, int(port), status_s), encoding="utf-8")
    collector = Collector(site, store_url)

    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{run}-pub", protocol=paho.MQTTv5)
    pub.max_inflight_messages_set(1000)
    pub.connect(host, int(port))
    pub.loop_start()

    messages: list[tuple[str, list[dict[str, Any]]]] = []
    good_in: list[int] = []
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
        good_in.append(sum(1 for item in items if not is_poison(item)))

    # (time, stored, collector up, good readings published so far)
    counts: list[tuple[float, int, bool, int]] = []
    published = [0]
    #: (time, good readings published so far) after every publish [monotonic s].
    publishes: list[tuple[float, int]] = []
    stop = threading.Event()

    def watch() -> None:
        conn = psycopg.connect(args.store, autocommit=True) if postgres else None
        n = 0
        while not stop.is_set():
            sent = published[0]  # read before the count: never more than was sent
            if conn is not None:
                try:
                    n = conn.execute(f"SELECT count(*) FROM {schema}.readings").fetchone()[0]
                except psycopg.Error:
                    n = -1
            else:
                with contextlib.suppress(OSError, ValueError, KeyError):
                    n = collector.base + read_status(collector.state)["writer"]["rows_written"]
            counts.append((time.monotonic(), int(n), collector.up_since is not None, sent))
            time.sleep(args.poll)
        if conn is not None:
            conn.close()

    kills = (len(messages) // 3, 2 * len(messages) // 3)
    started = time.monotonic()
    try:
        collector.start()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        infos = []
        for i, (topic, items) in enumerate(messages):
            infos.append(pub.publish(topic, json.dumps(items), qos=1))
            published[0] += good_in[i]
            publishes.append((time.monotonic(), published[0]))
            if i in kills:
                collector.start(since=collector.kill())
            time.sleep(1 / args.rate)
        for info in infos:
            info.wait_for_publish(30)
        published_at = time.monotonic()
        deadline = time.monotonic() + 120
        while (not counts or counts[-1][1] < good_count) and time.monotonic() < deadline:
            time.sleep(0.2)
        done_at = time.monotonic()
        assert collector.terminate() == 0
    finally:
        stop.set()
        pub.loop_stop()
        pub.disconnect()
        if collector.proc is not None and collector.proc.poll() is None:
            collector.kill()
        if broker is not None:
            broker.terminate()
            broker.wait(10)
    with open_store(store_url) as store:
        frame = store.read_readings()
        stored, total = len(frame), float(frame["value"].sum())
        quarantined = store.count_quarantine()
        reasons = store.list_quarantine(limit=100_000)["reason"].str.split(":").str[0]
    commits, _ = read_clock(collector.clock)
    polls = [(t, n) for t, n, _, _ in counts if n >= 0]
    logged = sum(n for _, n in commits)
    commits = reconcile(collector.lives, commits, polls)
    stalls = stalls_of(collector.lives, commits, publishes) or [(0.0, 0.0)]
    restarts = [restart_of(commits, since, up) for since, up in collector.starts[1:]]
    if postgres:
        with psycopg.connect(args.store, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(f"published {good_count:,} good and {poison_count:,} poison readings in "
          f"{len(messages):,} messages; collector killed with SIGKILL twice")  # fmt: skip
    print(f"stored {stored:,} readings (expected {good_count:,}); value sum {total:,.2f} "
          f"(expected {good_sum:,.2f})")  # fmt: skip
    print(f"quarantined {quarantined:,} rows (expected {poison_count:,}): "
          f"{reasons.value_counts().to_dict()}")  # fmt: skip
    print(f"readings the logged commits inserted {logged:,}, with those a kill -9 left unlogged "
          f"{sum(n for _, n in commits):,} (the store holds {stored:,})")  # fmt: skip
    for k, (down, first) in enumerate(restarts, 1):
        print(f"restart {k}: kill -9 to subscribed {down:.2f} s, subscribed to first reading "
              f"stored {first:.2f} s")  # fmt: skip
    print(f"longest stall with the collector up and readings outstanding: {stalls[0][0]:.3f} s "
          f"(flush interval {FLUSH_S} s, exact commit clock); the longest five "
          "[s] (began [s] after the collector came up): "
          + ", ".join(f"{d:.3f} ({a:.1f})" for d, a in stalls[:5]))  # fmt: skip
    after_start = max((d for d, a in stalls if a < AFTER_START_S), default=0.0)
    later = [d for d, a in stalls if a >= AFTER_START_S] or [0.0]
    print(f"longest stall within {AFTER_START_S:g} s of a (re)start {after_start:.3f} s, later "
          f"{max(later):.3f} s; stalls while up: {len(stalls):,}, median "
          f"{statistics.median(d for d, _ in stalls):.3f} s, 99th percentile "
          f"{float(np.quantile([d for d, _ in stalls], 0.99)):.3f} s")  # fmt: skip
    over = [d for d, _ in stalls if d > FLUSH_S]
    print(f"stalls longer than the flush interval: {len(over):,} of {len(stalls):,} "
          f"({100 * len(over) / len(stalls):.1f} %), {sum(over) - FLUSH_S * len(over):.3f} s "
          "beyond it in all")  # fmt: skip
    print(f"load average during the run: {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} cores")
    print(f"wall time {done_at - started:.1f} s (publishing {published_at - started:.1f} s)")
    ok = stored == good_count and abs(total - good_sum) < 1e-6 and quarantined == poison_count
    print("RESULT: " + ("every good reading once, every poison once" if ok else "MISMATCH"))


def is_poison(item: dict[str, Any]) -> bool:
    """Whether an item made by :func:`main` is one of the poison kinds."""
    return (
        item["unit"] != "kWh"
        or item["timestamp"] == 253_402_297_200
        or not isinstance(item["value"], float)
    )


def reconcile(
    lives: list[tuple[float, float]],
    commits: list[tuple[float, int]],
    polls: list[tuple[float, int]],
) -> list[tuple[float, int]]:
    """The commit clock with the commits a ``kill -9`` left unlogged, at the kill.

    A process killed after the server committed its transaction but before
    the client logged it leaves the clock short. While no collector runs the
    store stands still, so the polled count between a kill and the next
    subscription is exact: what it holds beyond the clock's count was
    committed by the killed process, at the latest at the kill.
    """
    fixed = sorted(commits)
    for (_, down), (up, _) in itertools.pairwise(lives):
        still = [n for t, n in polls if down < t < up]
        missing = max(still, default=0) - sum(n for t, n in fixed if t <= down)
        if missing > 0:
            fixed = sorted([*fixed, (down, missing)])
    return fixed


def stalls_of(
    lives: list[tuple[float, float]],
    commits: list[tuple[float, int]],
    publishes: list[tuple[float, int]],
) -> list[tuple[float, float]]:
    """Times with the collector up, readings outstanding and none stored [s], longest first.

    Parameters
    ----------
    lives : list of (float, float)
        When each run of the collector subscribed and when it was killed or
        stopped [monotonic s].
    commits : list of (float, int)
        Commit clock (:func:`reconcile`): when each store transaction
        committed and the readings it inserted.
    publishes : list of (float, int)
        Good readings published so far, after each publish.

    Returns
    -------
    list of (float, float)
        Each stall's length and how long after its run subscribed it began [s].
        A stall begins when the collector subscribes, when the last outstanding
        reading was stored, or at a commit that stored readings while others
        were outstanding; it ends at the next commit that stores a reading. A
        stall that a kill cuts short is time down (restart time), not counted.
    """
    events = sorted([(t, 0, n) for t, n in commits] + [(t, 1, n) for t, n in publishes])
    found: list[tuple[float, float]] = []
    for up, down in lives:
        stored = sum(n for t, n in commits if t <= up)
        sent = max((n for t, n in publishes if t <= up), default=0)
        start = up if sent > stored else None
        for t, kind, n in events:
            if t <= up or t >= down:  # a commit restored at the kill ends no stall
                continue
            if kind == 1:
                sent = n
            elif n > 0:
                stored += n
                if start is not None:
                    found.append((t - start, start - up))
                    start = None
            if start is None and sent > stored:
                start = t
    return sorted(found, reverse=True)


def restart_of(commits: list[tuple[float, int]], since: float, up: float) -> tuple[float, float]:
    """Kill to subscribed, and subscribed to the first reading stored after the restart [s]."""
    first = next((t for t, n in commits if t > up and n > 0), float("nan"))
    return up - since, first - up


if __name__ == "__main__":
    main()
