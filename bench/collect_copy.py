"""Where the PostgreSQL write of a live batch goes: COPY format and the primary-key index.

Batches shaped like the collector's (``--rows`` readings: 40 meters x 500
one-minute readings each) are sent with ``COPY ... FROM STDIN`` into four
tables: ``readings``-like (partitioned by month, ``PRIMARY KEY (meter_id,
ts)``), the same unpartitioned, and both without the key; once as CSV written
by Arrow (the store's previous path) and once in binary format encoded by
:func:`bitgaram.store.postgres_store.encode_binary_copy` (the current one).
Reported per reading: client-side encoding time and COPY + commit time
(medians over ``--batches`` batches, each committed on its own; the two
formats alternate batch by batch).

Usage::

    .venv/bin/python bench/collect_copy.py --url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
import uuid

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from bitgaram.store.postgres_store import encode_binary_copy

T0 = 1_704_067_200  # 2024-01-01T00:00Z
COLUMNS = "meter_id, ts, value, quality"


def batch(k: int, rows: int, meters: int = 40) -> pa.Table:
    """Batch ``k`` of the stream: ``meters`` meters, each with a run of minutes."""
    per = rows // meters
    meter = np.repeat(np.arange(meters), per) + (k * meters) % 100
    minute = np.tile(np.arange(per), meters) + (k * meters // 100) * per
    return pa.table(
        {
            "meter_id": pa.array([f"m{m:04d}" for m in meter]),
            "ts": pa.array((T0 + 60 * minute) * 1_000_000, pa.timestamp("us", tz="UTC")),
            "value": pa.array((minute % 97) / 8.0),
            "quality": pa.array(np.zeros(len(meter), np.int16)),
        }
    )


def csv_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
    return buffer.getvalue()


def make_table(conn: psycopg.Connection, name: str, partitioned: bool, key: bool) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {name}".encode())
    ddl = (
        f'CREATE TABLE {name} (meter_id VARCHAR COLLATE "C" NOT NULL, ts TIMESTAMPTZ NOT NULL,'
        " value DOUBLE PRECISION NOT NULL, quality SMALLINT NOT NULL"
        + (", PRIMARY KEY (meter_id, ts))" if key else ")")
        + (" PARTITION BY RANGE (ts)" if partitioned else "")
    )
    conn.execute(ddl.encode())
    if partitioned:
        for year in (2024, 2025):
            for month in range(1, 13):
                hi = f"{year + month // 12}-{month % 12 + 1:02d}-01"
                conn.execute(
                    f"CREATE TABLE {name}_{year}{month:02d} PARTITION OF {name}"
                    f" FOR VALUES FROM ('{year}-{month:02d}-01+00') TO ('{hi}+00')".encode()
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rows", type=int, default=20_000, help="readings per batch")
    parser.add_argument("--batches", type=int, default=9)
    args = parser.parse_args()
    schema = f"bench_copy_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}".encode())
        conn.execute(f"SET search_path TO {schema}".encode())
        conn.execute("SET client_encoding TO 'UTF8'")
        try:
            print(f"{args.rows:,}-reading batches, median of {args.batches} [us/reading]:")
            print(f"  {'table':<40} {'format':<7} {'encode':>7} {'COPY+commit':>12}")
            for label, partitioned, key in (
                ("partitioned, PRIMARY KEY (as readings)", True, True),
                ("unpartitioned, PRIMARY KEY", False, True),
                ("partitioned, no key", True, False),
                ("unpartitioned, no key", False, False),
            ):
                # Both formats alternate batch by batch (each into its own table),
                # so a change of load on the shared machine hits both alike.
                times: dict[str, tuple[list[float], list[float]]] = {}
                for fmt in ("csv", "binary"):
                    make_table(conn, f"t_{fmt}", partitioned, key)
                    times[fmt] = ([], [])
                for k in range(args.batches):
                    table = batch(k, args.rows)
                    for fmt in ("csv", "binary") if k % 2 else ("binary", "csv"):
                        t0 = time.perf_counter()
                        data = csv_bytes(table) if fmt == "csv" else encode_binary_copy(table)
                        t1 = time.perf_counter()
                        with (
                            conn.transaction(),
                            conn.cursor().copy(
                                f"COPY t_{fmt} ({COLUMNS}) FROM STDIN WITH (FORMAT {fmt})".encode()
                            ) as cp,
                        ):
                            cp.write(data)
                        times[fmt][0].append(t1 - t0)
                        times[fmt][1].append(time.perf_counter() - t1)
                for fmt, (encode, copy) in times.items():
                    e = statistics.median(encode) / args.rows * 1e6
                    c = statistics.median(copy) / args.rows * 1e6
                    print(f"  {label:<40} {fmt:<7} {e:7.2f} {c:12.2f}", flush=True)
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())


if __name__ == "__main__":
    main()
