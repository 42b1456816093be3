"""Anonymised benchmarks: percentile maths, minimum group, and nothing about peers leaks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from api_park import ApiPark
from hypothesis import given
from hypothesis import strategies as st

from bitgaram.account.energy import energy_accounts
from bitgaram.api import Settings, create_app
from bitgaram.api.benchmark import (
    INDICATORS,
    TenantIndicators,
    benchmark,
    percentile_rank,
    tenant_indicators,
)
from bitgaram.site import parse_site
from bitgaram.store import open_store

values = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=30)


@given(values, st.data())
def test_percentile_is_bounded_and_monotone(group: list[float], data: st.DataObject) -> None:
    a, b = sorted(data.draw(st.sampled_from(group)) for _ in range(2))
    pa, pb = percentile_rank(group, a), percentile_rank(group, b)
    assert 0.0 <= pa <= pb <= 100.0


def test_percentile_mid_rank() -> None:
    assert percentile_rank([1, 2, 3, 4], 1) == 12.5
    assert percentile_rank([5, 5, 5, 5, 5], 5) == 50.0


def _indicators(
    n: int, sector_of: list[str | None]
) -> tuple[dict[str, TenantIndicators], dict[str, str | None]]:
    ind = {
        f"t{i}": TenantIndicators(f"t{i}", float(i), 0.1 * (i + 1), 0.05 * i, 10.0 * i)
        for i in range(n)
    }
    return ind, {f"t{i}": sector_of[i] for i in range(n)}


def test_small_group_shows_nothing() -> None:
    ind, sectors = _indicators(4, ["a"] * 4)
    result = benchmark("t0", ind, sectors, min_group=5)
    assert all(r.percentile is None and r.reason for r in result.indicators)


def test_sector_used_only_when_large_enough() -> None:
    ind, sectors = _indicators(8, ["a"] * 5 + ["b"] * 3)
    assert benchmark("t0", ind, sectors, min_group=5).group == "sector"
    small = benchmark("t6", ind, sectors, min_group=5)
    assert small.group == "park"
    assert {r.group_size for r in small.indicators} == {8}


def test_indicators_from_accounts() -> None:
    site = parse_site(
        {
            "site": {"id": "p", "name": "P"},
            "tenants": [{"id": "x", "name": "X"}],
            "meters": [
                {"id": "l", "tenant": "x", "kind": "data_centre", "unit": "kWh"},
                {"id": "g", "tenant": "x", "kind": "pv", "unit": "kWh"},
            ],
        }
    )
    ts = pd.date_range("2024-01-01", periods=4, freq="1h", tz="UTC")
    rows = [
        pd.DataFrame({"meter_id": m, "ts": ts, "value": v, "quality": 0})
        for m, v in (("l", [1.0, 2.0, 3.0, 2.0]), ("g", [0.0, 3.0, 1.0, 0.0]))
    ]
    with open_store(":memory:") as store:
        store.save_site(site)
        store.write_readings(pd.concat(rows))
        accounts = energy_accounts(store, site, ts[0], ts[-1] + pd.Timedelta("1h"), park=False)
    out = tenant_indicators({"x": accounts["x"]}, {"x": 4.0})["x"]
    assert out.energy_intensity == pytest.approx(2.0)  # a data centre's kWh are consumption
    assert out.load_factor == pytest.approx(2.0 / 3.0)
    assert out.re_share == pytest.approx(3.0 / 8.0)  # self-consumed only: 2 of the 3 kWh
    assert out.re_share == accounts["x"].re_share
    assert out.peak == pytest.approx(3.0)


def test_api_benchmark_reveals_no_peer(api_park: ApiPark) -> None:
    body = api_park.client("acme").get("/api/v1/tenants/acme/benchmark").json()
    assert body["group"] == "sector" and body["min_group_size"] == 5
    assert {i["name"] for i in body["indicators"]} == set(INDICATORS)
    text = str(body)
    for other in ("borealis", "cygnus", "deltafoods", "ember", "fjord"):
        assert other not in text.lower()
    keys = {k for i in body["indicators"] for k in i}
    assert keys == {"name", "unit", "value", "percentile", "better", "group_size", "reason"}
    # RE share: half of the sector has PV, acme has; percentiles shown (group of 5)
    re = next(i for i in body["indicators"] if i["name"] == "re_share")
    assert re["percentile"] is not None and re["percentile"] > 50


def test_api_benchmark_withholds_below_minimum(api_park: ApiPark) -> None:
    app = create_app(Settings(benchmark_min_group=7), api_park.store, api_park.tokens)
    client = api_park.client("acme")
    client.app = app  # type: ignore[assignment]
    from fastapi.testclient import TestClient

    strict = TestClient(app, headers=dict(client.headers))
    body = strict.get("/api/v1/tenants/acme/benchmark").json()
    assert body["group"] == "park"
    assert all(i["percentile"] is None for i in body["indicators"])
    assert all(i["group_size"] <= 6 for i in body["indicators"])


def test_percentiles_agree_with_manual_ranking(api_park: ApiPark) -> None:
    body = api_park.client("operator").get("/api/v1/tenants/deltafoods/benchmark").json()
    peak = next(i for i in body["indicators"] if i["name"] == "peak")
    # deltafoods is alone in its sector: the whole park (6 tenants) is its group
    assert body["group"] == "park" and peak["group_size"] == 6
    raw = api_park.park.readings
    raw = raw[raw["meter_id"].str.endswith("-load")]
    hourly = raw.groupby(["meter_id", raw["ts"].dt.floor("1h")])["value"].sum()
    peaks = hourly.groupby(level=0).max()
    own = peaks["deltafoods-load"]
    assert peak["value"] == pytest.approx(own)
    assert peak["percentile"] == pytest.approx(percentile_rank(list(peaks.to_numpy()), own))
    assert np.isfinite(peak["percentile"])
