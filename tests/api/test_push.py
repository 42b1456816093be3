"""``POST /api/v1/readings`` (the collector's router) behind the API's tenant scope."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from bitgaram.api import Settings, create_app
from bitgaram.api.app import token_store_for
from bitgaram.api.testing import populate, synthetic_park
from bitgaram.store import open_store


@pytest.fixture(scope="module")
def push() -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A fresh park and app with its lifespan running (so the batch writer is up)."""
    store = open_store(":memory:")
    settings = Settings()
    tokens = token_store_for(store, settings)
    park = synthetic_park(n_tenants=2, days=1)
    token = populate(store, tokens, park)
    with TestClient(create_app(settings, store, tokens)) as client:
        yield client, token
    store.close()


def _batch(meter: str, value: float) -> list[dict[str, object]]:
    return [
        {"meter": meter, "timestamp": "2025-06-01T00:00:00+00:00", "value": value, "unit": "kWh"},
        {"meter": meter, "timestamp": "2025-06-01T00:15:00+00:00", "value": value, "unit": "kWh"},
    ]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_operator_pushes_and_reads_back(push: tuple[TestClient, dict[str, str]]) -> None:
    client, token = push
    response = client.post(
        "/api/v1/readings", json=_batch("borealis-load", 12.5), headers=_auth(token["operator"])
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2
    back = client.get(
        "/api/v1/meters/borealis-load/readings",
        params={"start": "2025-06-01T00:00:00Z", "end": "2025-06-01T01:00:00Z"},
        headers=_auth(token["operator"]),
    ).json()
    assert [i["value"] for i in back["items"]] == [12.5, 12.5]


def test_tenant_pushes_only_to_own_meters(push: tuple[TestClient, dict[str, str]]) -> None:
    client, token = push
    own = client.post(
        "/api/v1/readings", json=_batch("acme-load", 3.0), headers=_auth(token["acme"])
    )
    assert own.status_code == 200 and own.json()["accepted"] == 2
    mixed = _batch("acme-load", 4.0) + _batch("borealis-load", 4.0)
    other = client.post("/api/v1/readings", json=mixed, headers=_auth(token["acme"]))
    assert other.status_code == 403 and other.json()["error"] == "forbidden"
    wrapped = client.post(
        "/api/v1/readings",
        json={"readings": _batch("borealis-load", 5.0)},
        headers=_auth(token["acme"]),
    )
    assert wrapped.status_code == 403


def test_viewers_cannot_push(push: tuple[TestClient, dict[str, str]]) -> None:
    client, token = push
    for user in ("viewer", "acme-viewer"):
        response = client.post(
            "/api/v1/readings", json=_batch("acme-load", 1.0), headers=_auth(token[user])
        )
        assert response.status_code == 403


def test_push_needs_a_token(push: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = push
    assert client.post("/api/v1/readings", json=_batch("acme-load", 1.0)).status_code == 401
