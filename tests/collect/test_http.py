"""HTTP push: POST /api/v1/readings validates, stores and reports per reading."""

from __future__ import annotations

from typing import Any

import pandas as pd
from collect_doubles import FlakyStore, MemoryStore
from fastapi.testclient import TestClient

from bitgaram.collect.http import create_app
from bitgaram.site import Site


def _items(n: int, meter: str = "acme-load") -> list[dict[str, Any]]:
    t0 = pd.Timestamp("2024-05-01T00:00Z")
    return [
        {
            "meter": meter,
            "timestamp": (t0 + pd.Timedelta(minutes=i)).isoformat(),
            "value": i / 2,
            "unit": "kWh",
        }
        for i in range(n)
    ]


def test_batch_is_stored_and_counted(site: Site, memory_store: MemoryStore) -> None:
    with TestClient(create_app(site, memory_store, max_delay=0.01)) as client:
        response = client.post("/api/v1/readings", json=_items(25))
        again = client.post("/api/v1/readings", json={"readings": _items(25)})
    assert response.status_code == 200
    assert response.json() == {"accepted": 25, "quarantined": 0, "rejected": []}
    # Resending is idempotent: accepted again, stored once.
    assert again.json()["accepted"] == 25
    assert memory_store.count_readings() == 25


def test_bad_readings_are_quarantined_with_reasons(site: Site, memory_store: MemoryStore) -> None:
    items: list[Any] = _items(5)
    items += [
        {"meter": "ghost", "timestamp": "2024-05-01T00:00Z", "value": 1, "unit": "kWh"},
        {"meter": "acme-load", "timestamp": "2024-05-01T09:00Z", "value": "x", "unit": "kWh"},
        {"meter": "acme-load", "timestamp": "2024-05-01T09:00Z", "value": 2, "unit": "MWh"},
        {"meter": "acme-load", "timestamp": "2024-05-01T10:00Z", "value": -3, "unit": "kWh"},
        "not an object",
    ]
    with TestClient(create_app(site, memory_store, max_delay=0.01)) as client:
        body = client.post("/api/v1/readings", json=items).json()
    assert body["accepted"] == 5
    assert body["quarantined"] == 5
    by_line = {r["line"]: r["reason"].split(":")[0] for r in body["rejected"]}
    assert by_line == {
        6: "unknown_meter",
        7: "wrong_type",
        8: "bad_unit",
        9: "negative",
        10: "bad_shape",
    }
    assert memory_store.count_readings() == 5
    assert len(memory_store.quarantine) == 5
    assert all(str(q["source"]).startswith("http:") for q in memory_store.quarantine)


def test_malformed_body_is_a_client_error(site: Site, memory_store: MemoryStore) -> None:
    with TestClient(create_app(site, memory_store)) as client:
        json_type = {"Content-Type": "application/json"}
        not_json = client.post("/api/v1/readings", content=b"{oops", headers=json_type)
        not_list = client.post("/api/v1/readings", json={"meter": "acme-load"})
        deep = client.post("/api/v1/readings", content=b"[" * 100_000, headers=json_type)
        deeper = client.post(
            "/api/v1/readings", content=b"[" * 100_000 + b"]" * 100_000, headers=json_type
        )
        as_csv = client.post(
            "/api/v1/readings", content=b"[]", headers={"Content-Type": "text/csv"}
        )
        untyped = client.post("/api/v1/readings", content=b"[]")
    assert not_json.status_code == 400
    assert not_list.status_code == 400
    assert deep.status_code == 400 and deeper.status_code == 400  # issue 19: not a 500
    assert "nested too deeply" in deeper.json()["detail"]
    assert as_csv.status_code == 415 and untyped.status_code == 415
    assert memory_store.calls == 0


def test_request_waits_through_a_store_outage(site: Site) -> None:
    inner = MemoryStore()
    flaky = FlakyStore(inner, failures=2)
    app = create_app(site, flaky, max_delay=0.01, retry_initial=0.01)  # type: ignore[arg-type]
    with TestClient(app) as client:
        response = client.post("/api/v1/readings", json=_items(10))
    assert response.json()["accepted"] == 10
    assert flaky.failed == 2
    assert inner.count_readings() == 10


def test_answers_503_when_the_store_stays_down_and_writes_later(site: Site) -> None:
    import threading

    gate = threading.Event()
    inner = MemoryStore()

    class Down:
        url = "down://"

        def write_readings(self, readings: Any, **kw: Any) -> Any:
            if not gate.is_set():
                raise ConnectionError("database unreachable")
            return inner.write_readings(readings, **kw)

    app = create_app(site, Down(), commit_timeout=0.3, max_delay=0.01, retry_initial=0.02,  # type: ignore[arg-type]
                     retry_max=0.05)  # fmt: skip
    with TestClient(app) as client:
        response = client.post("/api/v1/readings", json=_items(3))
        assert response.status_code == 503
        assert "resend" in response.json()["detail"]
        gate.set()  # the database is back
        later = client.post("/api/v1/readings", json=_items(6)[3:])
    assert later.status_code == 200 and later.json()["accepted"] == 3
    # The batch answered 503 was held, not dropped: it is stored too.
    assert inner.count_readings() == 6
