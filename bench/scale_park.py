"""Scale benchmark: synthetic parks of N tenants, one year of 15-minute data (issue 10).

Each stage runs in its own child process so that its wall time and peak RSS
(``os.wait4`` rusage of that child) are its own; every stage first times a fixed
NumPy reference workload, reported as ``ref_s``, so that figures taken while
the shared machine is busy can be read as ratios.

Stages (on one store, in order):

- ``import``: generate the park (:mod:`bitgaram.synth`) as Parquet, then import it
  with :func:`bitgaram.collect.files.import_file` (validated, chunked); storage size;
- ``import_direct`` (not run by default): generate straight into the store;
- ``query``: the dashboard's queries, median of ``--repeat`` calls: park load
  totals by hour over a month, one tenant's raw readings over a week;
- ``forecast``: ``run_forecasts`` for every tenant (one day ahead, 24 h);
- ``schedule``: ``run_schedules`` for every battery tenant;
- ``downsample``: compact the first month of raw readings into hourly rows.

Usage::

    nice -n 19 .venv/bin/python bench/scale_park.py --tenants 10 --backend duckdb
    nice -n 19 .venv/bin/python bench/scale_park.py --tenants 100 --backend postgres \\
        --pg postgresql://postgres@127.0.0.1:5432/test

Prints one JSON line per stage (and appends it to ``--log``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("import", "query", "forecast", "schedule", "downsample")


def reference_seconds() -> float:
    """A fixed CPU workload (sort 4 M floats, 3 times): the machine's speed right now."""
    rng = np.random.default_rng(0)
    data = rng.standard_normal(4_000_000)
    began = time.perf_counter()
    for _ in range(3):
        np.sort(data)
    return time.perf_counter() - began


def _size_bytes(url: str) -> int:
    if url.startswith("postgresql"):
        from bitgaram.store import open_store

        with open_store(url) as store:
            rows = store._fetch(  # type: ignore[attr-defined]
                "SELECT coalesce(sum(pg_total_relation_size(relid)), 0)"
                " FROM pg_partition_tree('readings')"
            )
        return int(rows[0][0])
    path = Path(url)
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def _plans(store: Any, calls: dict[str, Any]) -> dict[str, Any]:
    """Partitions and scan types of each dashboard query's PostgreSQL plan (EXPLAIN ANALYZE)."""
    import re

    import psycopg

    out: dict[str, Any] = {}
    original = store._frame
    for name, call in calls.items():
        seen: list[tuple[str, list[Any]]] = []

        def capture(sql: str, params: Any, columns: Any, seen: list[Any] = seen) -> Any:
            seen.append((sql, list(params)))
            return original(sql, params, columns)

        store._frame = capture
        try:
            call()
        finally:
            store._frame = original
        sql, params = seen[-1]
        query = psycopg.ClientCursor(store._conn).mogrify(sql, params or None)
        plan = "\n".join(
            r[0] for r in store._conn.execute(f"EXPLAIN ANALYZE {query}".encode()).fetchall()
        )
        parts = sorted(set(re.findall(r"readings_p\d{6}", plan)))
        scans = sorted(
            set(re.findall(r"(Index Only Scan|Index Scan|Bitmap Heap Scan|Seq Scan)", plan))
        )
        out[f"{name}_plan"] = f"{len(parts)} partition(s) {','.join(parts)}; {', '.join(scans)}"
    return out


