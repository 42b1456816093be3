"""Sustained MQTT ingest rate into a store, against mosquitto_sub on the same stream.

A publisher process sends ``--messages`` QoS 1 messages of ``--batch``
readings each (the batch form) to ``bitgaram/<site>/<meter>/reading`` for
``--meters`` meters, as fast as the broker takes them. The same stream is
received by

1. ``mosquitto_sub -q 1`` (the reference: what a C client that only receives
   can take from the broker on this machine), and
2. the bitgaram collector (MQTT subscriber, manual acks, batching writer,
   validation, one transaction per batch) into the store given by ``--store``.

Reported: readings per second from the first publish to the last reading
received (reference) or committed (collector), medians over ``--repeats``,
and a loss check (stored count and value checksum against what was sent).

Usage::

    .venv/bin/python bench/collect_throughput.py --store duckdb --messages 2000 --batch 500
    .venv/bin/python bench/collect_throughput.py --store postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bitgaram.collect.mqtt import MqttSettings, MqttSource, reading_topic
from bitgaram.collect.writer import BatchWriter
from bitgaram.site import Site, parse_site
from bitgaram.store import open_store
from bitgaram.store.base import Store

T0 = 1_704_067_200  # 2024-01-01T00:00Z


def make_site(site_id: str, meters: int) -> Site:
    return parse_site(
        {
            "site": {"id": site_id, "name": "bench"},
            "meters": [
                {"id": f"m{i:04d}", "kind": "load", "unit": "kWh", "resolution": "1min"}
                for i in range(meters)
            ],
        }
    )


def payloads(meters: int, messages: int, batch: int) -> tuple[list[tuple[str, bytes]], float]:
    """The stream: (meter, JSON payload) per message, and the sum of all values."""
    out = []
    total = 0.0
    for k in range(messages):
        meter = k % meters
        first = (k // meters) * batch  # each meter's readings continue where they stopped
        items = [
            {"timestamp": T0 + 60 * (first + j), "value": ((first + j) % 97) / 8, "unit": "kWh"}
            for j in range(batch)
        ]
        total += sum(i["value"] for i in items)
        out.append((f"m{meter:04d}", json.dumps(items).encode()))
    return out, total


def publish(
    host: str,
    port: int,
    site_id: str,
    stream: list[tuple[str, bytes]],
    ready: Any,
    interval: float = 0.0,
) -> None:
    """Publisher process: QoS 1, one message every ``interval`` [s] (0: flat out)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    ready.wait()
    start = time.perf_counter()
    infos = []
    for k, (m, p) in enumerate(stream):
        if interval:
            delay = start + k * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        infos.append(client.publish(reading_topic("bitgaram", site_id, m), p, qos=1))
    for info in infos:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


def run_reference(host: str, port: int, site_id: str, stream: list[tuple[str, bytes]]) -> float:
    """Seconds for mosquitto_sub to receive the whole stream."""
    topic = reading_topic("bitgaram", site_id, "+")
    sub = subprocess.Popen(
        ["mosquitto_sub", "-h", host, "-p", str(port), "-q", "1", "-t", topic,
         "-C", str(len(stream)), "-i", f"bench-ref-{uuid.uuid4().hex[:8]}"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(0.5)  # subscribed
    ready = mp.Event()
    pub = mp.Process(target=publish, args=(host, port, site_id, stream, ready))
    pub.start()
    time.sleep(0.5)
    start = time.perf_counter()
    ready.set()
    sub.wait(600)
    elapsed = time.perf_counter() - start
    pub.join(60)
    return elapsed


def run_collector(
    host: str,
    port: int,
    site: Site,
    store: Store,
    stream: list[tuple[str, bytes]],
    expect: int,
    interval: float,
) -> tuple[float, int, float]:
    """Seconds until the collector committed the whole stream; stored count and value sum."""
    client_id = f"bench-collect-{uuid.uuid4().hex[:8]}"
    settings = MqttSettings(host=host, port=port, client_id=client_id, session_expiry=60)
    before = store.count_readings()

    async def main() -> float:
        writer = BatchWriter(store, site, max_rows=20_000, max_delay=0.05, queue_size=2000)
        task = asyncio.create_task(writer.run())
        source = MqttSource(settings, site.site.id, writer)
        await source.start()
        ready = mp.Event()
        pub = mp.Process(target=publish, args=(host, port, site.site.id, stream, ready, interval))
        pub.start()
        await asyncio.sleep(0.5)
        start = time.perf_counter()
        ready.set()
        while writer.stats.sources.get("mqtt") is None or (
            writer.stats.sources["mqtt"].accepted < expect
        ):
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - start
        await writer.close()
        await task
        await source.stop()
        await asyncio.to_thread(pub.join, 60)
        return elapsed

    elapsed = asyncio.run(main())
    frame = store.read_readings()
    return elapsed, store.count_readings() - before, float(frame["value"].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", default="duckdb", help="'duckdb' (temp file) or a store URL")
    parser.add_argument("--meters", type=int, default=100)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500, help="readings per message")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="offered load for the collector [readings/s]; 0 = flat out (keep --messages "
        "under the broker's max_queued_messages, 1000 by default, or it drops messages)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    args = parser.parse_args()
    if shutil.which("mosquitto_sub") is None:
        raise SystemExit("mosquitto_sub not found (apt-get install mosquitto-clients)")

    stream_total = args.messages * args.batch
    ref_rates, col_rates = [], []
    for rep in range(args.repeats):
        site_id = f"bench{uuid.uuid4().hex[:8]}"
        site = make_site(site_id, args.meters)
        stream, value_sum = payloads(args.meters, args.messages, args.batch)
        ref = run_reference(args.host, args.port, site_id, stream)
        tmp = tempfile.mkdtemp()
        if args.store == "duckdb":
            url = str(Path(tmp) / "bench.duckdb")
        elif "?" in args.store:
            url = f"{args.store}&schema=bench_{site_id}"
        else:
            url = f"{args.store}?schema=bench_{site_id}"
        store = open_store(url)
        store.save_site(site)
        try:
            interval = args.batch / args.rate if args.rate else 0.0
            elapsed, stored, stored_sum = run_collector(
                args.host, args.port, site, store, stream, stream_total, interval
            )
        finally:
            if url.startswith("postgres"):
                store._conn.execute(f"DROP SCHEMA bench_{site_id} CASCADE")  # type: ignore[attr-defined]
            store.close()
            shutil.rmtree(tmp, ignore_errors=True)
        lost = stream_total - stored
        checksum_ok = abs(stored_sum - value_sum) < 1e-6 * max(1.0, value_sum)
        ref_rates.append(stream_total / ref)
        col_rates.append(stream_total / elapsed)
        print(
            f"run {rep + 1}: mosquitto_sub {stream_total / ref:,.0f} readings/s ({ref:.1f} s); "
            f"collector -> {args.store.split('://')[0]} {stream_total / elapsed:,.0f} readings/s "
            f"({elapsed:.1f} s); stored {stored:,}/{stream_total:,}, lost {lost}, "
            f"checksum {'ok' if checksum_ok else 'MISMATCH'}",
            flush=True,
        )
    r, c = statistics.median(ref_rates), statistics.median(col_rates)
    print(
        f"median: mosquitto_sub {r:,.0f} readings/s, collector {c:,.0f} readings/s, "
        f"ratio {c / r:.2f} ({args.messages} messages x {args.batch} readings, "
        f"{args.meters} meters, offered {args.rate or 'flat out'}, {args.repeats} runs)"
    )


if __name__ == "__main__":
    main()
