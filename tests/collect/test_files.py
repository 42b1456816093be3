"""CSV/Parquet import: bad rows with their lines, chunking, idempotence, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bitgaram.collect.files import FileFormat, detect_format, import_file, read_chunks
from bitgaram.config import Settings
from bitgaram.errors import DataError, StoreError
from bitgaram.site import Site, parse_site
from bitgaram.store import Store, open_store

SITE = {
    "site": {"id": "filepark", "name": "File park", "timezone": "Asia/Seoul"},
    "tenants": [{"id": "acme", "name": "ACME"}],
    "meters": [
        {"id": "acme-load", "tenant": "acme", "kind": "load", "unit": "kWh"},
        {"id": "acme-pv", "tenant": "acme", "kind": "pv", "unit": "kWh", "max_value": 50},
    ],
}


@pytest.fixture
def park() -> Site:
    return parse_site(SITE)


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path, park: Site) -> Iterator[Store]:
    """A fresh store of each backend holding the park (PostgreSQL: a throw-away schema)."""
    if request.param == "duckdb":
        url = str(tmp_path / "files.duckdb")
    else:
        server: str = request.getfixturevalue("postgres_server")
        schema = "bg_import_" + uuid.uuid4().hex[:12]
        url = f"{server}?schema={schema}"

        def drop() -> None:
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE".encode())

        request.addfinalizer(drop)
    s = open_store(url, Settings())
    s.save_site(park)
    yield s
    s.close()


def long_lines(hours: int) -> list[str]:
    """Header plus two meters per hour, Seoul local time, values that are easy to sum."""
    lines = ["meter,timestamp,value"]
    start = pd.Timestamp("2024-03-01 00:00")
    for h in range(hours):
        t = (start + pd.Timedelta(hours=h)).strftime("%Y-%m-%d %H:%M")
        lines.append(f"acme-load,{t},{1 + h % 5}")
        lines.append(f"acme-pv,{t},{h % 3}")
    return lines


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def stored(store: Store) -> pd.DataFrame:
    frame = store.read_readings()
    return frame.sort_values(["meter_id", "ts"]).reset_index(drop=True)


def quarantined(store: Store) -> pd.DataFrame:
    rows = store.list_quarantine(limit=10_000).drop(columns="received_at")
    return rows.sort_values(["line", "field"]).reset_index(drop=True)


def test_injected_bad_rows_are_listed_with_line_and_reason(
    tmp_path: Path, store: Store, park: Site
) -> None:
    lines = long_lines(10)
    # Editor lines are list index + 1 (the header is line 1).
    lines[3] = "acme-load,2024-03-01 01:00,lots"
    lines[6] = "acme-xyz,2024-03-01 02:00,1"
    lines[8] = "acme-pv,2024-02-30 03:00,1"
    lines[10] = "acme-pv,2024-03-01 04:00,-2"
    lines[12] = "acme-pv,2024-03-01 05:00,999"
    lines.insert(14, "acme-load,2024-03-01 06:00")
    lines.append("acme-load,2024-03-01 00:00,4")  # same key as line 2, other value
    file = write(tmp_path / "bad.csv", lines)

    report = import_file(store, park, file, chunk_rows=1000)

    expected = {
        4: ("value", "non_numeric"),
        7: ("meter_id", "unknown_meter"),
        9: ("ts", "bad_timestamp"),
        11: ("value", "negative"),
        13: ("value", "above_max"),
        15: ("row", "bad_row"),
        2: ("value", "duplicate_conflict"),
        len(lines): ("value", "duplicate_conflict"),
    }
    rows = quarantined(store)
    got = {int(r.line): (r.field, r.reason.split(":")[0]) for r in rows.itertuples(index=False)}
    assert got == expected
    assert set(rows["source"]) == {str(file.resolve())}
    assert report.rows_read == len(lines) - 1
    assert report.quarantined == len(expected)
    assert report.inserted == report.readings - len(expected) == store.count_readings()
    assert set(report.first_bad["line"]) == set(expected)
    # 20 readings: 5 replaced by bad ones, and line 2 lost to the conflict with the last line.
    assert len(stored(store)) == 20 - 5 - 1


def test_reimport_is_idempotent_and_does_not_requarantine(
    tmp_path: Path, store: Store, park: Site
) -> None:
    lines = long_lines(30)
    lines[5] = "acme-load,not a time,1"
    file = write(tmp_path / "x.csv", lines)
    first = import_file(store, park, file, chunk_rows=16)
    before, q_before = stored(store), quarantined(store)
    second = import_file(store, park, file, chunk_rows=7)
    assert first.chunks == 4 and second.chunks == 9
    assert second.inserted == 0
    assert second.unchanged == first.inserted == 59
    assert second.quarantined == 0
    pd.testing.assert_frame_equal(stored(store), before)
    pd.testing.assert_frame_equal(quarantined(store), q_before)


def test_line_numbers_survive_chunk_boundaries_and_malformed_rows(tmp_path: Path) -> None:
    lines = long_lines(20)
    lines.insert(5, "oops")
    lines.insert(6, "")
    lines.insert(17, "a,b,c,d")
    file = write(tmp_path / "m.csv", lines)
    frames, rejected = [], []
    for chunk in read_chunks(file, chunk_rows=4):
        frames.append(chunk.frame)
        rejected.append(chunk.rejected)
    frame = pd.concat(frames, ignore_index=True)
    bad = pd.concat(rejected, ignore_index=True)
    assert bad["line"].tolist() == [6, 18]
    assert bad["raw"].tolist() == ["oops", "a,b,c,d"]
    # Every parsed row carries the line it came from.
    for row in frame.itertuples(index=False):
        assert lines[row.line - 1] == (
            f"{row.meter_id},{row.ts},{row.value}" if row.meter_id else ""
        )


def test_wide_csv_and_parquet_give_the_same_readings(tmp_path: Path, park: Site) -> None:
    hours = pd.date_range("2024-03-01", periods=48, freq="h")
    wide = pd.DataFrame(
        {
            "timestamp": hours.strftime("%Y-%m-%d %H:%M:%S"),
            "acme-load": np.round(np.linspace(1, 5, 48), 3),
            "acme-pv": np.round(np.linspace(0, 4, 48), 3),
        }
    )
    wide.to_csv(tmp_path / "w.csv", index=False)
    pq.write_table(pa.Table.from_pandas(wide.assign(timestamp=hours)), tmp_path / "w.parquet")
    long = wide.melt(id_vars="timestamp", var_name="meter", value_name="value")
    pq.write_table(pa.Table.from_pandas(long), tmp_path / "l.parquet")
    results = []
    for name in ("w.csv", "w.parquet", "l.parquet"):
        with open_store(":memory:") as s:
            s.save_site(park)
            report = import_file(s, park, tmp_path / name, chunk_rows=40)
            assert report.inserted == 96 and report.quarantined == 0
            results.append(stored(s))
    for other in results[1:]:
        pd.testing.assert_frame_equal(results[0], other)
    assert results[0]["ts"].min() == pd.Timestamp("2024-02-29 15:00", tz="UTC")
    assert detect_format(list(wide.columns)) is FileFormat.WIDE
    assert detect_format(list(long.columns)) is FileFormat.LONG


def test_unusable_files_raise_data_error(tmp_path: Path, store: Store, park: Site) -> None:
    with pytest.raises(DataError, match="no such file"):
        import_file(store, park, tmp_path / "missing.csv")
    with pytest.raises(DataError, match="no timestamp column"):
        import_file(store, park, write(tmp_path / "h.csv", ["a,b", "1,2"]))


_KILLED_IMPORT = textwrap.dedent(
    """
    import sys, time
    from bitgaram.collect.files import import_file
    from bitgaram.site import load_site
    from bitgaram.store import open_store

    store_path, site_path, csv_path = sys.argv[1:4]
    site = load_site(site_path)
    store = open_store(store_path)
    store.save_site(site)

    def after_commit(progress):
        print(f"committed {progress.chunk}", flush=True)
        time.sleep(120)  # the test kills us here, after the first transaction

    import_file(store, site, csv_path, chunk_rows=25, progress=after_commit)
    """
)


def test_killed_import_rerun_equals_one_clean_run(tmp_path: Path, park: Site) -> None:
    lines = long_lines(60)
    lines[10] = "acme-pv,2024-03-01 04:00,-1"
    lines[70] = "acme-load,never,1"
    file = write(tmp_path / "k.csv", lines)
    site_file = tmp_path / "site.toml"
    site_file.write_text(
        textwrap.dedent(
            """
            [site]
            id = "filepark"
            name = "File park"
            timezone = "Asia/Seoul"
            [[tenants]]
            id = "acme"
            name = "ACME"
            [[meters]]
            id = "acme-load"
            tenant = "acme"
            kind = "load"
            unit = "kWh"
            [[meters]]
            id = "acme-pv"
            tenant = "acme"
            kind = "pv"
            unit = "kWh"
            max_value = 50
            """
        )
    )
    killed_db = tmp_path / "killed.duckdb"
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_IMPORT, str(killed_db), str(site_file), str(file)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "committed 1"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL

    with open_store(str(killed_db)) as s:
        partial = s.count_readings()
        assert 0 < partial < 119
        import_file(s, park, file, chunk_rows=25)
        after_rerun, q_rerun = stored(s), quarantined(s)
    with open_store(str(tmp_path / "clean.duckdb")) as s:
        s.save_site(park)
        import_file(s, park, file, chunk_rows=25)
        clean, q_clean = stored(s), quarantined(s)
    pd.testing.assert_frame_equal(after_rerun, clean)
    pd.testing.assert_frame_equal(q_rerun, q_clean)
    assert len(clean) == 118 and len(q_clean) == 2


class _FailingStore:
    """Delegates to a real store but fails its ``fail_on``-th batch write."""

    def __init__(self, inner: Store, fail_on: int) -> None:
        self.inner, self.fail_on, self.calls = inner, fail_on, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def write_readings(self, *args: object, **kwargs: object) -> object:
        self.calls += 1
        if self.calls == self.fail_on:
            raise StoreError("disk full (simulated)")
        return self.inner.write_readings(*args, **kwargs)  # type: ignore[arg-type]


def test_a_failed_chunk_stops_the_import_and_keeps_earlier_chunks(
    tmp_path: Path, park: Site
) -> None:
    file = write(tmp_path / "f.csv", long_lines(50))
    with open_store(":memory:") as inner:
        inner.save_site(park)
        failing = _FailingStore(inner, fail_on=3)
        with pytest.raises(StoreError, match="disk full"):
            import_file(failing, park, file, chunk_rows=20)  # type: ignore[arg-type]
        assert inner.count_readings() == 40  # two committed chunks of 20 readings
        report = import_file(inner, park, file, chunk_rows=20)
        assert report.unchanged == 40 and report.inserted == 60
