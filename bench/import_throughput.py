"""Bulk import throughput: bitgaram's validated CSV import vs DuckDB's own read_csv.

Generates a long-format CSV (meter, timestamp, value) of ``--meters`` meters x
``--steps`` 15-minute intervals in time-major order (every meter for one time
stamp, then the next, as a logger export looks), then, alternating, in fresh
subprocesses and into fresh database files:

- ``duckdb``: ``CREATE TABLE raw AS SELECT * FROM read_csv(file)`` (DuckDB's
  parser and type detection, no checks, no key);
- ``bitgaram``: ``import_file`` into a DuckDB store (parsing, full validation,
  UTC conversion, de-duplication against stored rows, quarantine, one
  transaction per chunk).

Reports readings/s of both (median over ``--repeat`` runs), the ratio
(target >= 0.5), each run's peak resident memory (``ru_maxrss`` of the
child from ``os.wait4``) and its CPU time (user + system, whole child process).

Usage::

    .venv/bin/python bench/import_throughput.py            # 10 M readings, 3 repeats
    .venv/bin/python bench/import_throughput.py --meters 100 --steps 2000 --repeat 1  # quick
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

_DUCKDB_CHILD = """
import json, sys, time, duckdb
db, csv = sys.argv[1:3]
con = duckdb.connect(db)
t0 = time.perf_counter()
con.execute("CREATE TABLE raw AS SELECT * FROM read_csv(?)", [csv])
con.execute("CHECKPOINT")
elapsed = time.perf_counter() - t0
n = con.execute("SELECT count(*) FROM raw").fetchone()[0]
print(json.dumps({"seconds": elapsed, "rows": n}))
"""

_BITGARAM_CHILD = """
import json, sys, time
from bitgaram.collect.files import import_file
from bitgaram.site import parse_site
from bitgaram.store import open_store
db, csv, n_meters, chunk_rows = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
site = parse_site({
    "site": {"id": "bench", "name": "bench", "timezone": "Asia/Seoul"},
    "meters": [{"id": f"m{i:05d}", "kind": "load", "unit": "kWh", "resolution": "15min"}
               for i in range(n_meters)],
})
store = open_store(db)
store.save_site(site)
t0 = time.perf_counter()
report = import_file(store, site, csv, chunk_rows=chunk_rows)
elapsed = time.perf_counter() - t0
store.close()
print(json.dumps({"seconds": elapsed, "rows": report.inserted,
                  "quarantined": report.quarantined, "chunks": report.chunks}))
"""


def generate(path: Path, meters: int, steps: int, seed: int = 0) -> int:
    """Write the benchmark CSV block by block; returns the number of readings."""
    rng = np.random.default_rng(seed)
    names = np.array([f"m{i:05d}" for i in range(meters)])
    start = np.datetime64("2024-01-01T00:00")
    block = max(1, 2_000_000 // meters)
    with pa_csv.CSVWriter(
        path,
        pa.schema([("meter", pa.string()), ("timestamp", pa.string()), ("value", pa.string())]),
        write_options=pa_csv.WriteOptions(quoting_style="none"),
    ) as writer:
        for first in range(0, steps, block):
            n_steps = min(block, steps - first)
            stamps = start + np.arange(first, first + n_steps) * np.timedelta64(15, "m")
            text = np.datetime_as_string(stamps, unit="s")
            values = np.round(rng.gamma(2.0, 1.5, n_steps * meters), 3)
            writer.write_table(
                pa.table(
                    {
                        "meter": np.tile(names, n_steps),
                        "timestamp": np.repeat(np.char.replace(text, "T", " "), meters),
                        "value": pa.array(values).cast(pa.string()),
                    }
                )
            )
    return meters * steps


def run_child(code: str, args: list[str]) -> dict[str, float]:
    """Run ``code`` in a fresh interpreter; its JSON result plus peak RSS [MiB] and CPU [s]."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}):\n{err}")
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    result["peak_mib"] = usage.ru_maxrss / 1024  # Linux reports KiB
    result["cpu_s"] = usage.ru_utime + usage.ru_stime  # includes start-up and imports
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=10_000, help="15-min intervals per meter")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk-rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=None, help="Default: a temporary folder.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        csv = root / "readings.csv"
        t0 = time.perf_counter()
        n = generate(csv, args.meters, args.steps)
        size_mib = csv.stat().st_size / 2**20
        print(f"generated {n:,} readings ({size_mib:,.0f} MiB) in {time.perf_counter() - t0:.1f} s")
        runs: dict[str, list[dict[str, float]]] = {"duckdb": [], "bitgaram": []}
        for i in range(args.repeat):
            for name in ("duckdb", "bitgaram"):
                db = root / f"{name}-{i}.duckdb"
                if name == "duckdb":
                    result = run_child(_DUCKDB_CHILD, [str(db), str(csv)])
                else:
                    result = run_child(
                        _BITGARAM_CHILD, [str(db), str(csv), str(args.meters), str(args.chunk_rows)]
                    )
                assert int(result["rows"]) == n, result
                runs[name].append(result)
                print(
                    f"run {i + 1} {name:8s}: {result['seconds']:6.2f} s, "
                    f"{n / result['seconds'] / 1e6:5.2f} M readings/s, "
                    f"peak {result['peak_mib']:,.0f} MiB, CPU {result['cpu_s']:.1f} s",
                    flush=True,
                )
                db.unlink(missing_ok=True)
        med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
        peak = {k: max(r["peak_mib"] for r in v) for k, v in runs.items()}
        ratios = [
            d["seconds"] / b["seconds"]
            for d, b in zip(runs["duckdb"], runs["bitgaram"], strict=True)
        ]
        print()
        print(
            f"readings: {n:,} ({args.meters} meters x {args.steps} steps), file {size_mib:,.0f} MiB"
        )
        for k in ("duckdb", "bitgaram"):
            print(
                f"{k:8s}: median {med[k]:.2f} s = {n / med[k] / 1e6:.2f} M readings/s, "
                f"peak RSS {peak[k]:,.0f} MiB"
            )
        print(
            f"ratio bitgaram/duckdb (readings/s): median {statistics.median(ratios):.2f} "
            f"(per run: {', '.join(f'{r:.2f}' for r in ratios)}); target >= 0.5"
        )


if __name__ == "__main__":
    main()
