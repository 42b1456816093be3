"""DR events and their CBL report over the API, on DuckDB and PostgreSQL: hand-checked figures,
the same rows as :func:`bitgaram.verify.dr.event_report`, tenant isolation, errors."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg
import pytest
from api_park import ApiPark
from fastapi.testclient import TestClient

from bitgaram.api import Settings, create_app
from bitgaram.api.app import token_store_for
from bitgaram.api.auth import Role
from bitgaram.api.testing import DR_EVENT_IDS
from bitgaram.site import parse_site
from bitgaram.store import DrEventRecord, Store, open_store
from bitgaram.verify.cbl import MAX_4_5, MID_6_10
from bitgaram.verify.dr import event_report

TZ = "Asia/Seoul"
#: A Wednesday: Mid(6/10) looks back over ten working days, Max(4/5) over five.
START = pd.Timestamp("2026-06-10 14:00", tz=TZ)
END = pd.Timestamp("2026-06-10 16:00", tz=TZ)
#: Hourly load [kWh] of the two tenants, and what ``a`` sheds in the event.
LOAD_A, LOAD_B, CUT_A = 100.0, 50.0, 30.0
#: The day before the event ``a`` used 20 % more (usual still: below 125 % of the average).
BUSY_DAY, BUSY = pd.Timestamp("2026-06-09").date(), 1.2


def _site_and_readings() -> tuple[object, pd.DataFrame]:
    site = parse_site(
        {
            "site": {"id": "drpark", "name": "DR park", "timezone": TZ},
            "tenants": [{"id": "a", "name": "Alpha"}, {"id": "b", "name": "Bravo"}],
            "meters": [
                {"id": "a-load", "tenant": "a", "kind": "load", "unit": "kWh", "resolution": "1h"},
                {"id": "b-load", "tenant": "b", "kind": "load", "unit": "kWh", "resolution": "1h"},
            ],
        }
    )
    idx = pd.date_range("2026-05-20", "2026-06-11", freq="1h", tz=TZ, inclusive="left")
    in_event = (idx >= START) & (idx < END)
    busy = np.where(idx.date == BUSY_DAY, BUSY, 1.0)
    frames = [
        pd.DataFrame(
            {
                "meter_id": m,
                "ts": idx.tz_convert("UTC"),
                "value": v * scale - cut * in_event,
                "quality": 0,
            }
        )
        for m, v, scale, cut in (("a-load", LOAD_A, busy, CUT_A), ("b-load", LOAD_B, 1.0, 0.0))
    ]
    return site, pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class DrPark:
    """The app's clients per user, and its store."""

    clients: dict[str, TestClient]
    store: Store

    def __getitem__(self, user: str) -> TestClient:
        return self.clients[user]


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def dr_park(request: pytest.FixtureRequest) -> Iterator[DrPark]:
    """A two-tenant site with one stored event, on each backend: a client per user."""
    schema = None
    if request.param == "duckdb":
        url = ":memory:"
    else:
        server: str = request.getfixturevalue("postgres_server")
        schema = "bg_dr_" + uuid.uuid4().hex[:12]
        url = f"{server}?schema={schema}"
    store = open_store(url)
    try:
        site, readings = _site_and_readings()
        store.save_site(site)  # type: ignore[arg-type]
        store.write_readings(readings)
        store.write_dr_events(
            [
                DrEventRecord("drpark", "ev1", START.to_pydatetime(), END.to_pydatetime(), 200.0,
                              "LOAD_CONTROL/x-loadControlCapacity", True, "",
                              START.to_pydatetime() - pd.Timedelta(days=1))
            ]
        )  # fmt: skip
        settings = Settings(login_max_failures=0)
        tokens = token_store_for(store, settings)
        tokens.add_user("op", Role.OPERATOR)
        tokens.add_user("ma", Role.TENANT_MANAGER, "a")
        tokens.add_user("vb", Role.VIEWER, "b")
        app = create_app(settings, store, tokens)
        clients = {}
        for user in ("op", "ma", "vb"):
            c = TestClient(app, raise_server_exceptions=False)
            c.headers["Authorization"] = f"Bearer {tokens.issue_token(user)}"
            clients[user] = c
        yield DrPark(clients, store)
    finally:
        store.close()
        if schema is not None:
            with psycopg.connect(request.getfixturevalue("postgres_server"), autocommit=True) as c:
                c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE".encode())


