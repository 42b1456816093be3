"""Live batches and files obey the same rules: random batches with every poison kind.

Random batches of decoded payload items (HTTP form: each names its meter),
mixing good readings with every kind of poison: NUL and other control
characters, far-future and far-past timestamps, overlong fields, nested
values, wrong types, bad quality flags, unknown meters, values outside a
meter's limits, NaN, and repeated keys with equal and with different values.
Each batch goes through the live path (:func:`decode_items`, then
:func:`prepare_batch`), and what it stores and quarantines must be exactly
what the rules say, computed here item by item from the rules as documented
(an oracle independent of the vectorised code). The rows that reach the
validator are also checked by :func:`validate_readings` (the file path,
from a frame): it must accept the same rows and give the same reasons.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from bitgaram.collect.payload import decode_items
from bitgaram.collect.validate import FIELD_LIMIT, RECORD_LIMIT, ValidationRules, validate_readings
from bitgaram.collect.writer import Submission, prepare_batch
from bitgaram.site import Site, parse_site

NOW = pd.Timestamp("2025-06-01T12:00Z")
RULES = ValidationRules(now=NOW)
T0 = int(pd.Timestamp("2025-06-01T00:00Z").timestamp())
SITE: Site = parse_site(
    {
        "site": {"id": "park", "name": "Park", "timezone": "Asia/Seoul"},
        "meters": [
            {"id": "load", "kind": "load", "unit": "kWh"},
            {"id": "pv", "kind": "pv", "unit": "kWh", "max_value": 10},
            {"id": "ess", "kind": "battery", "unit": "kWh"},
            {"id": "rh", "kind": "weather", "unit": "%"},
        ],
    }
)
UNITS = {m.id: str(m.unit) for m in SITE.meters}
NESTED: Any = [[[1.0]]]
KINDS = (
    "good", "good", "good", "good", "nul_unit", "control_unit", "overlong_unit", "far_future",
    "far_future_iso", "far_past", "nested", "text_value", "bool_timestamp", "list_timestamp",
    "bad_quality", "unknown_meter", "nan", "overlong_meter",
)  # fmt: skip


def _stamp(minute: int, iso: bool) -> str | int:
    seconds = T0 + 60 * minute
    if iso:
        return pd.Timestamp(seconds, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    return seconds


@st.composite
def items(draw: st.DrawFn) -> dict[str, Any]:
    """One decoded payload item of a random kind (with its kind, removed before sending)."""
    kind = draw(st.sampled_from(KINDS))
    meter = draw(st.sampled_from(sorted(UNITS)))
    # Few minutes and values: repeated keys, equal and different, come often.
    ts = _stamp(draw(st.integers(0, 5)), draw(st.booleans()))
    value: Any = draw(st.sampled_from([0.5, 1.0, 20.0, 150.0, -1.0]))
    item: dict[str, Any] = {"meter": meter, "timestamp": ts, "value": value, "unit": UNITS[meter]}
    if draw(st.booleans()):
        item["quality"] = draw(st.sampled_from([0, 1, 2]))
    if kind == "nul_unit":
        item["unit"] += "\x00"
    elif kind == "control_unit":
        item["unit"] = "\x1b[31m" + item["unit"]
    elif kind == "overlong_unit":
        item["unit"] = "k" * (3 * FIELD_LIMIT)
    elif kind == "far_future":
        item["timestamp"] = 253_402_297_200
    elif kind == "far_future_iso":
        item["timestamp"] = "9999-12-31T23:00:00Z"
    elif kind == "far_past":
        item["timestamp"] = draw(st.sampled_from([0, "1990-01-01T00:00:00Z"]))
    elif kind == "nested":
        item["value"] = NESTED
    elif kind == "text_value":
        item["value"] = "1.0"
    elif kind == "bool_timestamp":
        item["timestamp"] = True
    elif kind == "list_timestamp":
        item["timestamp"] = [ts]
    elif kind == "bad_quality":
        item["quality"] = draw(st.sampled_from([3, -1, "0", 1.5]))
    elif kind == "unknown_meter":
        item["meter"] = "gone\x00"
    elif kind == "nan":
        item["value"] = float("nan")
    elif kind == "overlong_meter":
        item["meter"] = "m" * (3 * FIELD_LIMIT)
    return item


def expected_reason(item: dict[str, Any]) -> str | None:
    """The reason code the documented rules give one item on its own (None: good so far)."""
    ts, value, quality = item["timestamp"], item["value"], item.get("quality", 0)
    if isinstance(ts, bool) or not isinstance(ts, str | int | float):
        return "wrong_type"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "wrong_type"
    if value != value:
        return "not_finite"
    if isinstance(quality, bool) or quality not in (0, 1, 2) or not isinstance(quality, int):
        return "bad_quality"
    meter = item["meter"]
    if meter in UNITS and item["unit"] != UNITS[meter]:
        return "bad_unit"
    if meter not in UNITS:
        return "unknown_meter"
    utc = pd.Timestamp(ts, unit="s", tz="UTC") if isinstance(ts, int) else pd.Timestamp(ts)
    lo, hi = RULES.window()
    if not lo <= utc <= hi:
        return "out_of_window"
    if value < 0 and meter != "ess":
        return "negative"
    if meter == "pv" and value > 10:
        return "above_max"
    if meter == "rh" and not 0 <= value <= 100:
        return "out_of_bounds"
    return None


def expected_outcome(
    messages: list[list[dict[str, Any]]],
) -> tuple[set[tuple[str, pd.Timestamp, float]], Counter[tuple[int, int, str]]]:
    """Stored (meter, ts, value) and quarantined (message, line, code) by the rules."""
    reasons: dict[tuple[int, int], str] = {}
    keys: dict[tuple[str, pd.Timestamp], list[tuple[tuple[int, int], float, int]]] = {}
    for m, message in enumerate(messages):
        for line, item in enumerate(message, start=1):
            why = expected_reason(item)
            if why is not None:
                reasons[m, line] = why
                continue
            ts = item["timestamp"]
            utc = pd.Timestamp(ts, unit="s", tz="UTC") if isinstance(ts, int) else pd.Timestamp(ts)
            entry = ((m, line), float(item["value"]), int(item.get("quality", 0)))
            keys.setdefault((item["meter"], utc), []).append(entry)
    stored = set()
    for (meter, utc), copies in keys.items():
        if len({(v, q) for _, v, q in copies}) > 1:  # rule 10: every copy quarantined
            reasons.update({where: "duplicate_conflict" for where, _, _ in copies})
        else:  # exact repeats collapse into one reading
            stored.add((meter, utc, copies[0][1]))
    return stored, Counter((m, line, why) for (m, line), why in reasons.items())


def _run_live(messages: list[list[dict[str, Any]]]) -> Any:
    subs = []
    for m, message in enumerate(messages):
        rows, rejects = decode_items(message, None)
        subs.append(Submission(f"http:{m}", rows, rejects, key=f"message-{m}"))
    return subs, prepare_batch(subs, SITE, RULES)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(items(), min_size=1, max_size=12), min_size=1, max_size=12))
def test_live_batches_store_and_quarantine_exactly_what_the_rules_say(
    messages: list[list[dict[str, Any]]],
) -> None:
    subs, prepared = _run_live(messages)
    stored, quarantined = expected_outcome(messages)

    got = prepared.readings
    assert set(zip(got["meter_id"], got["ts"], got["value"], strict=True)) == stored
    assert len(got) == len(stored)  # keys unique
    bad = prepared.quarantine
    owner = {f"http:{m}": m for m in range(len(messages))}
    codes = [r.split(":")[0] for r in bad["reason"]]
    assert Counter(zip(bad["source"].map(owner), bad["line"], codes, strict=True)) == quarantined

    # Per message: every item accounted for once, the result lists its rejections.
    for m, result in enumerate(prepared.results):
        mine = sum(n for (o, _, _), n in quarantined.items() if o == m)
        assert result.quarantined == mine == len(result.rejections)
        assert result.accepted + result.quarantined == len(messages[m])
    # Poison never reaches a store as is: texts escaped and bounded, each row fingerprinted.
    for column, limit in (
        ("meter_id", FIELD_LIMIT),
        ("raw", FIELD_LIMIT),
        ("record", RECORD_LIMIT),
    ):
        for text in bad[column].dropna():
            assert "\x00" not in text and "\x1b" not in text
            assert len(text) <= limit + 40
    assert bad["fingerprint"].notna().all() and bad["fingerprint"].is_unique

    # The file path (a frame into validate_readings) decides the same on the rows
    # that reached the validator.
    checked = [(m, r) for m, s in enumerate(subs) for r in s.rows
               if not (r.meter_id in UNITS and r.unit != UNITS[r.meter_id])]  # fmt: skip
    frame = pd.DataFrame(
        {
            "meter_id": [r.meter_id for _, r in checked],
            "ts": pd.Series(
                [
                    pd.Timestamp(r.timestamp, unit="s", tz="UTC").isoformat()
                    if isinstance(r.timestamp, int)
                    else r.timestamp
                    for _, r in checked
                ],
                dtype=object,
            ),
            "value": np.array([r.value for _, r in checked], dtype="float64"),
            "quality": np.array([r.quality for _, r in checked], dtype="int64"),
            "line": np.arange(len(checked)),
        }
    )
    good, file_bad = validate_readings(frame, SITE, "file", rules=RULES)
    pd.testing.assert_frame_equal(good, got)
    validated = {(m, r.line) for m, r in checked}
    where = list(zip(bad["source"].map(owner), bad["line"], strict=True))
    live = [(m, ln, c) for (m, ln), c in zip(where, codes, strict=True) if (m, ln) in validated]
    from_file = [
        (checked[i][0], checked[i][1].line, r.split(":")[0])
        for i, r in zip(file_bad["line"], file_bad["reason"], strict=True)
    ]
    assert from_file == live
    assert list(file_bad["reason"]) == [
        r for w, r in zip(where, bad["reason"], strict=True) if w in validated
    ]


def test_every_poison_kind_is_quarantined_with_its_reason() -> None:
    poison = {
        "nul_unit": "bad_unit",
        "control_unit": "bad_unit",
        "overlong_unit": "bad_unit",
        "far_future": "out_of_window",
        "far_future_iso": "out_of_window",
        "far_past": "out_of_window",
        "nested": "wrong_type",
        "text_value": "wrong_type",
        "bool_timestamp": "wrong_type",
        "list_timestamp": "wrong_type",
        "bad_quality": "bad_quality",
        "unknown_meter": "unknown_meter",
        "nan": "not_finite",
        "overlong_meter": "unknown_meter",
    }
    assert set(poison) == set(KINDS) - {"good"}
    made = [_one(kind) for kind in poison]
    _, prepared = _run_live([made])
    bad = prepared.quarantine
    codes = {int(ln): r.split(":")[0] for ln, r in zip(bad["line"], bad["reason"], strict=True)}
    assert [codes.get(i + 1) for i in range(len(made))] == list(poison.values())
    assert len(prepared.readings) == 0


def _one(kind: str) -> dict[str, Any]:
    """The item :func:`items` makes for ``kind`` on a good reading of meter load."""
    good = {"meter": "load", "timestamp": T0, "value": 1.0, "unit": "kWh", "quality": 0}
    over: dict[str, Any] = {
        "nul_unit": {"unit": "kWh\x00"},
        "control_unit": {"unit": "\x1b[31mkWh"},
        "overlong_unit": {"unit": "k" * (3 * FIELD_LIMIT)},
        "far_future": {"timestamp": 253_402_297_200},
        "far_future_iso": {"timestamp": "9999-12-31T23:00:00Z"},
        "far_past": {"timestamp": "1990-01-01T00:00:00Z"},
        "nested": {"value": NESTED},
        "text_value": {"value": "1.0"},
        "bool_timestamp": {"timestamp": True},
        "list_timestamp": {"timestamp": [T0]},
        "bad_quality": {"quality": 3},
        "unknown_meter": {"meter": "gone\x00"},
        "nan": {"value": float("nan")},
        "overlong_meter": {"meter": "m" * (3 * FIELD_LIMIT)},
    }[kind]
    return {**good, **over}
