"""Endpoint behaviour: pagination, periods, resampling, errors as JSON, values against the store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from api_park import ApiPark
from fastapi.testclient import TestClient

from bitgaram.api.core.config import MAX_PAGE_SIZE
from bitgaram.api.errors import STATUS_BY_ERROR, status_for
from bitgaram.errors import BitgaramError, ConfigError, DataError, StoreError


def test_openapi_docs_are_served(operator: TestClient) -> None:
    assert operator.get("/docs").status_code == 200
    schema = operator.get("/openapi.json").json()
    assert "/api/v1/meters/{meter_id}/readings" in schema["paths"]
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


@pytest.mark.parametrize("limit", [0, -1, MAX_PAGE_SIZE + 1])
def test_limit_is_bounded(operator: TestClient, limit: int) -> None:
    response = operator.get("/api/v1/tenants", params={"limit": limit})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation" and "limit" in body["message"]


def test_pages_cover_the_list_without_overlap(operator: TestClient) -> None:
    ids = []
    for offset in range(0, 6, 4):
        page = operator.get("/api/v1/tenants", params={"limit": 4, "offset": offset}).json()
        assert page["total"] == 6 and page["limit"] == 4 and page["offset"] == offset
        ids += [t["id"] for t in page["items"]]
    assert len(ids) == len(set(ids)) == 6


def test_readings_default_to_last_week_of_data(api_park: ApiPark, operator: TestClient) -> None:
    body = operator.get("/api/v1/meters/acme-load/readings", params={"limit": MAX_PAGE_SIZE}).json()
    assert body["total"] == 7 * 96
    last = pd.Timestamp(body["items"][-1]["ts"])
    assert last == api_park.park.readings["ts"].max()


def test_hourly_readings_sum_energy(api_park: ApiPark, operator: TestClient) -> None:
    params = {"start": "2025-05-30T00:00:00Z", "end": "2025-05-30T06:00:00Z", "resolution": "1h"}
    body = operator.get("/api/v1/meters/acme-load/readings", params=params).json()
    raw = api_park.park.readings
    raw = raw[(raw["meter_id"] == "acme-load")]
    raw = raw[(raw["ts"] >= "2025-05-30T00:00Z") & (raw["ts"] < "2025-05-30T06:00Z")]
    expected = raw.groupby(raw["ts"].dt.floor("1h"))["value"].sum().to_numpy()
    got = np.array([item["value"] for item in body["items"]])
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_naive_query_time_is_utc(operator: TestClient) -> None:
    aware = operator.get(
        "/api/v1/meters/acme-load/readings",
        params={"start": "2025-05-30T00:00:00Z", "end": "2025-05-30T01:00:00Z"},
    ).json()
    naive = operator.get(
        "/api/v1/meters/acme-load/readings",
        params={"start": "2025-05-30T00:00:00", "end": "2025-05-30T01:00:00"},
    ).json()
    assert aware == naive and aware["total"] == 4


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"start": "2025-05-30T00:00:00Z", "end": "2025-05-29T00:00:00Z"}, "before"),
        ({"start": "2020-01-01T00:00:00Z", "end": "2025-05-29T00:00:00Z"}, "longer than"),
        ({"start": "9999-12-31T00:00:00Z"}, "out of range"),
        ({"end": "0001-01-02T00:00:00Z"}, "out of range"),
    ],
)
def test_bad_periods_are_explained(
    operator: TestClient, params: dict[str, str], fragment: str
) -> None:
    response = operator.get("/api/v1/meters/acme-load/readings", params=params)
    assert response.status_code == 422
    assert response.json()["error"] == "data" and fragment in response.json()["message"]


def test_tenant_energy_matches_store_totals(api_park: ApiPark, operator: TestClient) -> None:
    body = operator.get(
        "/api/v1/tenants/cygnus/energy", params={"resolution": "1D", "limit": 100}
    ).json()
    raw = api_park.park.readings
    raw = raw[raw["meter_id"] == "cygnus-load"]
    daily = raw.groupby(raw["ts"].dt.floor("1D"))["value"].sum()
    got = {pd.Timestamp(i["ts"]): i["kwh"] for i in body["items"]}
    for ts, kwh in got.items():
        assert kwh == pytest.approx(daily[ts])
    assert all(i["kw"] == pytest.approx(i["kwh"] / 24) for i in body["items"])


def test_overview_is_consistent(api_park: ApiPark, operator: TestClient) -> None:
    body = operator.get("/api/v1/park/overview", params={"hours": 6}).json()
    series = {s["name"]: np.array(s["values"], dtype=float) for s in body["chart"]["series"]}
    assert len(body["chart"]["ts"]) == 6 * 4
    # no grid meters in the synthetic park: net = load - pv
    np.testing.assert_allclose(series["net"], series["load"] - series["pv"], atol=1e-3)
    assert body["latest_demand_kw"] == pytest.approx(series["net"][-1])
    assert body["demand_target_kw"] == 900
    assert 0 <= body["latest_soc_percent"] <= 100
    raw = api_park.park.readings
    last_ts = raw["ts"].max()
    last_load = raw[(raw["ts"] == last_ts) & raw["meter_id"].str.endswith("-load")]["value"].sum()
    assert series["load"][-1] == pytest.approx(last_load * 4)
    assert [t["tenant_id"] for t in body["tenants"]] == [t.id for t in api_park.park.site.tenants]


def test_tenant_summary_has_forecast_vs_actual(operator: TestClient) -> None:
    body = operator.get("/api/v1/tenants/acme/summary", params={"days": 2}).json()
    assert body["has_forecast"]
    # the synthetic forecast is the actual load times 1.05
    assert body["forecast_mape_percent"] == pytest.approx(5.0, abs=1e-6)
    names = [s["name"] for s in body["chart"]["series"]]
    assert {"load", "pv", "net", "forecast"} <= set(names)
    no_forecast = operator.get("/api/v1/tenants/borealis/summary").json()
    assert not no_forecast["has_forecast"] and no_forecast["forecast_mape_percent"] is None


def test_forecasts_endpoint(operator: TestClient) -> None:
    body = operator.get("/api/v1/meters/acme-load/forecasts", params={"limit": 5}).json()
    assert body["total"] == 96 and len(body["items"]) == 5
    assert body["items"][0]["quantile"] == 0.5 and body["items"][0]["model"] == "synthetic"


def test_unknown_ids_are_json_404(operator: TestClient) -> None:
    for url in ("/api/v1/tenants/nobody", "/api/v1/meters/nothing/readings", "/api/v1/sites/x"):
        response = operator.get(url)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
    assert operator.get("/api/v1/no/such/route").json()["error"] == "http"


def test_status_mapping_picks_most_specific_class() -> None:
    class Custom(StoreError):
        pass

    assert status_for(Custom("x")) == (503, "store_unavailable")
    assert status_for(ConfigError("x"))[0] == 422
    assert status_for(DataError("x"))[0] == 422
    assert status_for(BitgaramError("x")) == (500, "error")
    assert all(issubclass(cls, BitgaramError) for cls in STATUS_BY_ERROR)
