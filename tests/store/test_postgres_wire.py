"""PostgreSQL store transport: binary COPY encoding, per-meter overlap test, reconnects."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pytest

from bitgaram.errors import StoreError
from bitgaram.site import Site
from bitgaram.store import open_store
from bitgaram.store.frames import normalize_readings
from bitgaram.store.postgres_store import (
    PostgresStore,
    binary_copy_supported,
    encode_binary_copy,
)

_TS = pa.timestamp("us", tz="UTC")

TABLE = pa.table(
    {
        "s": pa.array(["a", None, "", "전력계 ü", "x" * 300]),
        "ts": pa.array(
            [
                datetime(1999, 12, 31, 23, 59, 59, 123456, tzinfo=UTC),  # before PG's epoch
                None,
                datetime(2024, 1, 1, tzinfo=UTC),
                datetime(2000, 1, 1, tzinfo=UTC),
                datetime(2100, 6, 1, 1, 2, 3, tzinfo=UTC),
            ],
            _TS,
        ),
        "f": pa.array([1.5, -0.0, None, 1e300, float("inf")]),
        "a": pa.array([1, -2, None, 32767, -32768], pa.int16()),
        "b": pa.array([None, 2**31 - 1, -5, 0, 7], pa.int32()),
        "c": pa.array([2**62, None, -1, 0, 3], pa.int64()),
    }
)


def _round_trip(server: str, table: pa.Table, chunks: int = 1) -> list[tuple[object, ...]]:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute("SET client_encoding TO 'UTF8'")
        conn.execute(
            'CREATE TEMP TABLE t (s VARCHAR COLLATE "C", ts TIMESTAMPTZ, f DOUBLE PRECISION,'
            " a SMALLINT, b INTEGER, c BIGINT)"
        )
        pieces = table.to_batches(max_chunksize=max(1, -(-table.num_rows // chunks)))
        with conn.cursor().copy("COPY t (s, ts, f, a, b, c) FROM STDIN WITH (FORMAT binary)") as cp:
            for i, piece in enumerate(pieces):
                cp.write(encode_binary_copy(piece, header=i == 0, trailer=i == len(pieces) - 1))
        return conn.execute("SELECT * FROM t").fetchall()


@pytest.mark.postgres
@pytest.mark.parametrize("chunks", [1, 3])
def test_binary_copy_round_trips_every_type_nulls_and_text(
    postgres_server: str, chunks: int
) -> None:
    rows = _round_trip(postgres_server, TABLE, chunks)
    assert rows == [tuple(r.values()) for r in TABLE.to_pylist()]


@pytest.mark.postgres
def test_binary_copy_of_a_sliced_table_sends_only_its_rows(postgres_server: str) -> None:
    part = TABLE.slice(1, 3)  # non-zero Arrow offsets in every buffer
    assert _round_trip(postgres_server, part) == [tuple(r.values()) for r in part.to_pylist()]


def test_binary_copy_rejects_an_unsupported_type() -> None:
    table = pa.table({"x": pa.array([True])})
    assert not binary_copy_supported(table.schema)
    with pytest.raises(StoreError, match="unsupported type bool"):
        encode_binary_copy(table)


def _batch(meter: str, start: str, n: int, value: float = 1.0) -> pd.DataFrame:
    ts = pd.date_range(start, periods=n, freq="15min", tz="UTC")
    return pd.DataFrame({"meter_id": meter, "ts": ts, "value": value + np.arange(n)})


@pytest.mark.postgres
def test_overlap_is_judged_per_meter(pg_url: str, site: Site) -> None:
    """Another meter's stored rows inside the batch's span do not make it a re-import."""
    with open_store(pg_url) as store:
        assert isinstance(store, PostgresStore)
        store.save_site(site)
        store.write_readings(_batch("acme-load", "2024-03-01 12:00", 8))
        late = _batch("bolt-load", "2024-03-01 00:00", 96)  # spans acme-load's rows
        table = normalize_readings(pd.concat([late, _batch("acme-load", "2024-03-02", 4)]))
        assert not store._overlaps(table, ["acme-load", "bolt-load"], [None, None])
        again = normalize_readings(_batch("acme-load", "2024-03-01 13:00", 2))
        assert store._overlaps(again, ["acme-load"], [None, None])
        report = store.write_readings(pd.concat([late, _batch("acme-load", "2024-03-01 12:00", 8)]))
        assert (report.inserted, report.unchanged) == (96, 8)
        assert store.count_readings() == 104


def _terminate(server: str, schema: str) -> int:
    with psycopg.connect(server, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (f"bg-{schema}",),
        ).fetchall()
    return len(rows)


@pytest.mark.postgres
def test_store_reconnects_after_its_connection_was_killed(
    pg_url: str, postgres_server: str, site: Site
) -> None:
    schema = pg_url.rsplit("schema=", 1)[1]
    url = f"{pg_url}&application_name=bg-{schema}"
    with open_store(url) as store:
        assert isinstance(store, PostgresStore)
        store.save_site(site)
        store.write_readings(_batch("acme-load", "2024-03-01", 4))
        assert _terminate(postgres_server, schema) == 1
        with pytest.raises(StoreError):  # the call that meets the dead connection fails...
            store.write_readings(_batch("acme-load", "2024-03-02", 4))
        report = store.write_readings(_batch("acme-load", "2024-03-02", 4))  # ...the next heals
        assert report.inserted == 4
        assert store.reconnects == 1
        assert store.count_readings() == 8


@pytest.mark.postgres
def test_a_closed_store_stays_closed(pg_url: str) -> None:
    store = open_store(pg_url)
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.count_readings()
