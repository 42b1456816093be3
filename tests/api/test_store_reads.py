"""The store's read side used by the API: Arrow reads, latest_ts, the DuckDB reader pool,
and views that are renewed by writes (``data_version``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from bitgaram.api import Settings, create_app
from bitgaram.api.app import token_store_for
from bitgaram.api.testing import populate, synthetic_park
from bitgaram.errors import StoreError
from bitgaram.store.duckdb_store import DuckDBStore

PARK = synthetic_park(n_tenants=3, days=3, seed=2)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    with DuckDBStore(tmp_path / "reads.duckdb", max_readers=2) as s:
        s.migrate()
        s.save_site(PARK.site)
        s.write_readings(PARK.readings)
        yield s


@pytest.mark.parametrize("resolution", ["raw", "15min", "1h", "1D"])
@pytest.mark.parametrize("meters", [["acme-load"], ["acme-load", "acme-pv", "park-price"], None])
def test_arrow_reads_equal_frame_reads(
    store: DuckDBStore, resolution: str, meters: list[str] | None
) -> None:
    start, end = pd.Timestamp("2025-05-30 05:00", tz="UTC"), pd.Timestamp("2025-06-01", tz="UTC")
    frame = store.read_readings(meters, start, end, resolution)
    table = store.read_readings_arrow(meters, start, end, resolution)
    assert table.column_names == ["meter_id", "ts", "value"]
    assert str(table.schema.field("ts").type) == "timestamp[us, tz=UTC]"
    assert len(frame) == table.num_rows > 0
    assert table.column("meter_id").to_pylist() == frame["meter_id"].tolist()
    assert table.column("ts").to_pylist() == frame["ts"].tolist()
    np.testing.assert_array_equal(table.column("value").to_numpy(), frame["value"].to_numpy())


def test_latest_ts_is_the_newest_interval_start(store: DuckDBStore) -> None:
    newest = PARK.readings.groupby("meter_id")["ts"].max()
    assert store.latest_ts(["acme-load"]) == newest["acme-load"]
    assert store.latest_ts(["park-price", "nope"]) == newest["park-price"]
    assert store.latest_ts() == newest.max()
    assert store.latest_ts(["nope"]) is None
    later = pd.DataFrame(
        {"meter_id": ["park-price"], "ts": [newest.max() + pd.Timedelta(hours=1)], "value": [1.0]}
    )
    store.write_readings(later)
    assert store.latest_ts(["park-price"]) == newest.max() + pd.Timedelta(hours=1)


def test_concurrent_reads_share_a_bounded_pool_and_see_committed_writes(
    store: DuckDBStore,
) -> None:
    expected = store.read_readings(["acme-load"])
    start = threading.Barrier(8)

    def read(i: int) -> int:
        start.wait()
        table = store.read_readings_arrow(["acme-load"])
        assert store.count_readings("acme-load") == len(expected)
        return table.num_rows

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(read, range(8))) == [len(expected)] * 8
    assert store._lent == 0
    assert len(store._idle) <= 2  # max_readers
    before = store.data_version
    extra = pd.DataFrame(
        {"meter_id": ["acme-load"], "ts": [pd.Timestamp("2025-06-01", tz="UTC")], "value": [2.0]}
    )
    store.write_readings(extra)
    assert store.data_version > before
    assert store.count_readings("acme-load") == len(expected) + 1  # a pooled reader sees it


def test_reads_after_close_fail_with_a_store_error(tmp_path: Path) -> None:
    s = DuckDBStore(tmp_path / "closed.duckdb")
    s.migrate()
    s.count_readings()
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.read_readings(["acme-load"])


def test_cached_views_are_renewed_by_a_write() -> None:
    store = DuckDBStore(":memory:")
    store.migrate()
    try:
        settings = Settings(view_cache_seconds=3600)
        tokens = token_store_for(store, settings)
        token = populate(store, tokens, PARK)
        client = TestClient(create_app(settings, store, tokens))
        client.headers["Authorization"] = f"Bearer {token['operator']}"
        url = "/api/v1/meters/acme-load/readings"
        params = {"start": "2025-05-31T23:00:00Z", "end": "2025-06-01T01:00:00Z"}
        first = client.get(url, params=params).json()
        overview = client.get("/api/v1/park/overview").json()
        assert first["total"] == 4
        assert client.get(url, params=params).json() == first  # served from the cache
        new = pd.DataFrame(
            {
                "meter_id": "acme-load",
                "ts": pd.date_range("2025-06-01", periods=2, freq="15min", tz="UTC"),
                "value": [10.0, 11.0],
            }
        )
        store.write_readings(new)
        again = client.get(url, params=params).json()
        assert again["total"] == 6
        assert [p["value"] for p in again["items"][-2:]] == [10.0, 11.0]
        renewed = client.get("/api/v1/park/overview").json()
        assert renewed["end"] > overview["end"]  # the data now ends 30 minutes later
    finally:
        store.close()
