"""The JSON payload decoder shared by MQTT and HTTP: any input, every item accounted for."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bitgaram.collect.payload import EPOCH_MAX, decode_item, decode_items, decode_payload

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
_reading = st.fixed_dictionaries(
    {
        "timestamp": st.one_of(st.integers(-5, EPOCH_MAX + 5), st.text(max_size=8), _json),
        "value": st.one_of(st.floats(), st.integers(), st.just(10**400), _json),
        "unit": st.one_of(st.just("kWh"), _json),
    },
    optional={"quality": st.one_of(st.integers(-1, 3), _json), "meter": st.just("m1") | _json},
)


@given(st.lists(st.one_of(_reading, _json), max_size=12))
def test_every_item_is_a_reading_or_a_reject_never_an_exception(items: list[Any]) -> None:
    rows, rejects = decode_items(items, "m1")
    assert len(rows) + len(rejects) == len(items)
    assert sorted([r.line for r in rows] + [r.line for r in rejects]) == list(
        range(1, len(items) + 1)
    )
    for row in rows:
        assert row.meter_id == "m1"
        assert isinstance(row.value, float) and math.isfinite(row.value)
        assert row.quality in (0, 1, 2)
        assert isinstance(row.unit, str)
    for reject in rejects:
        assert ":" in reject.reason  # "code: explanation"


@given(_reading)
def test_fast_path_and_checked_path_agree(item: dict[str, Any]) -> None:
    (fast_rows, fast_rejects) = decode_items([item], "m1")
    row, reject = decode_item(item, 1, "m1")
    assert fast_rows == ([row] if row is not None else [])
    assert [r.reason for r in fast_rejects] == ([reject.reason] if reject is not None else [])


def test_payload_forms() -> None:
    one = {"timestamp": "2024-05-01T00:00:00+09:00", "value": 2, "unit": "kWh", "quality": 1}
    rows, rejects = decode_payload(json.dumps(one).encode(), "m1")
    assert rejects == [] and rows[0].value == 2.0 and rows[0].quality == 1
    rows, rejects = decode_payload(json.dumps([one, one]), "m1")
    assert len(rows) == 2
    assert decode_payload(b"[]", "m1")[1][0].reason.startswith("bad_shape")
    assert decode_payload(b"\xff\xfe", "m1")[1][0].reason.startswith("bad_json")
    other = dict(one, meter="m2")
    assert decode_payload(json.dumps(other), "m1")[1][0].reason.startswith("meter_mismatch")
    assert decode_items([other], None)[0][0].meter_id == "m2"  # HTTP items name their meter
    huge = dict(one, value=10**400)
    assert decode_items([huge], "m1")[1][0].reason.startswith("not_finite")
