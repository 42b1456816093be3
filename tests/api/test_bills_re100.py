"""Monthly bills and RE100 progress endpoints, checked against the libraries they wrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from api_park import ApiPark
from fastapi.testclient import TestClient

from bitgaram.account.re100 import re_share


def _tenant_series(api_park: ApiPark, tenant: str) -> tuple[pd.Series, pd.Series]:
    raw = api_park.park.readings
    load = raw[raw["meter_id"] == f"{tenant}-load"].set_index("ts")["value"]
    pv = raw[raw["meter_id"] == f"{tenant}-pv"].set_index("ts")["value"]
    return load, pv.reindex(load.index).fillna(0.0)


def test_bills_price_the_grid_import(api_park: ApiPark, operator: TestClient) -> None:
    body = operator.get("/api/v1/tenants/acme/bills", params={"months": 1}).json()
    months = [b["month"] for b in body["items"]]
    # data ends 2025-06-01 00:00 UTC = 09:00 in Seoul: a short June follows May
    assert months == ["2025-05", "2025-06"]
    load, pv = _tenant_series(api_park, "acme")
    imports = (load - pv).clip(lower=0)
    in_month = imports[imports.index.tz_convert("Asia/Seoul").strftime("%Y-%m") == "2025-05"]
    may = body["items"][0]
    assert may["energy_kwh"] == pytest.approx(in_month.sum(), rel=1e-9)
    assert may["currency"] == "KRW" and may["option"] == "II"
    assert may["total"] == pytest.approx(may["subtotal"] + may["fund"] + may["vat"], abs=10)
    assert sum(line["amount"] for line in may["lines"]) == pytest.approx(may["subtotal"], abs=1)


def test_tenant_cannot_read_other_bills(api_park: ApiPark) -> None:
    response = api_park.client("acme").get("/api/v1/tenants/borealis/bills")
    assert response.status_code == 404


def test_re100_counts_own_pv_year_to_date(api_park: ApiPark, operator: TestClient) -> None:
    body = operator.get("/api/v1/tenants/acme/re100").json()
    load, pv = _tenant_series(api_park, "acme")
    assert body["consumption_kwh"] == pytest.approx(load.sum(), rel=1e-9)
    assert body["renewable_kwh"] == pytest.approx(pv.sum(), rel=1e-9)
    assert body["re_share"] == pytest.approx(re_share(pv.sum(), load.sum()))
    assert body["target_year"] == 2030 and body["year"] == 2025
    assert body["years_left"] == 5 and not body["met"]
    assert body["required_pp_per_year"] == pytest.approx((1 - body["re_share"]) * 100 / 5)


def test_re100_without_pv_is_zero_share(operator: TestClient) -> None:
    body = operator.get("/api/v1/tenants/borealis/re100").json()
    assert body["renewable_kwh"] == 0 and body["re_share"] == 0
    assert body["target_year"] == 2035
    assert np.isclose(body["gap_kwh"], body["consumption_kwh"])
