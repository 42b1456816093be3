"""Cost per reading of each collector stage: decode, validate, store write.

One stream of ``--messages`` x ``--batch`` readings (the same payloads as
``collect_throughput.py``) goes through the stages in isolation, batched like
the writer does (``--rows`` readings per batch); medians over ``--repeats``.

Usage::

    .venv/bin/python bench/collect_stages.py --store postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

from bitgaram.collect.payload import decode_items
from bitgaram.collect.writer import Submission, prepare_batch
from bitgaram.store import open_store
from bitgaram.store.sql import SqlStore
from collect_poison_soak import poison as soak_poison
from collect_throughput import make_site, payloads


def poison(messages: list[list[dict[str, Any]]]) -> None:
    """Turn one reading in 100 into poison, cycling through the soak's four kinds."""
    n = 0
    for items in messages:
        for k, item in enumerate(items):
            if n % 100 == 37:
                items[k] = soak_poison((n // 100) % 4, item["timestamp"])
            n += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", default=None, help="also time a PostgreSQL store at this URL")
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rows", type=int, default=20_000, help="readings per store batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--poison",
        action="store_true",
        help="make one reading in 100 poison, as collect_poison_soak.py does",
    )
    args = parser.parse_args()
    site = make_site("stages", 100)
    stream, _ = payloads(100, args.messages, args.batch)
    n = args.messages * args.batch
    per = max(1, args.rows // args.batch)
    times: dict[str, list[float]] = {"json.loads": [], "shape checks": [], "validate": []}
    urls = {"DuckDB write": ":memory:"}
    if args.store:
        sep = "&" if "?" in args.store else "?"
        urls["PostgreSQL write"] = f"{args.store}{sep}schema=stages_{uuid.uuid4().hex[:8]}"
        # The write path before binary COPY and the per-meter overlap test, same run.
        urls["PostgreSQL, CSV"] = f"{args.store}{sep}schema=stages_{uuid.uuid4().hex[:8]}"
    for name in urls:
        times[name] = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        decoded = [json.loads(p) for _, p in stream]
        times["json.loads"].append(time.perf_counter() - t)
        if args.poison:
            poison(decoded)
        t = time.perf_counter()
        subs = []
        for (meter, _), items in zip(stream, decoded, strict=True):
            rows, rejects = decode_items(items, meter)
            subs.append(Submission("mqtt:bench", rows, rejects))
        times["shape checks"].append(time.perf_counter() - t)
        t = time.perf_counter()
        prepared = [prepare_batch(subs[i : i + per], site) for i in range(0, len(subs), per)]
        times["validate"].append(time.perf_counter() - t)
        for name, url in urls.items():
            store = open_store(url)
            store.save_site(site)
            if name == "PostgreSQL, CSV":
                store.copy_format = "csv"  # type: ignore[attr-defined]
                store._overlaps = partial(SqlStore._overlaps, store)  # type: ignore[attr-defined]
            t = time.perf_counter()
            for p in prepared:
                # As the writer does: no quarantine frame when nothing was rejected.
                store.write_readings(
                    p.readings, quarantine=p.quarantine if len(p.quarantine) else None
                )
            times[name].append(time.perf_counter() - t)
            if not name.startswith("DuckDB"):
                store._conn.execute(f"DROP SCHEMA {store.schema} CASCADE")  # type: ignore[attr-defined]
            store.close()
    poisoned = f", {n // 100:,} of them poison" if args.poison else ""
    print(f"{n:,} readings{poisoned} in batches of {per * args.batch:,}; median of {args.repeats}:")
    for name, values in times.items():
        m = statistics.median(values)
        print(f"  {name:>17}: {m / n * 1e6:6.2f} us/reading ({n / m:,.0f} readings/s)")
    print(f"  (script: {Path(__file__).name}; 'PostgreSQL, CSV' = CSV COPY and the batch-wide")
    print("   overlap test, the write path before binary COPY)")


if __name__ == "__main__":
    main()