def _by(rows: list[dict[str, object]]) -> dict[tuple[object, object], dict[str, object]]:
    return {(r["tenant_id"] or "park", r["method"]): r for r in rows}


def test_park_report_is_hand_checked(dr_park: DrPark) -> None:
    events = dr_park["op"].get("/api/v1/park/dr/events").json()
    assert [e["event_id"] for e in events["items"]] == ["ev1"] and events["total"] == 1
    assert events["items"][0]["target_kw"] == 200.0
    r = dr_park["op"].get("/api/v1/park/dr/events/ev1/cbl")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["site_id"] == "drpark" and body["unavailable"] == []
    rows = _by(body["rows"])
    assert len(rows) == 6  # a, b and the park by Mid(6/10) and Max(4/5)
    # Mid(6/10) drops the busy day (one of the two highest); Max(4/5) keeps it among its four
    busy_kw = {"Mid(6/10)": 0.0, "Max(4/5)": (BUSY - 1) * LOAD_A / 4}
    for method, days in (("Mid(6/10)", 10), ("Max(4/5)", 5)):
        a, b, park = rows["a", method], rows["b", method], rows["park", method]
        assert a["days"] == days and park["kind"] == "park" and a["name"] == "Alpha"
        assert a["baseline_kw"] == pytest.approx(LOAD_A + busy_kw[method])
        assert a["baseline_kwh"] == pytest.approx(2 * (LOAD_A + busy_kw[method]))  # 2 h event
        assert a["metered_kwh"] == pytest.approx(2 * (LOAD_A - CUT_A))
        assert a["reduction_kw"] == pytest.approx(CUT_A + busy_kw[method])
        assert b["reduction_kwh"] == pytest.approx(0.0)
        assert park["baseline_kw"] == pytest.approx(LOAD_A + LOAD_B + busy_kw[method])
        assert park["metered_kw"] == pytest.approx(LOAD_A + LOAD_B - CUT_A)
        assert park["reduction_kwh"] == pytest.approx(2 * (CUT_A + busy_kw[method]))


def test_tenant_reads_its_own_rows_only(dr_park: DrPark) -> None:
    ma, vb = dr_park["ma"], dr_park["vb"]
    assert [e["event_id"] for e in ma.get("/api/v1/tenants/a/dr/events").json()["items"]] == ["ev1"]
    mine = ma.get("/api/v1/tenants/a/dr/events/ev1/cbl", params={"method": "max"})
    assert mine.status_code == 200, mine.text
    assert [(r["tenant_id"], r["method"]) for r in mine.json()["rows"]] == [("a", "Max(4/5)")]
    assert "Bravo" not in mine.text and "DR park" not in mine.text  # no park row
    for url in ("/api/v1/tenants/b/dr/events/ev1/cbl", "/api/v1/tenants/b/dr/events"):
        refused = ma.get(url)
        assert refused.status_code == 404 and "Bravo" not in refused.text
    assert ma.get("/api/v1/park/dr/events").status_code == 403
    assert vb.get("/api/v1/park/dr/events/ev1/cbl").status_code == 403
    theirs = vb.get("/api/v1/tenants/b/dr/events/ev1/cbl").json()["rows"]
    assert {r["tenant_id"] for r in theirs} == {"b"}


