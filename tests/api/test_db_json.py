"""The uncached fast path: readings pages written by DuckDB, Arrow reads of the views,
one read for flows and state of charge, and the site reused until a write."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from bitgaram.api import Settings, create_app
from bitgaram.api.app import token_store_for
from bitgaram.api.deps import Page
from bitgaram.api.period import Period
from bitgaram.api.schemas.common import paged_points
from bitgaram.api.series import axis, flows_and_means, flows_kw, forecast_kw, mean_value
from bitgaram.api.testing import populate, synthetic_park
from bitgaram.site.model import MeterKind, Unit
from bitgaram.store.duckdb_store import DuckDBStore

PARK = synthetic_park(n_tenants=3, days=3, seed=3)
START, END = pd.Timestamp("2025-05-30 05:00", tz="UTC"), pd.Timestamp("2025-06-01", tz="UTC")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    with DuckDBStore(tmp_path / "json.duckdb", max_readers=2) as s:
        s.migrate()
        s.save_site(PARK.site)
        s.write_readings(PARK.readings)
        s.write_forecasts(PARK.forecasts)
        yield s


def _python_page(store: DuckDBStore, meter: str, resolution: str, limit: int, offset: int) -> bytes:
    """The page as the Python formatter writes it (the reference)."""
    table = store.read_readings_arrow([meter], START, END, resolution)
    rows = table.slice(offset, limit)
    ts = pd.DatetimeIndex(rows.column("ts").to_pandas())
    values = np.asarray(rows.column("value").to_numpy(zero_copy_only=False), dtype=float)
    return bytes(paged_points(ts, {"value": values}, table.num_rows, Page(limit, offset)).body)


@pytest.mark.parametrize("resolution", ["raw", "15min", "1h", "1D"])
@pytest.mark.parametrize(("limit", "offset"), [(10000, 0), (5, 0), (7, 3), (10, 10**6)])
@pytest.mark.parametrize("meter", ["acme-load", "park-soc", "park-price"])
def test_database_pages_equal_python_pages(
    store: DuckDBStore, meter: str, resolution: str, limit: int, offset: int
) -> None:
    built = store.readings_page_json(meter, START, END, resolution, limit, offset)
    assert built is not None
    total, items = built
    body = f'{{"items":[{items}],"total":{total},"limit":{limit},"offset":{offset}}}'
    assert body.encode() == _python_page(store, meter, resolution, limit, offset)


def test_awkward_values_are_written_as_python_writes_them(store: DuckDBStore) -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [
            [0.0, -0.0, 1.0, 0.1, 1e16, 1e15, 1e-5, 1e-4, 5e-324, 1.7976931348623157e308],
            [-1.5, 123456789.125],
            rng.normal(0, 100, 300),
            10.0 ** rng.uniform(-12, 22, 300) * rng.choice([-1.0, 1.0], 300),
        ]
    )
    ts = pd.date_range("2024-01-01", periods=len(values), freq="15min", tz="UTC")
    store.write_readings(pd.DataFrame({"meter_id": "odd", "ts": ts, "value": values}))
    for limit, offset in [(10000, 0), (50, 5)]:
        built = store.readings_page_json(
            "odd", ts[0], ts[-1] + pd.Timedelta("15min"), "raw", limit, offset
        )
        assert built is not None
        total, items = built
        table = store.read_readings_arrow(["odd"], ts[0], ts[-1] + pd.Timedelta("15min"))
        rows = table.slice(offset, limit)
        expected = paged_points(
            pd.DatetimeIndex(rows.column("ts").to_pandas()),
            {"value": rows.column("value").to_numpy()},
            table.num_rows,
            Page(limit, offset),
        ).body
        body = f'{{"items":[{items}],"total":{total},"limit":{limit},"offset":{offset}}}'
        assert total == len(values) and body.encode() == expected


def test_timestamps_outside_the_usual_years_fall_back_to_python(store: DuckDBStore) -> None:
    old = pd.DataFrame(
        {"meter_id": "old", "ts": [pd.Timestamp("1965-03-01", tz="UTC")], "value": [1.0]}
    )
    store.write_readings(old)
    lo, hi = pd.Timestamp("1960-01-01", tz="UTC"), pd.Timestamp("1970-01-01", tz="UTC")
    assert store.readings_page_json("old", lo, hi, "raw", 10, 0) is None


def test_arrow_views_equal_frame_reads(store: DuckDBStore) -> None:
    frame = store.tenant_totals("load", START, END, "1h")
    table = store.tenant_totals_arrow("load", START, END, "1h")
    assert table.column("tenant_id").to_pylist() == frame["tenant_id"].tolist()
    assert table.column("ts").to_pylist() == frame["ts"].tolist()
    np.testing.assert_array_equal(table.column("value").to_numpy(), frame["value"].to_numpy())
    ids = sorted(set(PARK.forecasts["meter_id"]))
    fc = store.read_forecasts(ids, START, END)
    fa = store.read_forecasts_arrow(ids, START, END)
    assert len(fc) == fa.num_rows > 0
    assert fa.column("ts").to_pylist() == fc["ts"].tolist()
    np.testing.assert_array_equal(fa.column("value").to_numpy(), fc["value"].to_numpy())


def _forecast_kw_by_pandas(
    store: DuckDBStore, ids: list[str], period: Period, step: str, index: pd.DatetimeIndex
) -> np.ndarray | None:
    """forecast_kw's rules written with pandas on the frame read (the reference)."""
    fc = store.read_forecasts(ids, start=period.start, end=period.end)
    if fc.empty or set(fc["meter_id"]) != set(ids):
        return None
    q = pd.to_numeric(fc["quantile"], errors="coerce")
    if (q == 0.5).any():
        fc = fc[q == 0.5]
    elif q.isna().any():
        fc = fc[q.isna()]
    else:
        return None
    ts = pd.DatetimeIndex(fc["ts"]).tz_convert("UTC").floor(step)
    total = fc.groupby(ts)["value"].sum(min_count=1)
    hours = pd.Timedelta(step).total_seconds() / 3600.0
    return total.reindex(index).to_numpy(dtype=float) / hours


