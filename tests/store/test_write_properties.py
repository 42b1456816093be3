"""Property: any sequence of batches leaves the store as a simple model predicts.

The model is the contract in plain Python: the first value written for a key
stays (or the newest, with ``replace``); repeats inside a batch count as
unchanged when equal and are quarantined when different.
"""

from __future__ import annotations

import itertools

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bitgaram.store import Store, WriteReport

T0 = pd.Timestamp("2022-01-01", tz="UTC")
_run = itertools.count()

rows = st.lists(
    st.tuples(st.sampled_from("ab"), st.integers(0, 5), st.sampled_from([1.0, 2.0, 3.0])),
    max_size=12,
)
batches = st.lists(st.tuples(rows, st.sampled_from(["quarantine", "replace"])), max_size=3)


def model_write(
    state: dict[tuple[str, int], float],
    batch: list[tuple[str, int, float]],
    mode: str,
    rejected: set[tuple[str, int, float]],
) -> WriteReport:
    """The store's semantics; ``rejected`` collects distinct quarantined (meter, t, value)."""
    inserted = unchanged = replaced = quarantined = 0
    first: dict[tuple[str, int], float] = {}
    for meter, t, value in batch:
        key = (meter, t)
        if key in first:
            if first[key] == value:
                unchanged += 1
            else:
                quarantined += 1
                rejected.add((meter, t, value))
            continue
        first[key] = value
    for key, value in first.items():
        if key not in state:
            state[key] = value
            inserted += 1
        elif state[key] == value:
            unchanged += 1
        elif mode == "replace":
            state[key] = value
            replaced += 1
        else:
            quarantined += 1
            rejected.add((*key, value))
    return WriteReport(inserted, unchanged, replaced, quarantined)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batches=batches)
def test_store_matches_the_model(store: Store, batches: list) -> None:
    prefix = f"p{next(_run)}-"  # examples share the store; keep their meters apart
    state: dict[tuple[str, int], float] = {}
    rejected: set[tuple[str, int, float]] = set()
    for batch, mode in batches:
        frame = pd.DataFrame(
            {
                "meter_id": [prefix + m for m, _, _ in batch],
                "ts": [T0 + pd.Timedelta(hours=t) for _, t, _ in batch],
                "value": [v for _, _, v in batch],
            }
        )
        if frame.empty:
            frame = frame.astype({"meter_id": "str", "value": "float64"})
            frame["ts"] = pd.DatetimeIndex([], tz="UTC")
        expected = model_write(state, batch, mode, rejected)
        assert store.write_readings(frame, on_conflict=mode, source=prefix) == expected
    got = store.read_readings([prefix + "a", prefix + "b"])
    as_dict = {
        (m.removeprefix(prefix), int((ts - T0) / pd.Timedelta(hours=1))): v
        for m, ts, v in zip(got["meter_id"], got["ts"], got["value"], strict=True)
    }
    assert as_dict == state
    # Issue 19: a rejected value is quarantined once, however often it is written again.
    assert store.count_quarantine(prefix) == len(rejected)
