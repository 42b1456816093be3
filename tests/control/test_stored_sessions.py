"""The planner's EV sessions from the store (``control run --evs-from-store``): only vehicles
plugged in now, with fleet data, a departure ahead and a row the device service keeps fresh."""

from __future__ import annotations

import pandas as pd
import pytest

from bitgaram.control.state import STORED_SESSION_MAX_AGE_S, EVSession, stored_sessions
from bitgaram.store import EvSessionRecord, open_store

NOW = pd.Timestamp("2026-06-10 03:00", tz="UTC")


def _row(sid: str, started_h: float, **kw: object) -> EvSessionRecord:
    fields: dict[str, object] = {
        "site_id": "evpark",
        "session_id": sid,
        "started_at": NOW + pd.Timedelta(hours=started_h),
        "asset": "hub",
        "cp_id": sid.split(".")[0],
        "connector": 1,
        "transaction_id": 1,
        "id_tag": "T",
        "vehicle": "van",
        "ended_at": None,
        "departure": NOW + pd.Timedelta(hours=5),
        "needed_kwh": 30.0,
        "capacity_kwh": 20.0,  # smaller than the need: the planner's capacity is raised to it
        "delivered_kwh": 8.0,
        "power_kw": 11.0,
        "charger_kw": 22.0,
        "soc_pct": None,
        "updated_at": NOW - pd.Timedelta(seconds=30),
        **kw,
    }
    return EvSessionRecord(**fields)  # type: ignore[arg-type]


def test_only_fresh_plugged_in_sessions_with_a_departure_ahead_are_planned() -> None:
    stale = NOW - pd.Timedelta(seconds=STORED_SESSION_MAX_AGE_S + 1)
    with open_store(":memory:") as store:
        store.write_ev_sessions(
            [
                _row("cp1.1", -1),  # planned
                _row("cp2.1", -2, ended_at=NOW - pd.Timedelta(minutes=1)),  # left
                _row("cp3.1", 1),  # not yet arrived
                _row("cp4.1", -1, departure=None, needed_kwh=None),  # no fleet data: safe rate
                _row("cp5.1", -1, updated_at=stale),  # its device service is gone
                _row("cp6.1", -6, departure=NOW - pd.Timedelta(minutes=5)),  # overstaying
                _row("cp7.1", -1, site_id="other"),
            ]
        )
        evs = stored_sessions(store, "evpark")(NOW)
    assert evs == (
        EVSession("cp1.1", 8.0, 30.0, 30.0, NOW + pd.Timedelta(hours=5), 22.0, efficiency=1.0),
    )
    assert evs[0].min_rate_kw(NOW) == pytest.approx((30.0 - 8.0) / 5)