def stage(args: argparse.Namespace) -> dict[str, Any]:
    """Run one stage in this process; return its figures."""
    from bitgaram.fleet import executor_for, plan_jobs, run_forecasts, run_schedules
    from bitgaram.store import open_store
    from bitgaram.store.retention import downsample
    from bitgaram.synth import SynthSpec, plan_tenants, read_base_profiles, synth_site
    from bitgaram.synth.write import write_store

    out: dict[str, Any] = {"stage": args.stage, "tenants": args.tenants, "backend": args.backend}
    out["ref_s"] = round(reference_seconds(), 3)
    spec = SynthSpec(tenants=args.tenants, days=args.days, seed=0)
    issued = pd.Timestamp(args.day, tz=spec.timezone)
    began = time.perf_counter()
    if args.stage == "import":
        # Generate the park as files (timed apart), then import the Parquet file the way
        # `bitgaram import` does: chunked, validated, one transaction per chunk.
        from bitgaram.collect.files import import_file
        from bitgaram.synth.write import whole_meter_rows, write_files

        base = read_base_profiles(ROOT / "data" / "citylearn_2022_phase_1")
        plan = plan_tenants(spec, base.load_shapes.shape[1])
        site = synth_site(plan, spec)
        folder = Path(args.workdir) / f"park_{args.tenants}"
        files = write_files(base, plan, spec, site, folder, chunk=args.chunk)
        out["generate_s"] = round(time.perf_counter() - began, 2)
        out["parquet_bytes"] = files.readings_file.stat().st_size if files.readings_file else 0
        t0 = time.perf_counter()
        with open_store(args.url) as store:
            store.save_site(site)
            rows = whole_meter_rows(spec)
            report = import_file(store, site, folder / "readings.parquet", chunk_rows=rows)
        out["rows"] = files.readings
        out["inserted"] = report.inserted
        out["quarantined"] = report.quarantined
        out["seconds"] = round(time.perf_counter() - t0, 2)
        out["bytes"] = _size_bytes(args.url)
    elif args.stage == "import_direct":
        base = read_base_profiles(ROOT / "data" / "citylearn_2022_phase_1")
        plan = plan_tenants(spec, base.load_shapes.shape[1])
        site = synth_site(plan, spec)
        with open_store(args.url) as store:
            result, wreport = write_store(base, plan, spec, site, store, chunk=args.chunk)
        out["rows"] = result.readings
        out["inserted"] = wreport.inserted
        out["seconds"] = round(time.perf_counter() - began, 2)
        out["bytes"] = _size_bytes(args.url)
    elif args.stage == "query":
        month = (pd.Timestamp("2025-06-01", tz="UTC"), pd.Timestamp("2025-07-01", tz="UTC"))
        week = (pd.Timestamp("2025-06-02", tz="UTC"), pd.Timestamp("2025-06-09", tz="UTC"))
        with open_store(args.url) as store:
            calls = {
                "park_month_hourly": lambda: store.park_totals("load", *month, resolution="1h"),
                "tenant_week_raw": lambda: store.read_readings(["t0000-load"], *week),
                "tenant_month_hourly": lambda: store.tenant_totals(
                    "load", *month, resolution="1h", tenant_ids=["t0000"]
                ),
            }
            for name, call in calls.items():
                times, rows = [], 0
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    rows = len(call())
                    times.append(time.perf_counter() - t0)
                out[f"{name}_ms"] = round(1000 * statistics.median(times), 1)
                out[f"{name}_rows"] = rows
            if args.backend == "postgres":
                out.update(_plans(store, calls))
        out["seconds"] = round(time.perf_counter() - began, 2)
    elif args.stage == "query_jan":
        # After `downsample`: January holds hourly rows, June raw 15-minute rows.
        jan = (pd.Timestamp("2025-01-01", tz="UTC"), pd.Timestamp("2025-01-31", tz="UTC"))
        jun = (pd.Timestamp("2025-06-01", tz="UTC"), pd.Timestamp("2025-07-01", tz="UTC"))
        with open_store(args.url) as store:
            for name, span in (("jan_downsampled", jan), ("jun_raw", jun)):
                times = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    store.park_totals("load", *span, resolution="1h")
                    times.append(time.perf_counter() - t0)
                out[f"park_month_hourly_{name}_ms"] = round(1000 * statistics.median(times), 1)
        out["seconds"] = round(time.perf_counter() - began, 2)
    elif args.stage in ("forecast", "schedule"):
        batteries = args.stage == "schedule"
        jobs = plan_jobs(
            args.url,
            issued,
            chunk=args.chunk_tasks,
            history_days=args.history_days,
            model=args.model,
            batteries_only=batteries,
        )
        with executor_for(args.executor) as ex:
            t0 = time.perf_counter()
            report = (run_schedules if batteries else run_forecasts)(jobs, ex)
        out["seconds"] = round(time.perf_counter() - t0, 2)
        out["units"] = report.tenants
        out["rows"] = report.rows
        out["failures"] = len(report.failures)
        out["tasks"] = report.tasks
        out["executor"] = report.executor
        out["model"] = args.model if not batteries else "dayahead-lp"
    elif args.stage == "downsample":
        with open_store(args.url) as store:
            before = store.count_readings()
            t0 = time.perf_counter()
            rep = downsample(
                store,
                pd.Timestamp("2025-02-01", tz="UTC"),
                "1h",
                since=pd.Timestamp("2024-12-01", tz="UTC"),
            )
            out["seconds"] = round(time.perf_counter() - t0, 2)
            out["removed"], out["written"], out["rows_before"] = rep.removed, rep.written, before
        out["bytes_after"] = _size_bytes(args.url)
    return out


def drive(args: argparse.Namespace) -> None:
    """Run every stage in a child process, adding its wall time and peak RSS."""
    if args.backend == "postgres":
        schema = f"bg_scale_{args.tenants}"
        url = f"{args.pg}?schema={schema}"
        import psycopg

        if not args.keep:
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE".encode())
    else:
        path = Path(args.workdir) / f"scale_{args.tenants}.duckdb"
        path.parent.mkdir(parents=True, exist_ok=True)
        for p in path.parent.glob(path.name + "*"):
            if not args.keep:
                p.unlink()
        url = str(path)
    stages = args.stages.split(",") if args.stages else list(STAGES)
    for name in stages:
        cmd = [sys.executable, __file__, "--child", "--stage", name, "--url", url]
        cmd += [a for a in sys.argv[1:] if a != "--child"]
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        text = child.stdout.read() if child.stdout else ""
        if status != 0:
            print(f"stage {name} failed (status {status})", file=sys.stderr)
            break
        record = json.loads(text.strip().splitlines()[-1])
        record["peak_rss_mb"] = round(usage.ru_maxrss / 1024)
        line = json.dumps(record)
        print(line, flush=True)
        if args.log:
            with open(args.log, "a", encoding="utf-8") as log:
                log.write(line + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--backend", choices=("duckdb", "postgres"), default="duckdb")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--workdir", default="/tmp/bitgaram_scale")
    parser.add_argument("--stages", default="", help="Comma-separated subset of stages.")
    parser.add_argument("--chunk", type=int, default=50, help="Tenants per import batch.")
    parser.add_argument("--chunk-tasks", type=int, default=10, help="Tenants per fleet task.")
    parser.add_argument("--executor", default="dask")
    parser.add_argument("--model", default="gbm")
    parser.add_argument("--history-days", type=int, default=56)
    parser.add_argument("--day", default="2025-09-01", help="Local day forecast and planned.")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--log", default="")
    parser.add_argument("--keep", action="store_true", help="Reuse the store of a prior run.")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--stage", default="")
    parser.add_argument("--url", default="")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(stage(args)), flush=True)
    else:
        drive(args)


if __name__ == "__main__":
    main()
