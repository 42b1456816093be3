"""validate_readings: every rule, timezones and DST, duplicates, and invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitgaram.collect.validate import REASONS, ValidationRules, validate_readings
from bitgaram.errors import DataError
from bitgaram.site import Site, parse_site
from bitgaram.store.base import QUARANTINE_COLUMNS, READING_COLUMNS


def make_site(timezone: str = "Asia/Seoul") -> Site:
    return parse_site(
        {
            "site": {"id": "park", "name": "Park", "timezone": timezone},
            "tenants": [{"id": "t1", "name": "T1"}],
            "meters": [
                {"id": "load", "tenant": "t1", "kind": "load", "unit": "kWh"},
                {"id": "pv", "tenant": "t1", "kind": "pv", "unit": "kWh", "max_value": 10},
                {"id": "ess", "tenant": "t1", "kind": "battery", "unit": "kWh"},
                {"id": "rh", "kind": "weather", "unit": "%"},
                {"id": "temp", "kind": "weather", "unit": "degC"},
            ],
        }
    )


def raw(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["meter_id", "ts", "value"]).astype("str")
    frame["line"] = np.arange(len(rows)) + 2
    return frame


def reason_codes(bad: pd.DataFrame) -> list[str]:
    return [r.split(":")[0] for r in bad["reason"]]


def test_good_rows_are_converted_to_utc_and_typed() -> None:
    good, bad = validate_readings(
        raw([("load", "2024-01-01 09:00", "1.5"), ("temp", "2024-01-01T09:00:00", "-3")]),
        make_site(),
        "f.csv",
    )
    assert bad.empty
    assert list(good.columns) == list(READING_COLUMNS)
    assert str(good["ts"].dtype) == "datetime64[us, UTC]"
    # Seoul is UTC+9: naive local 09:00 is 00:00 UTC; negative temperatures are fine.
    assert good["ts"].tolist() == [pd.Timestamp("2024-01-01 00:00", tz="UTC")] * 2
    assert good.set_index("meter_id")["value"].to_dict() == {"load": 1.5, "temp": -3.0}
    assert (good["quality"] == 0).all()


def test_timestamps_with_offsets_are_converted_not_relocalised() -> None:
    good, bad = validate_readings(
        raw(
            [
                ("load", "2024-01-01T09:00:00+09:00", "1"),
                ("pv", "2024-01-01T00:00:00Z", "1"),
                ("ess", "2024-01-01 09:00", "1"),
            ]
        ),
        make_site(),
        "f.csv",
    )
    assert bad.empty
    assert set(good["ts"]) == {pd.Timestamp("2024-01-01 00:00", tz="UTC")}


@pytest.mark.parametrize(
    ("row", "code", "field"),
    [
        (("nope", "2024-01-01 00:00", "1"), "unknown_meter", "meter_id"),
        (("load", "yesterday", "1"), "bad_timestamp", "ts"),
        (("load", "2024-13-01 00:00", "1"), "bad_timestamp", "ts"),
        (("load", "2024-01-01 00:00", ""), "missing_value", "value"),
        (("load", "2024-01-01 00:00", "12kWh"), "non_numeric", "value"),
        (("load", "2024-01-01 00:00", "nan"), "not_finite", "value"),
        (("load", "2024-01-01 00:00", "-inf"), "not_finite", "value"),
        (("load", "2024-01-01 00:00", "-0.5"), "negative", "value"),
        (("pv", "2024-01-01 00:00", "10.5"), "above_max", "value"),
        (("rh", "2024-01-01 00:00", "130"), "out_of_bounds", "value"),
        (("temp", "2024-01-01 00:00", "-120"), "out_of_bounds", "value"),
    ],
)
def test_each_bad_row_is_quarantined_with_line_field_and_reason(
    row: tuple[str, str, str], code: str, field: str
) -> None:
    good_row = ("ess", "2024-01-01 00:00", "-2.5")  # batteries may be negative
    good, bad = validate_readings(raw([good_row, row]), make_site(), "in.csv")
    assert good["meter_id"].tolist() == ["ess"]
    assert list(bad.columns) == list(QUARANTINE_COLUMNS)
    assert len(bad) == 1
    record = bad.iloc[0]
    assert reason_codes(bad) == [code]
    assert record["field"] == field
    assert record["line"] == 3
    assert record["source"] == "in.csv"
    assert record["raw"] == dict(zip(("meter_id", "ts", "value"), row, strict=True))[field]


def test_dst_gap_and_fold_are_quarantined_in_the_site_timezone() -> None:
    site = make_site("America/Los_Angeles")
    good, bad = validate_readings(
        raw(
            [
                ("load", "2022-03-13 01:30", "1"),
                ("load", "2022-03-13 02:30", "1"),  # clocks jump 02:00 -> 03:00
                ("load", "2022-11-06 01:30", "1"),  # 01:00-02:00 happens twice
                ("load", "2022-11-06 01:30-07:00", "1"),  # an offset resolves the fold
            ]
        ),
        site,
        "f.csv",
    )
    assert reason_codes(bad) == ["nonexistent_time", "ambiguous_time"]
    assert bad["line"].tolist() == [3, 4]
    assert good["ts"].tolist() == [
        pd.Timestamp("2022-03-13 09:30", tz="UTC"),
        pd.Timestamp("2022-11-06 08:30", tz="UTC"),
    ]


def test_exact_duplicates_collapse_and_conflicting_ones_are_all_quarantined() -> None:
    good, bad = validate_readings(
        raw(
            [
                ("load", "2024-01-01 00:00", "1.0"),
                ("load", "2024-01-01 00:00", "1"),  # same value, other spelling
                ("pv", "2024-01-01 00:00", "2"),
                ("pv", "2024-01-01 00:00", "3"),
                ("pv", "2024-01-01T00:00+09:00", "2"),  # same key as the two above
            ]
        ),
        make_site("Asia/Seoul"),
        "f.csv",
    )
    assert good["meter_id"].tolist() == ["load"]
    assert reason_codes(bad) == ["duplicate_conflict"] * 3
    assert bad["line"].tolist() == [4, 5, 6]
    assert all("3 copies" in r for r in bad["reason"])


def test_spike_rule_flags_orders_of_magnitude_not_peaks() -> None:
    rng = np.random.default_rng(1)
    n = 500
    ts = pd.date_range("2024-01-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M")
    values = rng.gamma(2.0, 1.0, n)
    values[100] = 8 * np.quantile(values, 0.99)  # a genuine peak
    values[200] = 1000 * np.quantile(values, 0.99)  # W logged as kW
    frame = raw([("load", t, repr(float(v))) for t, v in zip(ts, values, strict=True)])
    good, bad = validate_readings(frame, make_site("UTC"), "f.csv")
    assert reason_codes(bad) == ["spike"]
    assert bad["line"].tolist() == [202]
    assert len(good) == n - 1
    # Too few readings of a meter: the rule stays silent rather than guess.
    few = ValidationRules(spike_min_count=n + 1)
    good, bad = validate_readings(frame, make_site("UTC"), "f.csv", rules=few)
    assert bad.empty


def test_numeric_and_datetime_inputs_from_parquet_or_live_collectors() -> None:
    frame = pd.DataFrame(
        {
            "meter_id": ["load", "load", "pv"],
            "ts": pd.to_datetime(["2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 00:00"]),
            "value": [1.0, np.nan, 2.0],
            "quality": [0, 1, 7],
        }
    )
    good, bad = validate_readings(frame, make_site("UTC"), "mqtt")
    assert good["value"].tolist() == [1.0]
    assert reason_codes(bad) == ["not_finite", "bad_quality"]
    assert bad["line"].isna().all()
    aware = frame.assign(ts=frame["ts"].dt.tz_localize("Asia/Seoul"), quality=1).iloc[[0]]
    good, _ = validate_readings(aware, make_site("UTC"), "mqtt")
    assert good["ts"].iloc[0] == pd.Timestamp("2023-12-31 15:00", tz="UTC")
    assert good["quality"].iloc[0] == 1


def test_missing_columns_raise_data_error() -> None:
    with pytest.raises(DataError, match="missing"):
        validate_readings(pd.DataFrame({"meter_id": ["load"]}), make_site(), "f.csv")


def test_good_rows_are_sorted_by_meter_then_time() -> None:
    frame = raw(
        [
            ("pv", "2024-01-01 02:00", "1"),
            ("load", "2024-01-01 01:00", "1"),
            ("pv", "2024-01-01 01:00", "1"),
            ("load", "2024-01-01 00:00", "1"),
        ]
    )
    good, _ = validate_readings(frame, make_site("UTC"), "f.csv")
    assert good["meter_id"].tolist() == ["load", "load", "pv", "pv"]
    assert good["ts"].dt.hour.tolist() == [0, 1, 1, 2]


_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr),
    st.sampled_from(["", "x", "1e400", " 2 ", "-0"]),
)
_ROWS = st.lists(
    st.tuples(
        st.sampled_from(["load", "pv", "ess", "rh", "ghost"]),
        st.sampled_from(
            ["2022-03-13 02:30", "2022-11-06 01:30", "2022-06-01 12:00", "2022-06-01 13:00", "?"]
        ),
        _VALUES,
    ),
    max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(rows=_ROWS)
def test_every_row_is_accounted_for_exactly_once(rows: list[tuple[str, str, str]]) -> None:
    frame = raw(rows)
    good, bad = validate_readings(frame, make_site("America/Los_Angeles"), "f.csv")
    # Good keys are unique and finite; every input line is good, bad or an exact repeat.
    assert not good.duplicated(["meter_id", "ts"]).any()
    assert np.isfinite(good["value"]).all()
    assert len(good) + len(bad) <= len(frame)
    known = {name for name, _ in REASONS}
    assert {r.split(":")[0] for r in bad["reason"]} <= known
    lines_bad = set(bad["line"].tolist())
    assert len(lines_bad) == len(bad)
    # The strategy's naive timestamps map one-to-one to UTC keys, so every kept row
    # is one good reading per distinct (meter, ts) with a single value.
    kept = frame.loc[~frame["line"].isin(lines_bad)]
    assert kept.groupby(["meter_id", "ts"]).ngroups == len(good)
    assert (
        kept.assign(v=kept["value"].astype(float)).groupby(["meter_id", "ts"])["v"].nunique() == 1
    ).all()


def test_dictionary_encoded_columns_give_the_same_result_as_text() -> None:
    rows = [
        ("load", "2024-01-01 00:00", "1"),
        ("pv", "2024-01-01 00:00", "2"),
        ("ghost", "2024-01-01 01:00", "3"),
        ("load", "2024-02-30 00:00", "4"),
        ("pv", "2024-01-01 01:00", "-1"),
    ]
    text = raw(rows)
    text.loc[4, "ts"] = None
    encoded = text.astype({"meter_id": "category", "ts": "category"})
    site = make_site("Asia/Seoul")
    good_t, bad_t = validate_readings(text, site, "f.csv")
    good_c, bad_c = validate_readings(encoded, site, "f.csv")
    pd.testing.assert_frame_equal(good_t, good_c)
    pd.testing.assert_frame_equal(bad_t, bad_c)
    assert reason_codes(bad_c) == ["unknown_meter", "bad_timestamp", "bad_timestamp"]


@pytest.mark.parametrize("lengths", [(400, 400), (300, 450)])
def test_spike_rule_per_meter_with_equal_and_unequal_counts(lengths: tuple[int, int]) -> None:
    rng = np.random.default_rng(7)
    rows = []
    for meter, n in zip(("load", "ess"), lengths, strict=True):
        ts = pd.date_range("2024-01-01", periods=n, freq="15min").strftime("%Y-%m-%d %H:%M")
        values = rng.uniform(1.0, 2.0, n)
        values[n // 2] = 5_000.0  # far above 50 x p99 (<= 100) of both meters
        rows += [(meter, t, repr(float(v))) for t, v in zip(ts, values, strict=True)]
    frame = raw(rows)
    good, bad = validate_readings(frame, make_site("UTC"), "f.csv")
    assert reason_codes(bad) == ["spike", "spike"]
    assert bad["meter_id"].tolist() == ["load", "ess"]
    assert bad["line"].tolist() == [2 + lengths[0] // 2, 2 + lengths[0] + lengths[1] // 2]
    assert len(good) == sum(lengths) - 2


def test_a_site_without_meters_quarantines_everything() -> None:
    site = parse_site({"site": {"id": "empty", "name": "Empty"}})
    good, bad = validate_readings(raw([("load", "2024-01-01 00:00", "1")]), site, "f.csv")
    assert good.empty and list(good.columns) == list(READING_COLUMNS)
    assert reason_codes(bad) == ["unknown_meter"]
