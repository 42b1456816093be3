"""Quarantine rows with a fingerprint are stored once, on both backends."""

from __future__ import annotations

import pandas as pd
import pytest

from bitgaram.site import Site
from bitgaram.store import Store
from bitgaram.store.sql import FINGERPRINT, SCHEMA_VERSION


def _rejects(prints: list[str | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": "mqtt:bitgaram/park/acme-load/reading",
            "line": range(1, len(prints) + 1),
            "meter_id": "acme-load",
            "ts": None,
            "field": "unit",
            "raw": "W",
            "reason": "bad_unit: the meter reports in kWh",
            FINGERPRINT: prints,
        }
    )


def _one_reading(minute: int) -> pd.DataFrame:
    ts = pd.Timestamp("2024-05-01", tz="UTC") + pd.Timedelta(minutes=minute)
    return pd.DataFrame({"meter_id": ["acme-load"], "ts": [ts], "value": [1.0]})


def test_store_is_at_the_fingerprint_schema(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION >= 3


def test_a_redelivered_batch_is_quarantined_once(store: Store, site: Site) -> None:
    store.save_site(site)
    batch = _rejects(["a1", "a2"])
    first = store.write_readings(_one_reading(0), quarantine=batch)
    again = store.write_readings(_one_reading(0), quarantine=batch)  # the redelivery
    assert (first.inserted, first.quarantined) == (1, 2)
    assert (again.inserted, again.unchanged) == (0, 1)
    assert store.count_quarantine() == 2
    assert store.count_readings() == 1


def test_rows_without_fingerprint_are_stored_each_time(store: Store, site: Site) -> None:
    store.save_site(site)
    for minute in range(2):
        store.write_readings(_one_reading(minute), quarantine=_rejects([None, None]))
    assert store.count_quarantine() == 4


def test_a_fingerprint_repeated_in_one_batch_is_stored_once(store: Store, site: Site) -> None:
    store.save_site(site)
    store.write_readings(_one_reading(0), quarantine=_rejects(["b1", "b1", "b2", None]))
    assert store.count_quarantine() == 3
    listed = store.list_quarantine()
    assert sorted(listed["line"].tolist()) == [1, 3, 4]  # the first of the repeated pair


def test_an_unknown_fingerprint_after_a_stored_one_is_kept(store: Store, site: Site) -> None:
    store.save_site(site)
    store.write_readings(_one_reading(0), quarantine=_rejects(["c1"]))
    store.write_readings(_one_reading(1), quarantine=_rejects(["c1", "c2"]))
    assert store.count_quarantine() == 2


@pytest.mark.parametrize("prints", [["d1"], [None]])
def test_quarantine_only_batches_follow_the_same_rule(
    store: Store, site: Site, prints: list[str | None]
) -> None:
    store.save_site(site)
    empty = _one_reading(0).iloc[:0]
    for _ in range(2):
        store.write_readings(empty, quarantine=_rejects(prints))
    assert store.count_quarantine() == (1 if prints[0] else 2)


@pytest.mark.parametrize("rows", [3, 1200])  # PostgreSQL: one INSERT of arrays, or a staging table
def test_small_and_large_quarantine_batches_store_the_same_rows(
    store: Store, site: Site, rows: int
) -> None:
    store.save_site(site)
    prints = [None if i % 3 == 0 else f"p{i}" for i in range(rows)]
    batch = _rejects(prints).assign(
        ts=pd.Timestamp("2024-05-01", tz="UTC"), raw=[f"kW\\x00 {i}" for i in range(rows)]
    )
    store.write_readings(_one_reading(0), quarantine=batch)
    store.write_readings(_one_reading(0), quarantine=batch)  # the fingerprinted rows once
    listed = store.list_quarantine(limit=10 * rows).sort_values(["line", "received_at"])
    without = sum(p is None for p in prints)
    assert len(listed) == rows + without
    first = listed.drop_duplicates("line")
    assert first["line"].tolist() == list(range(1, rows + 1))
    assert first["raw"].tolist() == batch["raw"].tolist()
    assert (pd.to_datetime(first["ts"], utc=True) == pd.Timestamp("2024-05-01", tz="UTC")).all()
    assert set(first["reason"]) == {"bad_unit: the meter reports in kWh"}
