"""Where the time goes when the collector restarts onto a broker backlog.

Replays what the poison soak (``collect_poison_soak.py``) does at each
``kill -9``, onto a larger backlog (that soak's publisher waits while the
collector restarts): the store already holds part of the stream, the broker holds the
collector's persistent session with a backlog of QoS 1 messages (``--redelivered``
messages whose readings were committed but never acknowledged, then ``--backlog``
new ones; one reading in a hundred is poison), and ``bitgaram collect`` starts in
a fresh process. The child process times each stage of its start (interpreter,
imports, store connect, schema check, site save, writer warm-up, MQTT connect
and subscribe) and
of every batch until the backlog is stored (validation, the per-meter
last-reading look-up, the store write and its parts: partition check, overlap
probe, merge or COPY, quarantine insert with its fingerprint look-ups).

Printed per stage: the median over ``--repeats`` restarts. "Longest stall" is
the longest time between two commits (or from the subscription to the first
commit) while the collector was subscribed and part of the backlog was not yet
stored.

Run (PostgreSQL and Mosquitto on 127.0.0.1)::

    .venv/bin/python bench/collect_restart_stages.py --store postgresql://postgres@127.0.0.1:5432/test

``--reference DIR`` also times the collector of another checkout (its ``src/``),
alternating with this one, e.g. ``git archive main src | tar -x -C /tmp/main``.
"""

from __future__ import annotations

import time

SPAWNED = time.time()  # first line of the child: the interpreter is up

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

Event = dict[str, Any]


def child(site_path: Path, store_url: str, expected: int, out: Path) -> None:
    """Run the collector the way ``bitgaram collect run`` does, timing each stage."""
    spawned = float(os.environ["BITGARAM_BENCH_SPAWNED"])
    events: list[Event] = [
        {"stage": "interpreter", "t": SPAWNED - spawned, "dur": SPAWNED - spawned}
    ]
    clock = time.time

    def mark(stage: str, t0: float, **extra: Any) -> None:
        events.append({"stage": stage, "t": clock() - spawned, "dur": clock() - t0, **extra})

    t0 = clock()
    import asyncio
    import logging

    from bitgaram.cli import app  # noqa: F401  (what the command line imports first)
    from bitgaram.collect import service as service_mod
    from bitgaram.collect import writer as writer_mod
    from bitgaram.collect.config import load_collect_site
    from bitgaram.collect.mqtt import MqttSource
    from bitgaram.collect.validate import rules_from_settings
    from bitgaram.config import Settings
    from bitgaram.store import open_store

    mark("imports", t0)
    logging.basicConfig(level=logging.ERROR)  # the soak's poison leaves gaps: no warnings
    the_site, config, state_path = load_collect_site(site_path)
    settings = Settings.from_env()
    t0 = clock()
    db = open_store(store_url, settings, migrate=False)
    mark("store connect", t0)
    t0 = clock()
    db.migrate()
    mark("schema check", t0)
    t0 = clock()
    db.save_site(the_site)
    mark("site save", t0)

    def timed(owner: Any, name: str, stage: str, rows: Callable[..., int] | None = None) -> None:
        inner = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = clock()
            try:
                return inner(*args, **kwargs)
            finally:
                mark(stage, start, rows=rows(*args, **kwargs) if rows else None)

        setattr(owner, name, wrapper)

    timed(
        writer_mod,
        "prepare_batch",
        "validate",
        lambda subs, *a, **k: sum(len(s.rows) for s in subs),
    )
    timed(db, "write_readings", "write", lambda r, **k: len(r))
    for name, stage in (
        ("latest_per_meter", "last reading per meter"),
        ("_before_readings", "write: partition check"),
        ("_overlaps", "write: overlap probe"),
        ("_insert_new", "write: COPY new rows"),
        ("_merge_readings", "write: readings (merge or COPY)"),
        ("_insert_quarantine", "write: quarantine (fingerprint look-ups)"),
    ):
        if hasattr(db, name):
            timed(db, name, stage)

    class TimedSource(MqttSource):
        first: float | None = None

        async def start(self, timeout: float = 10.0) -> None:
            start = clock()
            await super().start(timeout)
            mark("MQTT connect + subscribe", start)

        def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
            if self.first is None:
                self.first = clock()
                mark("first message", self.first)
            super()._on_message(client, userdata, msg)

    service_mod.MqttSource = TimedSource  # type: ignore[misc]

    def on_writer(writer: Any) -> None:
        warm_up = getattr(writer, "warm_up", None)
        if warm_up is not None:  # absent from older trees

            async def timed_warm_up() -> None:
                start = clock()
                await warm_up()
                mark("writer warm-up", start)

            writer.warm_up = timed_warm_up

        def flushed(rows: int, seconds: float) -> None:
            events.append({"stage": "commit", "t": clock() - spawned, "dur": seconds, "rows": rows})
            accepted = sum(s.accepted for s in writer.stats.sources.values())
            if accepted >= expected and svc.stop_event is not None:
                svc.stop_event.set()

        writer.on_flush = flushed

    svc = service_mod.CollectorService(
        the_site,
        db,
        config,
        state_path,
        rules=rules_from_settings(settings),
        handle_signals=False,
        on_writer=on_writer,
    )

    async def run() -> None:
        task = asyncio.create_task(svc.run())
        await asyncio.wait_for(task, 120)

    asyncio.run(run())
    db.close()
    out.write_text(json.dumps(events), encoding="utf-8")