@pytest.mark.parametrize("step", ["15min", "1h"])
def test_one_read_for_flows_and_soc_equals_separate_reads(store: DuckDBStore, step: str) -> None:
    meters = list(PARK.site.meters)
    soc = [m for m in meters if m.kind is MeterKind.BATTERY and m.unit is Unit.PERCENT]
    assert soc
    period = Period(START, END)
    index = axis(period, step)
    flows, mean = flows_and_means(store, meters, soc, period, step, index)
    separate = flows_kw(store, meters, period, step, index)
    assert flows.keys() == separate.keys()
    for kind, values in flows.items():
        np.testing.assert_array_equal(values, separate[kind])
    np.testing.assert_array_equal(mean, mean_value(store, soc, period, step, index))
    loads = [m for m in meters if m.kind is MeterKind.LOAD and m.unit is Unit.KWH]
    for chosen in (loads[:1], loads):  # with, then without, a forecast for every meter
        fast = forecast_kw(store, chosen, period, step, index)
        generic = _forecast_kw_by_pandas(store, [m.id for m in chosen], period, step, index)
        if generic is None:
            assert fast is None
        else:
            assert fast is not None and np.isfinite(fast).any()
            np.testing.assert_allclose(fast, generic, rtol=1e-12, equal_nan=True)


def test_site_is_reused_until_a_write_even_without_the_view_cache(tmp_path: Path) -> None:
    path = tmp_path / "site.duckdb"
    store = DuckDBStore(path)
    store.migrate()
    tokens = token_store_for(store, Settings())
    token = populate(store, tokens, synthetic_park(n_tenants=2, days=1, seed=4))
    loads = []
    original = store.load_site

    def counting(site_id: str | None = None):  # type: ignore[no-untyped-def]
        loads.append(site_id)
        return original(site_id)

    store.load_site = counting  # type: ignore[method-assign]
    app = create_app(Settings(view_cache_seconds=0), store, tokens)
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {token['operator']}"}
        loads.clear()  # the app's start-up reads the site once for the collector
        for _ in range(3):
            assert client.get("/api/v1/tenants", headers=headers).status_code == 200
        assert len(loads) == 1
        other = DuckDBStore(path)  # another store object on the same file counts too
        version = store.data_version
        other.save_site(original())
        assert store.data_version == version + 1
        loads.clear()
        assert client.get("/api/v1/tenants", headers=headers).status_code == 200
        assert len(loads) == 1
        other.close()
    store.close()
