"""The store contract: every backend must pass these same tests.

Data are small and hand-made so that each expected figure can be checked by
hand (sums of 1..n, means of known values).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from bitgaram.errors import DataError, StoreError
from bitgaram.site import Site, parse_site
from bitgaram.store import Store, WriteReport, open_store
from bitgaram.store.base import (
    ALERT_COLUMNS,
    SETPOINT_COLUMNS,
    AlertRecord,
    DrEventRecord,
    EvSessionRecord,
    SetpointRecord,
)
from bitgaram.store.sql import SqlStore

T0 = pd.Timestamp("2022-03-26 22:00", tz="UTC")


def frame(meter: str, values: list[float], start: pd.Timestamp = T0, freq: str = "15min"):
    """A readings frame of one meter with consecutive interval starts."""
    ts = pd.date_range(start, periods=len(values), freq=freq)
    return pd.DataFrame(
        {"meter_id": meter, "ts": ts, "value": np.asarray(values, dtype=float), "quality": 0}
    )


def stored(store: Store, meter: str) -> dict[pd.Timestamp, float]:
    raw = store.read_readings([meter])
    return dict(zip(raw["ts"], raw["value"], strict=True))


# -- migrations and lifecycle --------------------------------------------------


def test_backend_implements_the_protocol(store: Store) -> None:
    assert isinstance(store, Store)


def test_migrate_is_idempotent_and_versioned(store: Store) -> None:
    version = store.schema_version()
    assert version >= 1
    store.migrate()
    store.migrate()
    assert store.schema_version() == version


def test_data_survive_reopening(store_url: str, site: Site) -> None:
    with open_store(store_url) as first:
        first.save_site(site)
        first.write_readings(frame("acme-load", [1.0, 2.0]))
    with open_store(store_url) as second:
        assert second.count_readings() == 2
        assert second.load_site() == site


# -- site model -----------------------------------------------------------------


def test_site_round_trip(store: Store, site: Site) -> None:
    store.save_site(site)
    assert store.list_sites() == ["park"]
    loaded = store.load_site()
    assert loaded == site
    assert store.load_site("park") == site
    assert loaded.meter("bolt-pv").unit.value == "kW"


def test_save_site_replaces_previous_version(store: Store, site: Site) -> None:
    store.save_site(site)
    data = site.model_dump(mode="json")
    data["tenants"][0]["name"] = "ACME Motors Korea"
    data["meters"] = [m for m in data["meters"] if m["id"] != "acme-load2"]
    changed = parse_site(data)
    store.save_site(changed)
    assert store.load_site() == changed
    assert store.list_sites() == ["park"]
    # The removed meter no longer counts toward tenant totals.
    store.write_readings(pd.concat([frame("acme-load", [1.0]), frame("acme-load2", [5.0])]))
    totals = store.tenant_totals("load", resolution="15min", tenant_ids=["acme"])
    assert totals["value"].tolist() == [1.0]


def test_meter_ids_are_unique_across_sites(store: Store, site: Site) -> None:
    store.save_site(site)
    other = parse_site(
        {
            "site": {"id": "other", "name": "Other park"},
            "meters": [{"id": "acme-load", "kind": "load", "unit": "kWh"}],
        }
    )
    with pytest.raises(StoreError, match="acme-load"):
        store.save_site(other)
    assert store.list_sites() == ["park"]


def test_load_site_errors(store: Store, site: Site) -> None:
    with pytest.raises(StoreError, match="no site"):
        store.load_site()
    store.save_site(site)
    store.save_site(parse_site({"site": {"id": "zeta", "name": "Zeta"}}))
    with pytest.raises(StoreError, match="several sites"):
        store.load_site()
    assert store.load_site("zeta").site.name == "Zeta"
    with pytest.raises(StoreError, match="nope"):
        store.load_site("nope")


# -- idempotent writes ---------------------------------------------------------------


def test_same_batch_twice_changes_nothing(store: Store, site: Site) -> None:
    store.save_site(site)
    batch = pd.concat([frame("acme-load", [1.0, 2.0, 3.0]), frame("bolt-pv", [10.0, 20.0])])
    first = store.write_readings(batch)
    assert first == WriteReport(inserted=5)
    second = store.write_readings(batch)
    assert second == WriteReport(unchanged=5)
    assert store.count_readings() == 5
    assert store.count_readings("acme-load") == 3
    assert store.count_quarantine() == 0


def test_partly_new_batch_inserts_only_new_rows(store: Store) -> None:
    store.write_readings(frame("acme-load", [1.0, 2.0, 3.0]))
    report = store.write_readings(frame("acme-load", [1.0, 2.0, 3.0, 4.0, 5.0]))
    assert report == WriteReport(inserted=2, unchanged=3)
    assert list(stored(store, "acme-load").values()) == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_conflicting_value_is_quarantined_and_stored_row_kept(store: Store) -> None:
    store.write_readings(frame("acme-load", [1.0, 2.0, 3.0]))
    report = store.write_readings(frame("acme-load", [1.0, 2.5, 3.0]), source="meter.csv")
    assert report == WriteReport(unchanged=2, quarantined=1)
    assert list(stored(store, "acme-load").values()) == [1.0, 2.0, 3.0]
    bad = store.list_quarantine()
    assert len(bad) == 1
    row = bad.iloc[0]
    assert row["source"] == "meter.csv"
    assert row["meter_id"] == "acme-load"
    assert row["ts"] == T0 + pd.Timedelta("15min")
    assert row["reason"].startswith("conflict")
    assert float(row["raw"]) == 2.5
    assert store.count_quarantine("meter.csv") == 1
    assert store.count_quarantine("elsewhere") == 0


def test_replace_mode_overwrites_conflicts(store: Store) -> None:
    store.write_readings(frame("acme-load", [1.0, 2.0, 3.0]))
    batch = frame("acme-load", [1.0, 2.5, 3.5, 4.0])
    batch.loc[1, "quality"] = 1
    report = store.write_readings(batch, on_conflict="replace")
    assert report == WriteReport(inserted=1, unchanged=1, replaced=2)
    assert list(stored(store, "acme-load").values()) == [1.0, 2.5, 3.5, 4.0]
    assert store.count_quarantine() == 0


def test_repeated_keys_inside_one_batch(store: Store) -> None:
    base = frame("acme-load", [1.0, 2.0])
    batch = pd.concat([base, base.iloc[[0]], base.iloc[[1]].assign(value=9.0)])
    report = store.write_readings(batch, source="dup")
    assert report == WriteReport(inserted=2, unchanged=1, quarantined=1)
    assert list(stored(store, "acme-load").values()) == [1.0, 2.0]
    assert store.list_quarantine()["reason"].iloc[0].startswith("conflict")


def test_exact_float_values_round_trip(store: Store) -> None:
    values = [0.1 + 0.2, 1 / 3, 1e-300 / 3, 123456789.123456789, -2.5e17]
    batch = frame("acme-load", values)
    store.write_readings(batch)
    assert list(stored(store, "acme-load").values()) == values
    assert store.write_readings(batch) == WriteReport(unchanged=len(values))


def test_arrow_table_and_caller_quarantine_in_one_batch(store: Store) -> None:
    table = pa.Table.from_pandas(frame("acme-load", [1.0, 2.0]), preserve_index=False)
    rejected = pd.DataFrame(
        {
            "source": ["", "other.csv"],
            "line": [7, 9],
            "meter_id": ["acme-load", "ghost"],
            "ts": ["not a time", "2022-01-01T00:00:00Z"],
            "field": ["ts", "meter_id"],
            "raw": ["yesterday", "ghost"],
            "reason": ["unparsable timestamp", "unknown meter"],
        }
    )
    report = store.write_readings(table, quarantine=rejected, source="in.csv")
    assert report == WriteReport(inserted=2, quarantined=2)
    bad = store.list_quarantine().sort_values("line").reset_index(drop=True)
    assert bad["source"].tolist() == ["in.csv", "other.csv"]
    assert bad["line"].tolist() == [7, 9]
    assert pd.isna(bad["ts"].iloc[0])
    assert bad["ts"].iloc[1] == pd.Timestamp("2022-01-01", tz="UTC")
    assert set(bad.columns) >= {"received_at", "reason", "raw"}


def test_bad_batches_are_refused(store: Store) -> None:
    naive = frame("acme-load", [1.0])
    naive["ts"] = naive["ts"].dt.tz_localize(None)
    with pytest.raises(DataError, match="naive"):
        store.write_readings(naive)
    with pytest.raises(DataError, match="NaN"):
        store.write_readings(frame("acme-load", [1.0, float("nan")]))
    with pytest.raises(DataError, match="missing column"):
        store.write_readings(frame("acme-load", [1.0]).drop(columns="value"))
    with pytest.raises(DataError, match="on_conflict"):
        store.write_readings(frame("acme-load", [1.0]), on_conflict="ignore")  # type: ignore[arg-type]
    assert store.count_readings() == 0


def test_non_utc_input_is_stored_in_utc(store: Store) -> None:
    seoul = frame("acme-load", [4.0], start=pd.Timestamp("2022-06-01 09:00", tz="Asia/Seoul"))
    store.write_readings(seoul)
    assert list(stored(store, "acme-load")) == [pd.Timestamp("2022-06-01 00:00", tz="UTC")]


# -- atomicity -------------------------------------------------------------------------


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("existing", [False, True], ids=["fast-path", "merge-path"])
def test_failed_batch_leaves_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    if existing:
        store.write_readings(frame("acme-load", [1.0]))
    before_rows, before_bad = store.count_readings(), store.count_quarantine()

    def explode(*args: object, **kwargs: object) -> None:
        raise Boom("disk full")

    assert isinstance(store, SqlStore)
    # Fails after the readings (and conflicts) were merged, before commit.
    monkeypatch.setattr(store, "_insert_quarantine", explode)
    batch = frame("acme-load", [5.0, 2.0, 3.0])  # first row conflicts when existing
    rejected = pd.DataFrame({"reason": ["bad"], "raw": ["x"]})
    with pytest.raises(Boom):
        store.write_readings(batch, quarantine=rejected)
    assert store.count_readings() == before_rows
    assert store.count_quarantine() == before_bad
    monkeypatch.undo()
    # The store is usable afterwards and the same batch now goes through.
    report = store.write_readings(batch, quarantine=rejected)
    assert report.inserted == 3 - int(existing)
    assert store.count_quarantine() == before_bad + 1 + int(existing)


# -- resampling ---------------------------------------------------------------------------


def test_raw_read_filters_half_open_period(store: Store) -> None:
    store.write_readings(frame("acme-load", [1.0, 2.0, 3.0, 4.0]))
    got = store.read_readings(
        ["acme-load"], start=T0 + pd.Timedelta("15min"), end=T0 + pd.Timedelta("45min")
    )
    assert got["value"].tolist() == [2.0, 3.0]
    assert list(got.columns) == ["meter_id", "ts", "value"]
    assert str(got["ts"].dt.tz) == "UTC"
    with pytest.raises(DataError, match="naive"):
        store.read_readings(start=pd.Timestamp("2022-01-01"))


def test_energy_is_summed_and_power_averaged(store: Store, site: Site) -> None:
    store.save_site(site)
    energy = [float(v) for v in range(1, 9)]  # 2 h of 15-min kWh
    power = [10.0, 20.0, 30.0, 40.0, 0.0, 0.0, 0.0, 100.0]  # kW averages
    store.write_readings(pd.concat([frame("acme-load", energy), frame("acme-pv", power)]))
    m15 = store.read_readings(["acme-load"], resolution="15min")
    assert m15["value"].tolist() == energy
    hourly = store.read_readings(["acme-load", "acme-pv"], resolution="1h")
    got = {(r.meter_id, r.ts): r.value for r in hourly.itertuples()}
    h0, h1 = T0, T0 + pd.Timedelta("1h")
    assert got == {
        ("acme-load", h0): 10.0,
        ("acme-load", h1): 26.0,
        ("acme-pv", h0): 25.0,
        ("acme-pv", h1): 25.0,
    }
    # Hourly energy totals equal the sum of the raw readings.
    assert hourly.loc[hourly["meter_id"] == "acme-load", "value"].sum() == sum(energy)


def test_daily_buckets_are_utc_days_across_a_dst_change(store: Store, site: Site) -> None:
    """Europe moves clocks at 2022-03-27 01:00 UTC; UTC days must not care."""
    store.save_site(site)
    # 22:00 UTC on the 26th to 02:00 UTC on the 27th: 8 + 8 readings.
    store.write_readings(frame("acme-load", [1.0] * 16))
    store.write_readings(frame("acme-pv", [2.0] * 8 + [4.0] * 8))
    daily = store.read_readings(["acme-load", "acme-pv"], resolution="1D")
    got = {(r.meter_id, r.ts.isoformat()): r.value for r in daily.itertuples()}
    assert got == {
        ("acme-load", "2022-03-26T00:00:00+00:00"): 8.0,
        ("acme-load", "2022-03-27T00:00:00+00:00"): 8.0,
        ("acme-pv", "2022-03-26T00:00:00+00:00"): 2.0,
        ("acme-pv", "2022-03-27T00:00:00+00:00"): 4.0,
    }


def test_buckets_align_to_utc_not_to_the_first_reading(store: Store, site: Site) -> None:
    store.save_site(site)
    start = pd.Timestamp("2022-06-01 00:30", tz="UTC")  # mid-hour start
    store.write_readings(frame("acme-load", [1.0, 2.0, 3.0, 4.0], start=start))
    hourly = store.read_readings(["acme-load"], resolution="1h")
    assert hourly["ts"].tolist() == [
        pd.Timestamp("2022-06-01 00:00", tz="UTC"),
        pd.Timestamp("2022-06-01 01:00", tz="UTC"),
    ]
    assert hourly["value"].tolist() == [3.0, 7.0]


def test_unknown_meters_are_averaged_and_bad_resolutions_refused(store: Store) -> None:
    store.write_readings(frame("undescribed", [1.0, 3.0, 5.0, 7.0]))
    assert store.read_readings(resolution="1h")["value"].tolist() == [4.0]
    with pytest.raises(DataError, match="resolution"):
        store.read_readings(resolution="7min")
    with pytest.raises(DataError, match="resolution"):
        store.read_readings(resolution="soon")


# -- tenant and park totals ---------------------------------------------------------------


def test_tenant_and_park_energy_totals(store: Store, site: Site) -> None:
    store.save_site(site)
    batch = pd.concat(
        [
            frame("acme-load", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]),
            frame("acme-load2", [10.0] * 8),
            frame("bolt-load", [0.5] * 8),
            frame("main-load", [100.0] * 4),  # site-level: no tenant
            frame("acme-pv", [99.0] * 8),  # other kind: ignored
        ]
    )
    store.write_readings(batch)
    h0, h1 = T0, T0 + pd.Timedelta("1h")
    tenants = store.tenant_totals("load", resolution="1h")
    got = {(r.tenant_id, r.ts): r.value for r in tenants.itertuples()}
    assert got == {
        ("acme", h0): 10.0 + 40.0,
        ("acme", h1): 26.0 + 40.0,
        ("bolt", h0): 2.0,
        ("bolt", h1): 2.0,
    }
    only_bolt = store.tenant_totals("load", resolution="1D", tenant_ids=["bolt"])
    assert only_bolt["tenant_id"].tolist() == ["bolt"]  # 22:00-24:00 UTC: one UTC day
    assert only_bolt["value"].tolist() == [4.0]
    park = store.park_totals("load", resolution="1h")
    assert park["ts"].tolist() == [h0, h1]
    assert park["value"].tolist() == [50.0 + 2.0 + 400.0, 66.0 + 2.0]
    windowed = store.park_totals("load", start=h1, end=h1 + pd.Timedelta("1h"), resolution="1h")
    assert windowed["value"].tolist() == [68.0]


def test_power_totals_add_mean_powers(store: Store, site: Site) -> None:
    store.save_site(site)
    store.write_readings(
        pd.concat([frame("acme-pv", [10.0, 30.0, 10.0, 30.0]), frame("bolt-pv", [5.0] * 4)])
    )
    park = store.park_totals("pv", resolution="1h")
    assert park["value"].tolist() == [25.0]  # 20 kW + 5 kW average


def test_mixed_units_in_one_kind_are_refused(store: Store) -> None:
    store.save_site(
        parse_site(
            {
                "site": {"id": "mixed", "name": "Mixed"},
                "meters": [
                    {"id": "a", "kind": "pv", "unit": "kWh"},
                    {"id": "b", "kind": "pv", "unit": "kW"},
                ],
            }
        )
    )
    with pytest.raises(DataError, match="mix units"):
        store.park_totals("pv")


# -- forecasts ---------------------------------------------------------------------------


def forecast(issued: pd.Timestamp, values: list[float], model: str = "lgbm", q: float = 0.5):
    ts = pd.date_range(T0, periods=len(values), freq="1h")
    return pd.DataFrame(
        {
            "meter_id": "acme-load",
            "issued_at": issued,
            "ts": ts,
            "horizon": np.arange(len(values)) + 1,
            "quantile": q,
            "value": values,
            "model": model,
        }
    )


def test_forecasts_latest_issue_wins(store: Store) -> None:
    early, late = T0 - pd.Timedelta("2h"), T0 - pd.Timedelta("1h")
    assert store.write_forecasts(forecast(early, [1.0, 2.0, 3.0])) == 3
    store.write_forecasts(forecast(late, [10.0, 20.0]))
    store.write_forecasts(forecast(late, [7.0, 8.0], q=0.9))
    latest = store.read_forecasts(["acme-load"])
    median = latest[latest["quantile"] == 0.5]
    assert median["value"].tolist() == [10.0, 20.0, 3.0]
    assert median["issued_at"].tolist() == [late, late, early]
    assert len(latest[latest["quantile"] == 0.9]) == 2
    everything = store.read_forecasts(latest=False)
    assert len(everything) == 7
    before_late = store.read_forecasts(issued_before=late)
    assert before_late["value"].tolist() == [1.0, 2.0, 3.0]
    windowed = store.read_forecasts(start=T0 + pd.Timedelta("1h"), end=T0 + pd.Timedelta("2h"))
    assert windowed["value"].tolist() == [20.0, 8.0]


def test_forecast_writes_are_idempotent_per_key(store: Store) -> None:
    issued = T0 - pd.Timedelta("1h")
    store.write_forecasts(forecast(issued, [1.0, 2.0]))
    store.write_forecasts(forecast(issued, [1.0, 2.0]))
    store.write_forecasts(forecast(issued, [1.0, 5.0]))  # revised: replaces
    store.write_forecasts(forecast(issued, [4.0, 4.0], model="naive"))
    rows = store.read_forecasts(latest=False)
    assert len(rows) == 4
    lgbm = rows[rows["model"] == "lgbm"]
    assert lgbm["value"].tolist() == [1.0, 5.0]
    assert store.read_forecasts(model="naive")["value"].tolist() == [4.0, 4.0]
    assert list(rows.columns) == [
        "meter_id",
        "issued_at",
        "ts",
        "horizon",
        "quantile",
        "value",
        "model",
    ]


def test_bad_forecasts_are_refused(store: Store) -> None:
    bad = forecast(T0, [1.0])
    bad["quantile"] = 1.5
    with pytest.raises(DataError, match="quantile"):
        store.write_forecasts(bad)
    with pytest.raises(DataError, match="missing"):
        store.write_forecasts(forecast(T0, [1.0]).drop(columns="model"))


def test_time_major_batch_is_accepted_whole(store: Store) -> None:
    ts = pd.date_range(T0, periods=4, freq="15min")
    batch = pd.DataFrame(
        {
            "meter_id": ["b", "a"] * 4,
            "ts": ts.repeat(2),
            "value": [10.0, 1.0, 20.0, 2.0, 30.0, 3.0, 40.0, 4.0],
        }
    )
    assert store.write_readings(batch) == WriteReport(inserted=8)
    assert list(stored(store, "a").values()) == [1.0, 2.0, 3.0, 4.0]
    assert store.write_readings(batch.iloc[::-1]) == WriteReport(unchanged=8)


# -- views: Arrow reads, where data ends, database-built JSON ---------------------------


def test_arrow_reads_equal_frame_reads(store: Store, site: Site) -> None:
    store.save_site(site)
    store.write_readings(frame("acme-load", [1.0, 2.0, 3.0, 4.0, 5.0]))
    store.write_readings(frame("bolt-load", [0.5] * 8))
    store.write_readings(frame("acme-pv", [10.0, 20.0, 30.0, 40.0]))
    for resolution in ("raw", "15min", "1h"):
        for ids in (["acme-load"], ["acme-load", "acme-pv"], None):
            table = store.read_readings_arrow(ids, resolution=resolution)
            expected = store.read_readings(ids, resolution=resolution)
            assert table.column_names == ["meter_id", "ts", "value"]
            assert str(table.schema.field("ts").type) == "timestamp[us, tz=UTC]"
            assert table.column("meter_id").to_pylist() == expected["meter_id"].tolist()
            assert table.column("ts").to_pylist() == expected["ts"].tolist()
            assert table.column("value").to_pylist() == expected["value"].tolist()
    totals = store.tenant_totals_arrow("load", resolution="1h")
    expected = store.tenant_totals("load", resolution="1h")
    assert totals.column_names == ["tenant_id", "ts", "value"]
    assert totals.column("tenant_id").to_pylist() == ["acme", "acme", "bolt", "bolt"]
    assert totals.column("value").to_pylist() == expected["value"].tolist() == [10.0, 5.0, 2.0, 2.0]


def test_forecast_arrow_read_keeps_the_latest_issue(store: Store) -> None:
    issued = [T0 - pd.Timedelta(hours=2), T0 - pd.Timedelta(hours=1)]
    rows = [
        {"meter_id": "m", "issued_at": i, "ts": T0, "horizon": 1, "quantile": 0.5, "value": v}
        for i, v in zip(issued, [1.0, 2.0], strict=True)
    ]
    store.write_forecasts(pd.DataFrame(rows).assign(model="gbm"))
    table = store.read_forecasts_arrow(["m"])
    assert table.column_names == ["meter_id", "ts", "quantile", "value"]
    assert table.column("value").to_pylist() == [2.0]
    assert table.column("ts").to_pylist() == [T0]
    assert store.read_forecasts_arrow(["other"]).num_rows == 0


def test_latest_ts_is_the_newest_interval_start(store: Store) -> None:
    assert store.latest_ts() is None
    assert store.latest_ts(["acme-load"]) is None
    store.write_readings(frame("acme-load", [1.0, 2.0, 3.0]))
    store.write_readings(frame("bolt-load", [1.0]))
    newest = T0 + pd.Timedelta(minutes=30)
    assert store.latest_ts(["acme-load"]) == newest
    assert store.latest_ts(["bolt-load", "nope"]) == T0
    assert store.latest_ts() == newest
    assert str(store.latest_ts(["bolt-load"]).tz) == "UTC"  # type: ignore[union-attr]


def test_readings_page_json_is_the_python_page_or_none(store: Store, site: Site) -> None:
    store.save_site(site)
    store.write_readings(frame("acme-load", [1.0, 0.1, 1e16, 2.5]))
    page = store.readings_page_json("acme-load", None, None, "raw", 2, 1)
    if page is None:  # the backend lets the caller format (PostgreSQL's float text differs)
        return
    total, items = page
    assert total == 4
    ts = [f"{(T0 + pd.Timedelta(minutes=15 * i)):%Y-%m-%dT%H:%M:%S}Z" for i in (1, 2)]
    assert items == f'{{"ts":"{ts[0]}","value":0.1}},{{"ts":"{ts[1]}","value":1e+16}}'


def test_data_version_changes_with_every_write_or_is_unknown(store: Store, site: Site) -> None:
    before = store.data_version
    store.save_site(site)
    store.write_readings(frame("acme-load", [1.0]))
    after = store.data_version
    assert (before is None and after is None) or before != after


# -- the control loop's timeline ---------------------------------------------------------


def _setpoint(asset: str, issued: int, start: int, power: float) -> SetpointRecord:
    at = T0.to_pydatetime()
    return SetpointRecord(
        site_id="park",
        issued_at=at + pd.Timedelta(minutes=issued),
        asset=asset,
        kind="battery",
        power_kw=power,
        valid_from=at + pd.Timedelta(minutes=start),
        valid_until=at + pd.Timedelta(minutes=start + 15),
        mode="plan",
        reason=None if power else "idle",
    )


def test_control_tables_read_empty_before_any_write(store: Store) -> None:
    assert list(store.read_alerts().columns) == list(ALERT_COLUMNS)
    assert store.read_alerts().empty and store.read_setpoints("park").empty
    assert list(store.read_setpoints().columns) == list(SETPOINT_COLUMNS)
    assert store.setpoints_page(
        "park", "ess", T0, T0 + pd.Timedelta(days=1), limit=5, offset=0
    ) == (
        [],
        0,
    )
    assert store.latest_setpoint_end("park", "ess") is None


def test_setpoints_are_paged_and_the_schedule_keeps_the_last_issue(store: Store) -> None:
    # two plans for the same quarter-hours (the second replaces the first), another asset
    first = [_setpoint("ess", 0, 15 * k, 100.0 + k) for k in range(4)]
    second = [_setpoint("ess", 5, 15 * k, -50.0 - k) for k in range(1, 4)]
    assert store.write_setpoints(first) == 4
    assert store.write_setpoints([*second, _setpoint("ev", 0, 0, 7.0)]) == 4
    assert store.write_setpoints([]) == 0
    end = T0 + pd.Timedelta(hours=2)
    every, total = store.setpoints_page("park", "ess", T0, end, limit=3, offset=0)
    assert total == 7 and len(every) == 3
    assert [s.power_kw for s in every] == [100.0, 101.0, -51.0]  # by valid_from, issued_at
    assert every[0] == first[0]
    assert str(every[0].valid_from.tzinfo) == "UTC"
    rest, total = store.setpoints_page("park", "ess", T0, end, limit=10, offset=6)
    assert total == 7 and [s.power_kw for s in rest] == [-53.0]
    past, total = store.setpoints_page("park", "ess", T0, end, limit=10, offset=50)
    assert past == [] and total == 7
    plan, total = store.setpoints_page("park", "ess", T0, end, limit=10, offset=0, schedule=True)
    assert total == 4 and [s.power_kw for s in plan] == [100.0, -51.0, -52.0, -53.0]
    later, _ = store.setpoints_page(
        "park", "ess", T0 + pd.Timedelta(minutes=40), end, limit=10, offset=0, schedule=True
    )
    assert [s.power_kw for s in later] == [-52.0, -53.0]  # valid_until > start
    assert store.latest_setpoint_end("park", "ess") == T0 + pd.Timedelta(minutes=60)
    assert store.latest_setpoint_end("other", "ess") is None
    timeline = store.read_setpoints("park")
    assert len(timeline) == 8 and list(timeline.columns) == list(SETPOINT_COLUMNS)


def test_alerts_round_trip_in_time_order(store: Store) -> None:
    at = T0.to_pydatetime()
    alerts = [
        AlertRecord("park", "main", "peak", event, at + pd.Timedelta(minutes=m), 1.1, at,
                    660.0, 600.0, 580.0, 600.0, "over target", '[{"asset": "ess"}]')
        for event, m in (("escalated", 9), ("raised", 3))
    ]  # fmt: skip
    assert store.write_alerts(alerts) == 2
    store.write_alerts([AlertRecord("other", "x", "peak", "raised", at, None, None, None, None,
                                    None, None, "", "[]")])  # fmt: skip
    timeline = store.read_alerts("park")
    assert list(timeline.columns) == list(ALERT_COLUMNS)
    assert timeline["event"].tolist() == ["raised", "escalated"]
    assert pd.Timestamp(timeline["alert_at"].iloc[0]) == T0 + pd.Timedelta(minutes=3)
    assert timeline["projected_kw"].tolist() == [660.0, 660.0]
    assert len(store.read_alerts()) == 3


def test_control_timeline_survives_reopening(store_url: str) -> None:
    with open_store(store_url) as first:
        first.write_setpoints([_setpoint("ess", 0, 0, 10.0)])
    with open_store(store_url) as second:
        assert second.latest_setpoint_end("park", "ess") == T0 + pd.Timedelta(minutes=15)
        assert second.write_setpoints([_setpoint("ess", 1, 0, 20.0)]) == 1
        assert len(second.read_setpoints()) == 2


# -- demand-response events -------------------------------------------------------------


def _event(
    site: str, event_id: str, start_h: int, target: float | None, seen: int = 0
) -> DrEventRecord:
    at = T0.to_pydatetime()
    return DrEventRecord(
        site_id=site,
        event_id=event_id,
        start_at=at + pd.Timedelta(hours=start_h),
        end_at=at + pd.Timedelta(hours=start_h + 2),
        target_kw=target,
        signal="LOAD_DISPATCH/setpoint",
        opted_in=target is not None,
        reason="" if target is not None else "no target",
        received_at=at + pd.Timedelta(minutes=seen),
    )


def test_dr_events_read_empty_before_any_write(store: Store) -> None:
    assert store.read_dr_events() == [] and store.read_dr_events("park") == []
    assert store.write_dr_events([]) == 0


def test_dr_events_are_kept_once_per_id_newest_start_first(store: Store) -> None:
    assert (
        store.write_dr_events([_event("park", "e1", 14, 500.0), _event("park", "e2", 38, None)])
        == 2
    )
    store.write_dr_events([_event("other", "e1", 10, 100.0)])
    # the VEN re-sends e1 with a new target: the row is replaced, not duplicated
    assert store.write_dr_events([_event("park", "e1", 14, 450.0, seen=5)]) == 1
    park = store.read_dr_events("park")
    assert [(e.event_id, e.target_kw, e.opted_in) for e in park] == [
        ("e2", None, False),
        ("e1", 450.0, True),
    ]
    assert park[1] == _event("park", "e1", 14, 450.0, seen=5)
    assert str(park[1].start_at.tzinfo) == "UTC"
    assert len(store.read_dr_events()) == 3


# -- EV charging sessions ----------------------------------------------------------------


def _session(site: str, sid: str, start_min: int, **kw: object) -> EvSessionRecord:
    at = T0.to_pydatetime()
    fields: dict[str, object] = {
        "site_id": site,
        "session_id": sid,
        "started_at": at + pd.Timedelta(minutes=start_min),
        "asset": "hub",
        "cp_id": sid.split(".")[0],
        "connector": 1,
        "transaction_id": "7",
        "id_tag": "TAG1",
        "vehicle": "van1",
        "ended_at": None,
        "departure": at + pd.Timedelta(hours=8),
        "needed_kwh": 40.0,
        "capacity_kwh": 60.0,
        "delivered_kwh": 0.0,
        "power_kw": 0.0,
        "charger_kw": 22.0,
        "soc_pct": None,
        "updated_at": at + pd.Timedelta(minutes=start_min),
        **kw,
    }
    return EvSessionRecord(**fields)  # type: ignore[arg-type]


def test_ev_sessions_read_empty_before_any_write(store: Store) -> None:
    assert store.read_ev_sessions() == [] and store.read_ev_sessions("park", at=T0) == []
    assert store.write_ev_sessions([]) == 0


def test_ev_sessions_are_rewritten_as_they_go_and_read_by_time(store: Store) -> None:
    first = _session("park", "cp1.1", 0)
    later = _session("park", "cp2.1", 30, vehicle=None, departure=None, needed_kwh=None)
    assert store.write_ev_sessions([first, later, _session("other", "cp1.1", 0)]) == 3
    # the session goes on, then ends: its row is rewritten, not duplicated
    at = T0.to_pydatetime()
    two = at + pd.Timedelta(hours=2)
    done = _session("park", "cp1.1", 0, delivered_kwh=12.5, power_kw=11.0, soc_pct=55.0,
                    ended_at=two, updated_at=two)  # fmt: skip
    assert store.write_ev_sessions([done]) == 1
    # the same connector, a new transaction: a new row
    again = _session("park", "cp1.1", 180, transaction_id="8")
    store.write_ev_sessions([again])
    park = store.read_ev_sessions("park")
    assert [(s.session_id, s.transaction_id) for s in park] == [
        ("cp1.1", "7"), ("cp2.1", "7"), ("cp1.1", "8")
    ]  # fmt: skip
    assert park[0] == done and park[1] == later and park[1].departure is None
    assert str(park[0].ended_at.tzinfo) == "UTC"  # type: ignore[union-attr]
    plugged = store.read_ev_sessions("park", at=T0 + pd.Timedelta(hours=1))
    assert [s.session_id for s in plugged] == ["cp1.1", "cp2.1"]
    plugged = store.read_ev_sessions("park", at=T0 + pd.Timedelta(hours=2))  # cp1.1 ended
    assert [s.session_id for s in plugged] == ["cp2.1"]
    assert len(store.read_ev_sessions()) == 4
