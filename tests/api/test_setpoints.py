"""Assets, setpoints and the schedule: tenant-scoped, paginated, filtered by period."""

from __future__ import annotations

from dataclasses import replace

import pytest
from api_park import ApiPark
from fastapi.testclient import TestClient

from bitgaram.api import Settings, create_app
from bitgaram.api.app import token_store_for
from bitgaram.api.testing import populate, synthetic_park
from bitgaram.store import open_store

#: One day of 15-minute ticks, plus a peak override every eighth tick.
PLAN, PEAKS = 96, 12


def test_tenant_sees_only_its_own_assets(api_park: ApiPark) -> None:
    own = api_park.client("acme").get("/api/v1/assets").json()
    assert [a["id"] for a in own["items"]] == ["acme-ess"]
    everything = api_park.client("operator").get("/api/v1/assets").json()
    assert {a["id"] for a in everything["items"]} == {"park-ess", "acme-ess", "borealis-ess"}


@pytest.mark.parametrize("asset", ["borealis-ess", "park-ess", "no-such-asset"])
@pytest.mark.parametrize("view", ["", "/setpoints", "/schedule"])
def test_other_assets_answer_404_without_data(api_park: ApiPark, asset: str, view: str) -> None:
    response = api_park.client("acme-viewer").get(f"/api/v1/assets/{asset}{view}")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": f"no asset {asset!r}"}


def test_setpoints_are_every_issue_and_the_schedule_the_last_per_interval(
    api_park: ApiPark,
) -> None:
    client = api_park.client("acme")
    journal = client.get("/api/v1/assets/acme-ess/setpoints", params={"limit": 1000}).json()
    schedule = client.get("/api/v1/assets/acme-ess/schedule", params={"limit": 1000}).json()
    assert journal["total"] == len(journal["items"]) == PLAN + PEAKS
    assert schedule["total"] == len(schedule["items"]) == PLAN
    assert {s["asset"] for s in journal["items"]} == {"acme-ess"}
    starts = [s["valid_from"] for s in schedule["items"]]
    assert starts == sorted(set(starts))
    # the peak action issued a minute after the plan wins its interval
    peaks = [s for s in schedule["items"] if s["mode"] == "peak"]
    assert len(peaks) == PEAKS
    assert all(s["power_kw"] <= 0 for s in peaks)
    overridden = {s["valid_from"] for s in peaks}
    plans = [s for s in journal["items"] if s["mode"] == "mpc" and s["valid_from"] in overridden]
    assert len(plans) == PEAKS


def test_setpoints_are_paginated_and_filtered_by_period(api_park: ApiPark) -> None:
    client = api_park.client("acme")
    url = "/api/v1/assets/acme-ess/schedule"
    whole = client.get(url, params={"limit": 1000}).json()["items"]
    page = client.get(url, params={"limit": 10, "offset": 20}).json()
    assert page["total"] == PLAN
    assert page["items"] == whole[20:30]
    # validity overlapping [start, end): 20-minute setpoints every 15 minutes
    start, end = whole[40]["valid_from"], whole[44]["valid_from"]
    hour = client.get(url, params={"start": start, "end": end}).json()
    assert [s["valid_from"] for s in hour["items"]] == [s["valid_from"] for s in whole[39:44]]
    empty = client.get(url, params={"start": "2020-01-01", "end": "2020-01-02"}).json()
    assert empty == {"items": [], "total": 0, "limit": 100, "offset": 0}
    bad = client.get(url, params={"start": end, "end": start})
    assert bad.status_code == 422
    assert bad.json()["error"] == "data"


def test_no_journal_means_no_setpoints() -> None:
    store = open_store(":memory:")
    try:
        tokens = token_store_for(store, Settings())
        park = synthetic_park(n_tenants=2, days=2)
        token = populate(store, tokens, replace(park, setpoints=[]))
        client = TestClient(create_app(Settings(), store, tokens))
        client.headers["Authorization"] = f"Bearer {token['operator']}"
        for view in ("setpoints", "schedule"):
            body = client.get(f"/api/v1/assets/park-ess/{view}").json()
            assert body == {"items": [], "total": 0, "limit": 100, "offset": 0}
    finally:
        store.close()