def prime(
    store_url: str,
    site_path: Path,
    run: str,
    args: argparse.Namespace,
) -> int:
    """Leave store and broker session as a ``kill -9`` mid-soak would; the good readings due."""
    import paho.mqtt.client as paho
    import pandas as pd
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    from paho.mqtt.subscribeoptions import SubscribeOptions

    from bitgaram.collect.config import load_collect_site
    from bitgaram.collect.mqtt import reading_topic
    from bitgaram.store import open_store
    from collect_poison_soak import PER_MESSAGE, T0, poison

    site, config, _ = load_collect_site(site_path)
    host, port = args.mqtt.split(":")
    history, redelivered, backlog = args.history, args.redelivered, args.backlog
    messages: list[tuple[str, list[dict[str, Any]]]] = []
    stored: list[tuple[str, pd.Timestamp, float]] = []
    due = 0
    for i in range(history + redelivered + backlog):
        meter = i % args.meters
        items = []
        for k in range(PER_MESSAGE):
            n = i * PER_MESSAGE + k
            ts = T0 + 60 * ((i // args.meters) * PER_MESSAGE + k)
            if n % 100 == 37:
                items.append(poison((n // 100) % 4, ts))
                continue
            value = float(n % 97) / 4
            items.append({"timestamp": ts, "value": value, "unit": "kWh"})
            if i < history + redelivered:
                stored.append((f"m{meter}", pd.Timestamp(ts, unit="s", tz="UTC"), value))
            if i >= history:
                due += 1
        messages.append((reading_topic("bitgaram", run, f"m{meter}"), items))
    with open_store(store_url) as store:
        store.save_site(site)
        frame = pd.DataFrame(stored, columns=["meter_id", "ts", "value"])
        store.write_readings(frame.assign(quality=0))

    client_id = config.mqtt.client_id
    assert client_id
    sub = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 600
    sub.connect(host, int(port), clean_start=False, properties=props)
    sub.loop_start()
    sub.subscribe(reading_topic("bitgaram", run, "+"), options=SubscribeOptions(qos=1))
    time.sleep(0.3)
    sub.disconnect()
    sub.loop_stop()

    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{run}-pub", protocol=paho.MQTTv5)
    pub.max_inflight_messages_set(1000)
    pub.connect(host, int(port))
    pub.loop_start()
    infos = [pub.publish(t, json.dumps(items), qos=1) for t, items in messages[history:]]
    for info in infos:
        info.wait_for_publish(30)
    pub.disconnect()
    pub.loop_stop()
    return due


def stall(events: list[Event], subscribed: float) -> tuple[float, float]:
    """Subscription to first commit, and the longest gap between commits while up [s]."""
    commits = sorted(e["t"] for e in events if e["stage"] == "commit" and e["rows"])
    if not commits:
        return float("nan"), float("nan")
    first = commits[0] - subscribed
    gaps = [b - a for a, b in itertools.pairwise(commits)]
    return first, max([first, *gaps])


def main() -> None:
    """Prime, restart, time; repeat and print medians."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--store", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--mqtt", default="127.0.0.1:1883")
    parser.add_argument("--meters", type=int, default=50)
    parser.add_argument(
        "--history", type=int, default=1600, help="messages already stored and acked"
    )
    parser.add_argument("--redelivered", type=int, default=20, help="stored, not acknowledged")
    parser.add_argument("--backlog", type=int, default=600, help="messages published while down")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeline", action="store_true", help="print the last run's events")
    parser.add_argument(
        "--reference",
        type=Path,
        help="also time the collector of this source tree (its src/), alternating with ours",
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        site, url, expected, out = args.child
        child(Path(site), url, int(expected), Path(out))
        return

    import psycopg

    from collect_poison_soak import site_toml

    host, port = args.mqtt.split(":")
    variants = {"this tree": None}
    if args.reference:
        variants = {f"reference {args.reference}": str(args.reference / "src"), **variants}
    runs: dict[str, list[list[Event]]] = {name: [] for name in variants}
    for name, src in [v for _ in range(args.repeats) for v in variants.items()]:
        run = "restart" + uuid.uuid4().hex[:8]
        schema = f"bg_{run}"
        sep = "&" if "?" in args.store else "?"
        url = f"{args.store}{sep}schema={schema}"
        work = Path(tempfile.mkdtemp(prefix="bitgaram-restart-"))
        site = work / "site.toml"
        site.write_text(site_toml(run, args.meters, host, int(port)), encoding="utf-8")
        try:
            due = prime(url, site, run, args)
            out = work / "events.json"
            env = {**os.environ, "BITGARAM_BENCH_SPAWNED": repr(time.time())}
            if src is not None:
                env["PYTHONPATH"] = src
            cmd = [sys.executable, __file__, "--child", str(site), url, str(due), str(out)]
            subprocess.run(cmd, env=env, check=True, timeout=180)
            runs[name].append(json.loads(out.read_text(encoding="utf-8")))
        finally:
            if args.store.startswith("postgresql"):
                with psycopg.connect(args.store, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    for name, found in runs.items():
        print(f"== {name}")
        if args.timeline:
            for e in found[-1]:
                rows = "" if e.get("rows") is None else f" rows={e['rows']}"
                print(f"  {e['t']:8.3f} {e['dur']:7.3f} {e['stage']}{rows}")
        report(found, args)


def report(runs: list[list[Event]], args: argparse.Namespace) -> None:
    """Print the medians of each start stage and of the first batches."""
    print(
        f"{args.repeats} restarts onto {args.redelivered} redelivered + {args.backlog} new"
        " messages "
        f"(10 readings each, 1 % poison), {args.meters} meters, store holding "
        f"{args.history * 10:,} readings"
    )
    start_stages = [
        "interpreter",
        "imports",
        "store connect",
        "schema check",
        "site save",
        "writer warm-up",
        "MQTT connect + subscribe",
    ]
    print("start stage | median [s] | ends at (median) [s after spawn]")
    for stage in start_stages:
        found = [[e for e in r if e["stage"] == stage] for r in runs]
        durs = [f[0]["dur"] for f in found if f]
        ends = [f[0]["t"] for f in found if f]
        if not durs:
            continue
        print(f"{stage} | {statistics.median(durs):.3f} | {statistics.median(ends):.3f}")
    batch_stages = sorted(
        {e["stage"] for r in runs for e in r} - set(start_stages) - {"commit", "first message"}
    )
    print("batch stage | first batch, median [s] | all batches: median / max [s] | calls per run")
    for stage in batch_stages:
        per_run = [[e["dur"] for e in r if e["stage"] == stage] for r in runs]
        firsts = [p[0] for p in per_run if p]
        flat = [d for p in per_run for d in p]
        print(
            f"{stage} | {statistics.median(firsts):.3f} | {statistics.median(flat):.3f} / "
            f"{max(flat):.3f} | {statistics.median(len(p) for p in per_run):.0f}"
        )
    firsts, longest, sizes, restart = [], [], [], []
    for r in runs:
        subscribed = next(e["t"] for e in r if e["stage"] == "MQTT connect + subscribe")
        first, worst = stall(r, subscribed)
        firsts.append(first)
        longest.append(worst)
        commits = [e for e in r if e["stage"] == "commit" and e["rows"]]
        sizes.append(max(e["rows"] for e in commits))
        restart.append(commits[0]["t"])
    print(f"batch rows: largest per run {sizes}")
    print(f"spawn to first commit [s]: median {statistics.median(restart):.3f}")
    print(f"subscribed to first commit [s]: median {statistics.median(firsts):.3f} {firsts}")
    print(f"longest stall while subscribed [s]: median {statistics.median(longest):.3f} {longest}")


if __name__ == "__main__":
    main()
