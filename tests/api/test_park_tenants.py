"""``GET /api/v1/park/tenants``: consumption and peak per tenant for any period."""

from __future__ import annotations

import pytest
from api_park import ApiPark


def test_tenant_totals_add_up_to_the_park_for_a_chosen_period(api_park: ApiPark) -> None:
    client = api_park.client("operator")
    period = {"start": "2025-05-25T00:00:00Z", "end": "2025-05-28T00:00:00Z"}
    rows = client.get("/api/v1/park/tenants", params=period).json()
    assert rows["total"] == len(api_park.park.site.tenants)
    park = client.get(
        "/api/v1/park/energy", params={**period, "resolution": "1h", "limit": 10000}
    ).json()
    assert sum(r["energy_kwh"] for r in rows["items"]) == pytest.approx(
        sum(p["kwh"] for p in park["items"]), rel=1e-9
    )
    for row in rows["items"]:
        own = client.get(
            f"/api/v1/tenants/{row['tenant_id']}/energy",
            params={**period, "resolution": "1h", "limit": 10000},
        ).json()
        assert row["energy_kwh"] == pytest.approx(sum(p["kwh"] for p in own["items"]), rel=1e-9)
        assert row["peak_kw"] == pytest.approx(max(p["kw"] for p in own["items"]), rel=1e-9)
    shorter = client.get(
        "/api/v1/park/tenants", params={**period, "end": "2025-05-26T00:00:00Z"}
    ).json()
    assert sum(r["energy_kwh"] for r in shorter["items"]) < sum(
        r["energy_kwh"] for r in rows["items"]
    )


def test_park_tenants_is_for_park_wide_callers_only(api_park: ApiPark) -> None:
    assert api_park.client("acme").get("/api/v1/park/tenants").status_code == 403
    assert api_park.client().get("/api/v1/park/tenants").status_code == 401


def test_park_tenants_rejects_a_reversed_period(api_park: ApiPark) -> None:
    answer = api_park.client("operator").get(
        "/api/v1/park/tenants",
        params={"start": "2025-05-28T00:00:00Z", "end": "2025-05-25T00:00:00Z"},
    )
    assert answer.status_code == 422
    assert "before" in answer.json()["message"]
