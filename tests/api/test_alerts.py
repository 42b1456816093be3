"""Alerts: demand over target, data gaps and quarantine, each within the caller's scope."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from api_park import ApiPark
from fastapi.testclient import TestClient

from bitgaram.api import Settings, create_app
from bitgaram.api.app import token_store_for
from bitgaram.api.testing import populate, synthetic_park
from bitgaram.store import open_store


@pytest.fixture(scope="module")
def gappy() -> Iterator[tuple[TestClient, dict[str, str]]]:
    """Three tenants; borealis-load stops 2 h early; one conflicting acme reading quarantined."""
    store = open_store(":memory:")
    tokens = token_store_for(store, Settings())
    park = synthetic_park(n_tenants=3, days=2)
    end = park.readings["ts"].max()
    cut = (park.readings["meter_id"] == "borealis-load") & (
        park.readings["ts"] > end - pd.Timedelta(hours=2)
    )
    token = populate(store, tokens, park.__class__(park.site, park.readings[~cut], park.forecasts))
    first = park.readings[park.readings["meter_id"] == "acme-load"].iloc[:1].copy()
    first["value"] += 1.0
    store.write_readings(first, source="test")  # same key, other value: quarantined
    yield TestClient(create_app(Settings(), store, tokens)), token
    store.close()


def _alerts(client: TestClient, token: str) -> list[dict[str, object]]:
    response = client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_gap_and_quarantine_are_reported(gappy: tuple[TestClient, dict[str, str]]) -> None:
    client, token = gappy
    alerts = _alerts(client, token["operator"])
    gaps = [a for a in alerts if a["kind"] == "data_gap"]
    assert [a["meter_id"] for a in gaps] == ["borealis-load"]
    quarantine = [a for a in alerts if a["kind"] == "quarantine"]
    assert [(a["meter_id"], a["value"]) for a in quarantine] == [("acme-load", 1.0)]


def test_tenants_see_only_their_alerts(gappy: tuple[TestClient, dict[str, str]]) -> None:
    client, token = gappy
    acme = _alerts(client, token["acme"])
    assert {a["meter_id"] for a in acme} == {"acme-load"}
    assert all(a["kind"] != "demand_over_target" for a in acme)
    borealis = _alerts(client, token["borealis"])
    assert [a["kind"] for a in borealis] == ["data_gap"]
    assert "acme" not in str(borealis)


def test_demand_over_target_matches_overview(api_park: ApiPark, operator: TestClient) -> None:
    alerts = operator.get("/api/v1/alerts").json()["items"]
    overview = operator.get("/api/v1/park/overview", params={"hours": 24}).json()
    net = np.array(
        next(s["values"] for s in overview["chart"]["series"] if s["name"] == "net"), dtype=float
    )
    over = int(np.sum(net > overview["demand_target_kw"]))
    found = [a for a in alerts if a["kind"] == "demand_over_target"]
    if over == 0:
        assert found == []
    else:
        assert len(found) == 1 and found[0]["severity"] == "critical"
        assert f"in {over} intervals" in found[0]["message"]
        assert found[0]["value"] == pytest.approx(np.nanmax(net), abs=1e-3)
    assert alerts == sorted(alerts, key=lambda a: a["severity"] != "critical")
