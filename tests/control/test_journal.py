"""The alert and setpoint timeline in both store backends; safe-setpoint invariants."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitgaram.control.journal import StoreJournal
from bitgaram.control.safe import job_must_run, safe_setpoints
from bitgaram.control.setpoints import Mode, Setpoint
from bitgaram.control.state import EVSession, JobItem, ParkSnapshot
from bitgaram.peak.alerts import Alert, AlertEvent, AlertKind
from bitgaram.store import open_store

T0 = pd.Timestamp("2026-08-04 05:00", tz="UTC")


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store of each backend (PostgreSQL in a throw-away schema)."""
    if request.param == "duckdb":
        yield str(tmp_path / "j.duckdb")
        return
    server: str = request.getfixturevalue("postgres_server")
    try:
        psycopg.connect(server, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"PostgreSQL refuses connections: {exc}; CI=true requires it")
        pytest.skip(f"PostgreSQL refuses connections: {exc}")
    schema = "bg_test_" + uuid.uuid4().hex[:12]
    yield f"{server}?schema={schema}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE".encode())


def test_journal_round_trip_and_reopen(store_url: str) -> None:
    alert = Alert(
        "s",
        "park",
        AlertKind.PEAK,
        AlertEvent.RAISED,
        T0 + pd.Timedelta(minutes=7),
        1.0,
        T0,
        640.0,
        600.0,
        580.0,
        600.0,
        "over",
        ({"asset": "ess"},),
    )
    sp = Setpoint("ess", "battery", -150.0, T0, T0 + pd.Timedelta(minutes=20), Mode.PEAK, "x")
    with open_store(store_url) as store:
        journal = StoreJournal(store)
        journal.record_alert(alert)
        journal.record_setpoints("s", T0, [sp])
    with open_store(store_url) as store:  # the tables persist, creating them again is a no-op
        journal = StoreJournal(store)
        alerts = journal.read_alerts("s")
        plans = journal.read_setpoints()
    assert len(alerts) == 1 and len(plans) == 1
    row = alerts.iloc[0]
    assert (row["point"], row["kind"], row["event"]) == ("park", "peak", "raised")
    assert pd.Timestamp(row["alert_at"]) == alert.at
    assert pd.Timestamp(row["window_start"]) == T0
    assert row["projected_kw"] == pytest.approx(640.0)
    assert '"ess"' in row["actions"]
    p = plans.iloc[0]
    assert (p["asset"], p["mode"], p["power_kw"]) == ("ess", "peak", -150.0)
    assert pd.Timestamp(p["valid_until"]) == T0 + pd.Timedelta(minutes=20)


@given(
    stored=st.floats(0, 50),
    need=st.floats(0, 60),
    hours=st.floats(0.5, 12),
)
def test_safe_ev_rate_still_meets_departure(stored: float, need: float, hours: float) -> None:
    """Charging at the safe rate until departure delivers the required energy when possible."""
    cap = 100.0
    required = min(stored + need, cap)
    ev = EVSession("v", stored, required, cap, T0 + pd.Timedelta(hours=hours), 11.0)
    kw = ev.min_rate_kw(T0)
    assert 0.0 <= kw <= 11.0
    delivered = stored + kw * hours * ev.efficiency
    reachable = stored + 11.0 * hours * ev.efficiency
    assert delivered >= min(required, reachable) - 1e-6


def test_safe_setpoints_idle_the_ess_and_run_only_jobs_that_must() -> None:
    late = JobItem("late", 80.0, 4, T0, T0 + pd.Timedelta(hours=1))  # no laxity left
    early = JobItem("early", 50.0, 2, T0, T0 + pd.Timedelta(hours=6))
    snap = ParkSnapshot(T0, 500.0, None, 100.0, (), (late, early))
    sps = {s.asset: s for s in safe_setpoints(snap, ("ess",), 900.0, "stale")}
    assert sps["ess"].power_kw == 0.0 and sps["ess"].mode == Mode.SAFE
    assert sps["late"].power_kw == 80.0 and sps["early"].power_kw == 0.0
    assert job_must_run(late, T0, 900.0) and not job_must_run(early, T0, 900.0)
    assert all(s.valid_until > s.valid_from for s in sps.values())
