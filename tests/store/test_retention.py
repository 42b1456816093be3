"""Retention: compact_readings and downsample on every backend; PostgreSQL query plans."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bitgaram.config import Settings
from bitgaram.errors import DataError
from bitgaram.site import Site, parse_site
from bitgaram.store import Store, open_store
from bitgaram.store.retention import downsample, retention_cutoff

UTC = "UTC"

#: One tenant, one 5-minute kWh meter (for the property test, which takes no fixtures).
ONE_METER = parse_site(
    {
        "site": {"id": "p", "name": "P"},
        "tenants": [{"id": "acme", "name": "ACME"}],
        "meters": [
            {
                "id": "acme-load",
                "tenant": "acme",
                "kind": "load",
                "unit": "kWh",
                "resolution": "5min",
            }
        ],
    }
)


def _readings(days: int = 40, start: str = "2025-01-25") -> pd.DataFrame:
    ts = pd.date_range(start, periods=96 * days, freq="15min", tz=UTC)
    rng = np.random.default_rng(0)
    frames = []
    for meter in ("acme-load", "bolt-load", "acme-pv"):
        frames.append(
            pd.DataFrame(
                {
                    "meter_id": meter,
                    "ts": ts,
                    "value": rng.uniform(0, 10, len(ts)).round(3),
                    "quality": rng.choice([0, 0, 0, 1, 2], len(ts)),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def filled(store: Store, site: Site) -> Store:
    store.save_site(site)
    store.write_readings(_readings())
    return store


def test_downsampling_keeps_hourly_totals_and_counts_rows(filled: Store) -> None:
    cutoff = pd.Timestamp("2025-02-10", tz=UTC)
    before_load = filled.park_totals("load", resolution="1h")
    before_pv = filled.read_readings(["acme-pv"], resolution="1h")
    n_before = filled.count_readings()
    report = downsample(filled, cutoff, "1h", since=pd.Timestamp("2025-01-01", tz=UTC))
    old_rows = 3 * 96 * 16  # three meters, 16 days before the cutoff
    assert report.removed == old_rows
    assert report.written == old_rows // 4
    assert report.months == 2  # January and February partitions
    assert filled.count_readings() == n_before - old_rows + old_rows // 4
    after_load = filled.park_totals("load", resolution="1h")
    after_pv = filled.read_readings(["acme-pv"], resolution="1h")
    np.testing.assert_allclose(after_load["value"], before_load["value"], rtol=1e-12)
    # kW meter: the hourly mean of four 15-minute means is the hourly mean.
    np.testing.assert_allclose(after_pv["value"], before_pv["value"], rtol=1e-12)
    raw = filled.read_readings(["acme-load"], end=cutoff)
    assert (raw["ts"].dt.minute == 0).all()
    recent = filled.read_readings(["acme-load"], start=cutoff)
    assert len(recent) == 96 * 24  # untouched after the cutoff


def test_downsampling_twice_changes_nothing(filled: Store) -> None:
    cutoff = pd.Timestamp("2025-02-10", tz=UTC)
    downsample(filled, cutoff, "15min")
    first = downsample(filled, cutoff, "1h")
    snapshot = filled.read_readings()
    again = downsample(filled, cutoff, "1h")
    assert first.removed > 0
    assert (again.removed, again.written) == (0, 0)
    pd.testing.assert_frame_equal(filled.read_readings(), snapshot)


def test_compacting_one_interval_sums_energy(store: Store, site: Site) -> None:
    store.save_site(site)
    ts = pd.date_range("2025-03-01", periods=4, freq="15min", tz=UTC)
    store.write_readings(
        pd.DataFrame({"meter_id": "acme-load", "ts": ts, "value": 1.0, "quality": [0, 2, 1, 0]})
    )
    removed, written = store.compact_readings(ts[0], ts[0] + pd.Timedelta("1D"), "1h")
    assert (removed, written) == (4, 1)
    row = store.read_readings(["acme-load"])
    assert row["value"].tolist() == [4.0]
    # A re-import of the original 15-minute rows is new data at new keys, not a conflict.
    assert (
        store.write_readings(
            pd.DataFrame({"meter_id": "acme-load", "ts": ts[1:], "value": 1.0})
        ).inserted
        == 3
    )


def test_naive_or_raw_arguments_are_refused(filled: Store) -> None:
    with pytest.raises(DataError):
        downsample(filled, pd.Timestamp("2025-02-10"), "1h")
    with pytest.raises(DataError):
        downsample(filled, pd.Timestamp("2025-02-10", tz=UTC), "raw")
    with pytest.raises(DataError):
        retention_cutoff(pd.Timestamp("2025-02-10"), pd.Timedelta("1D"))


def test_cutoff_is_a_utc_midnight() -> None:
    now = pd.Timestamp("2025-06-10 08:00", tz="Asia/Seoul")
    assert retention_cutoff(now, pd.Timedelta("90D")) == pd.Timestamp("2025-03-11", tz=UTC)


def test_cli_downsample(tmp_path: Path, site: Site) -> None:
    import bitgaram.cli.fleet  # noqa: F401  (registers `store downsample`)
    from bitgaram.cli import app

    url = str(tmp_path / "s.duckdb")
    with open_store(url) as store:
        store.save_site(site)
        store.write_readings(_readings(days=10))
    args = ["store", "downsample", "--older-than", "5d", "--now", "2025-02-04", "--to", "1h"]
    result = CliRunner().invoke(app, [*args, "--store", url])
    assert result.exit_code == 0, result.output
    assert "raw rows" in result.output
    with open_store(url) as store:
        assert store.count_readings() == 3 * 96 * 5 + 3 * 24 * 5


def _explain(store: Any, call: Any) -> str:
    """The PostgreSQL plan of the query a store method runs (captured, then EXPLAINed)."""
    seen: list[tuple[str, list[Any]]] = []
    original = store._frame

    def capture(sql: str, params: Any, columns: Any) -> pd.DataFrame:
        seen.append((sql, list(params)))
        return original(sql, params, columns)

    store._frame = capture
    try:
        call()
    finally:
        store._frame = original
    sql, params = seen[-1]
    query = psycopg.ClientCursor(store._conn).mogrify(sql, params or None)
    rows = store._conn.execute(f"EXPLAIN {query}".encode()).fetchall()
    return "\n".join(r[0] for r in rows)


@pytest.mark.postgres
def test_postgres_dashboard_queries_prune_partitions_and_use_the_key(
    pg_url: str, site: Site
) -> None:
    with open_store(pg_url, Settings()) as store:
        store.save_site(site)
        store.write_readings(_readings(days=70, start="2025-01-01"))  # Jan, Feb, Mar
        store._exec("ANALYZE readings")  # type: ignore[attr-defined]
        week = (pd.Timestamp("2025-02-03", tz=UTC), pd.Timestamp("2025-02-10", tz=UTC))
        plan = _explain(store, lambda: store.read_readings(["acme-load"], *week))
        assert "readings_p202502" in plan
        assert "readings_p202501" not in plan and "readings_p202503" not in plan
        month = (pd.Timestamp("2025-02-01", tz=UTC), pd.Timestamp("2025-03-01", tz=UTC))
        plan = _explain(store, lambda: store.park_totals("load", *month, resolution="1h"))
        assert "readings_p202502" in plan and "readings_p202503" not in plan
        # With sequential scans priced out, one meter's week is an index range scan.
        store._exec("SET enable_seqscan = off")  # type: ignore[attr-defined]
        plan = _explain(store, lambda: store.read_readings(["acme-load"], *week))
        assert "Index" in plan and "readings_p202502_pkey" in plan


@settings(max_examples=15, deadline=None)
@given(
    steps=st.lists(st.integers(0, 4 * 96 - 1), min_size=1, max_size=60, unique=True),
    cut_day=st.integers(0, 4),
    to=st.sampled_from(["15min", "1h", "1D"]),
)
def test_compaction_conserves_energy_per_interval(steps: list[int], cut_day: int, to: str) -> None:
    """Any set of 5-minute kWh readings: per-interval sums survive, later rows are untouched."""
    start = pd.Timestamp("2025-05-01", tz=UTC)
    ts = start + pd.to_timedelta(np.sort(steps) * 5, unit="min")
    frame = pd.DataFrame({"meter_id": "acme-load", "ts": ts, "value": np.arange(len(ts)) + 0.5})
    cutoff = start + pd.Timedelta(days=cut_day)
    with open_store(":memory:") as store:
        store.save_site(ONE_METER)
        store.write_readings(frame)
        expected = store.read_readings(end=cutoff, resolution=to)
        later = store.read_readings(start=cutoff)
        report = downsample(store, cutoff, to, since=start)
        pd.testing.assert_frame_equal(store.read_readings(end=cutoff), expected)
        pd.testing.assert_frame_equal(store.read_readings(start=cutoff), later)
        assert report.removed - report.written == len(frame) - store.count_readings()
