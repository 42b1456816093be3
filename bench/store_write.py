"""Bulk write throughput of the stores against the databases' own bulk paths.

Cases (each on a fresh database, median of ``--repeat`` runs):

- ``duckdb raw insert``: ``INSERT INTO plain_table SELECT * FROM arrow_table``
  (DuckDB's own bulk path, no key checks): the reference.
- ``duckdb raw insert, PRIMARY KEY table``: the same into a table with
  ``PRIMARY KEY (meter_id, ts)`` (why the store's DuckDB table has none).
- ``duckdb write_readings (new)``: :meth:`Store.write_readings` of the same
  Arrow table into an empty store (validation of types/NaN, in-batch key
  check, overlap check, insert, commit).
- ``duckdb write_readings (again)``: the same batch a second time: every row
  is classified as unchanged by the anti-join (idempotent re-import).
- ``postgres raw COPY`` / ``postgres write_readings (new|again)``: the same
  for PostgreSQL (``--pg-rows`` rows, default smaller: COPY is row-at-a-time).

Usage::

    .venv/bin/python bench/store_write.py --rows 10000000 --repeat 3
    .venv/bin/python bench/store_write.py --rows 1000000 --pg-rows 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import io
import resource
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from bitgaram.store import open_store

PG_SERVER = "postgresql://root@127.0.0.1:5432/test"


def make_readings(rows: int, meters: int = 1000, seed: int = 0) -> pa.Table:
    """``rows`` readings of ``meters`` meters at 15 min, meter-major order."""
    per_meter = rows // meters
    names = pa.array([f"meter-{i:05d}" for i in range(meters)])
    index = np.repeat(np.arange(meters, dtype=np.int32), per_meter)
    meter_id = pa.DictionaryArray.from_arrays(pa.array(index), names).cast(pa.string())
    start = np.datetime64("2022-01-01T00:00:00", "us")
    steps = np.tile(np.arange(per_meter, dtype=np.int64), meters) * 900_000_000
    ts = pa.array(start + steps.astype("timedelta64[us]")).cast(pa.timestamp("us", tz="UTC"))
    value = pa.array(np.random.default_rng(seed).gamma(2.0, 5.0, len(index)))
    quality = pa.array(np.zeros(len(index), dtype=np.int16))
    return pa.table({"meter_id": meter_id, "ts": ts, "value": value, "quality": quality})


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def duckdb_cases(table: pa.Table, workdir: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    raw_path = workdir / f"raw-{uuid.uuid4().hex}.duckdb"
    con = duckdb.connect(str(raw_path))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE TABLE readings (meter_id VARCHAR, ts TIMESTAMPTZ, value DOUBLE, quality SMALLINT)"
    )
    con.register("batch", table)
    out["duckdb raw insert"] = timed(
        lambda: con.execute("INSERT INTO readings SELECT * FROM batch")
    )
    con.execute(
        "CREATE TABLE keyed (meter_id VARCHAR, ts TIMESTAMPTZ, value DOUBLE, quality SMALLINT,"
        " PRIMARY KEY (meter_id, ts))"
    )
    out["duckdb raw insert, PRIMARY KEY table"] = timed(
        lambda: con.execute("INSERT INTO keyed SELECT * FROM batch")
    )
    con.close()
    raw_path.unlink()

    path = workdir / f"store-{uuid.uuid4().hex}.duckdb"
    with open_store(path) as store:
        out["duckdb write_readings (new)"] = timed(lambda: store.write_readings(table))
        out["duckdb write_readings (again)"] = timed(lambda: store.write_readings(table))
        assert store.count_readings() == table.num_rows
    path.unlink()
    return out


def postgres_cases(table: pa.Table) -> dict[str, float]:
    out: dict[str, float] = {}
    schema = "bg_bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(PG_SERVER, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}".encode())
        conn.execute(
            f"CREATE TABLE {schema}.raw (meter_id VARCHAR, ts TIMESTAMPTZ,"
            " value DOUBLE PRECISION, quality SMALLINT)".encode()
        )

        def copy_raw() -> None:
            with conn.cursor().copy(
                f"COPY {schema}.raw FROM STDIN WITH (FORMAT csv)".encode()
            ) as copy:
                for batch in table.to_batches(max_chunksize=250_000):
                    buffer = io.BytesIO()
                    pacsv.write_csv(batch, buffer, pacsv.WriteOptions(include_header=False))
                    copy.write(buffer.getbuffer())

        out["postgres raw COPY"] = timed(copy_raw)
    try:
        with open_store(f"{PG_SERVER}?schema={schema}") as store:
            out["postgres write_readings (new)"] = timed(lambda: store.write_readings(table))
            out["postgres write_readings (again)"] = timed(lambda: store.write_readings(table))
            assert store.count_readings() == table.num_rows
    finally:
        with psycopg.connect(PG_SERVER, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--pg-rows", type=int, default=1_000_000, help="0 skips PostgreSQL")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    results: dict[str, list[float]] = {}
    rows: dict[str, int] = {}
    table = make_readings(args.rows)
    pg_table = make_readings(args.pg_rows) if args.pg_rows else None
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for name, seconds in duckdb_cases(table, Path(tmp)).items():
                results.setdefault(name, []).append(seconds)
                rows[name] = table.num_rows
            if pg_table is not None:
                for name, seconds in postgres_cases(pg_table).items():
                    results.setdefault(name, []).append(seconds)
                    rows[name] = pg_table.num_rows
    medians = {name: statistics.median(values) for name, values in results.items()}
    print(f"{'case':38} {'rows':>11} {'median s':>9} {'rows/s':>12} {'vs raw':>7}")
    for name, seconds in medians.items():
        ref = medians["duckdb raw insert" if name.startswith("duckdb") else "postgres raw COPY"]
        print(
            f"{name:38} {rows[name]:>11,} {seconds:>9.2f} {rows[name] / seconds:>12,.0f}"
            f" {ref / seconds:>7.2f}"
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the benchmark process: {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
