"""Query latency of the stores on the sample park (CityLearn 2022 phase 1).

Imports the shipped sample park into a fresh DuckDB file and a fresh
PostgreSQL schema, then times each query ``--repeat`` times and reports the
median [ms]. The first row (``count``) is a trivial query measured the same
way: it is the per-call floor of each backend in this run.

Usage::

    .venv/bin/python bench/store_query.py --repeat 20
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

from bitgaram.collect.citylearn import import_citylearn, sample_park_dir
from bitgaram.store import Store, open_store

PG_SERVER = "postgresql://root@127.0.0.1:5432/test"


def queries(store: Store) -> dict[str, Callable[[], object]]:
    site = store.load_site()
    tenant = site.tenants[0].id
    meter = next(m.id for m in site.meters_of(tenant) if m.kind == "load")
    return {
        "count": lambda: store.count_readings(),
        "read 1 load meter raw (1 year)": lambda: store.read_readings([meter]),
        "read 1 load meter 1D": lambda: store.read_readings([meter], resolution="1D"),
        "read all meters 1h": lambda: store.read_readings(resolution="1h"),
        "tenant_totals load 1h": lambda: store.tenant_totals("load", resolution="1h"),
        "tenant_totals load 1D": lambda: store.tenant_totals("load", resolution="1D"),
        "park_totals load 1h": lambda: store.park_totals("load", resolution="1h"),
        "park_totals load 1D": lambda: store.park_totals("load", resolution="1D"),
    }


def measure(store: Store, repeat: int) -> dict[str, float]:
    out = {}
    for name, fn in queries(store).items():
        fn()  # warm-up
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        out[name] = statistics.median(times) * 1000
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, open_store(Path(tmp) / "bench.duckdb") as store:
        import_citylearn(store, sample_park_dir())
        rows = store.count_readings()
        results["duckdb"] = measure(store, args.repeat)
    if not args.no_postgres:
        schema = "bg_bench_" + uuid.uuid4().hex[:10]
        try:
            with open_store(f"{PG_SERVER}?schema={schema}") as store:
                import_citylearn(store, sample_park_dir())
                results["postgres"] = measure(store, args.repeat)
        finally:
            with psycopg.connect(PG_SERVER, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE".encode())
    backends = list(results)
    print(f"sample park: {rows:,} readings; median of {args.repeat} calls [ms]")
    print(f"{'query':34}" + "".join(f"{b:>10}" for b in backends))
    for name in results["duckdb"]:
        print(f"{name:34}" + "".join(f"{results[b][name]:>10.1f}" for b in backends))


if __name__ == "__main__":
    main()
