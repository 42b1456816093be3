"""Batch normalisation helpers: key checks and resolutions."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitgaram.errors import DataError
from bitgaram.store.frames import (
    batch_meters,
    bucket_seconds,
    keys_unique_and_sorted,
    normalize_readings,
    sort_by_key,
)

keys = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 4)), max_size=15)


def batch(pairs: list[tuple[str, int]]) -> pa.Table:
    return normalize_readings(
        pd.DataFrame(
            {
                "meter_id": pd.Series([m for m, _ in pairs], dtype="str"),
                "ts": pd.DatetimeIndex(
                    [
                        pd.Timestamp("2022-01-01", tz="UTC") + pd.Timedelta(hours=h)
                        for _, h in pairs
                    ],
                    tz="UTC",
                ),
                "value": [float(h) for _, h in pairs],
            }
        )
    )


@given(keys)
def test_key_check_never_passes_duplicates(pairs: list[tuple[str, int]]) -> None:
    distinct = len(set(pairs)) == len(pairs)
    table = batch(pairs)
    if keys_unique_and_sorted(table):
        assert distinct
    # After sorting by key the check is exact.
    ordered = sort_by_key(table)
    assert keys_unique_and_sorted(ordered) == distinct
    assert ordered.num_rows == table.num_rows
    assert sorted(ordered.column("value").to_pylist()) == sorted(h for _, h in pairs)
    assert batch_meters(table) == sorted({m for m, _ in pairs})
    if keys_unique_and_sorted(ordered):
        assert batch_meters(ordered, unique_sorted=True) == sorted({m for m, _ in pairs})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("raw", None), ("15min", 900), ("1h", 3600), ("1D", 86400), ("30min", 1800)],
)
def test_bucket_seconds(text: str, seconds: int | None) -> None:
    assert bucket_seconds(text) == seconds


@pytest.mark.parametrize("text", ["7min", "0s", "-1h", "2D", "sometimes"])
def test_bucket_seconds_refuses_durations_not_tiling_a_day(text: str) -> None:
    with pytest.raises(DataError, match="resolution"):
        bucket_seconds(text)