def test_bad_requests_name_the_problem(dr_park: DrPark) -> None:
    op = dr_park["op"]
    missing = op.get("/api/v1/park/dr/events/nope/cbl")
    assert missing.status_code == 404 and "nope" in missing.json()["message"]
    bad = op.get("/api/v1/park/dr/events/ev1/cbl", params={"method": "median"})
    assert bad.status_code == 422 and "median" in bad.json()["message"]
    high = op.get("/api/v1/park/dr/events/ev1/cbl", params={"method": ["high:3/5", "high:3/5"]})
    assert {r["method"] for r in high.json()["rows"]} == {"High(3/5)"}
    assert len(high.json()["rows"]) == 3  # asked twice, computed once


def test_excluded_days_change_the_baseline_days(dr_park: DrPark) -> None:
    # leaving out the busy day: Max(4/5) goes one working day further back, to a usual one
    r = dr_park["op"].get(
        "/api/v1/park/dr/events/ev1/cbl", params={"method": "max", "exclude": str(BUSY_DAY)}
    )
    assert r.status_code == 200, r.text
    rows = _by(r.json()["rows"])
    assert {row["days"] for row in rows.values()} == {5}
    assert rows["a", "Max(4/5)"]["baseline_kw"] == pytest.approx(LOAD_A)
    assert rows["park", "Max(4/5)"]["reduction_kw"] == pytest.approx(CUT_A)


def test_a_write_is_seen_by_the_next_report(dr_park: DrPark) -> None:
    """The report is cached per event and query, until the store's data changes."""
    if dr_park.store.data_version is None:
        pytest.skip("a backend without a write counter caches by time only (as every view)")
    url = "/api/v1/park/dr/events/ev1/cbl"
    first = _by(dr_park["op"].get(url, params={"method": "max"}).json()["rows"])
    assert _by(dr_park["op"].get(url, params={"method": "max"}).json()["rows"]) == first
    # b sheds 10 kWh in each event hour: its meter corrected after the fact
    ts = pd.date_range(START, END, freq="1h", inclusive="left").tz_convert("UTC")
    fixed = pd.DataFrame({"meter_id": "b-load", "ts": ts, "value": LOAD_B - 10.0, "quality": 0})
    dr_park.store.write_readings(fixed, on_conflict="replace")
    second = _by(dr_park["op"].get(url, params={"method": "max"}).json()["rows"])
    assert first["b", "Max(4/5)"]["reduction_kwh"] == pytest.approx(0.0)
    assert second["b", "Max(4/5)"]["reduction_kwh"] == pytest.approx(20.0)


def test_api_rows_are_event_report_rows(api_park: ApiPark) -> None:
    """The route only formats: the synthetic park's figures equal event_report's."""
    site = api_park.park.site
    event = next(e for e in api_park.park.dr_events if e.event_id == DR_EVENT_IDS[0])
    rep = event_report(
        api_park.store,
        site,
        pd.Timestamp(event.start_at),
        pd.Timestamp(event.end_at),
        [MID_6_10, MAX_4_5],
    )
    body = api_park.client("operator").get(f"/api/v1/park/dr/events/{event.event_id}/cbl").json()
    assert len(body["rows"]) == len(rep.rows) == 2 * (len(site.tenants) + 1)
    for api_row, (_, row) in zip(body["rows"], rep.rows.iterrows(), strict=True):
        tenant = None if row["member"] == "park" else row["member"]
        assert (api_row["tenant_id"], api_row["method"]) == (tenant, row["method"])
        assert api_row["baseline_kwh"] == pytest.approx(row["baseline_kwh"])
        assert api_row["reduction_kw"] == pytest.approx(row["reduction_kw"])


def test_a_method_without_enough_days_is_reported_not_fatal(api_park: ApiPark) -> None:
    # the day-off event of a 10-day park has two earlier days off: Max(4/5) yes, Mid(6/10) no
    r = api_park.client("operator").get(f"/api/v1/park/dr/events/{DR_EVENT_IDS[1]}/cbl")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [u["method"] for u in body["unavailable"]] == ["Mid(6/10)"]
    assert "usable days" in body["unavailable"][0]["reason"]
    assert {row["method"] for row in body["rows"]} == {"Max(4/5)"}
    assert {row["days"] for row in body["rows"]} == {2}
