"""Migration 4: EV session transaction ids become text (OCPP 2.0.1 stations name them)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from bitgaram.config import Settings
from bitgaram.store import EvSessionRecord, open_store

T0 = pd.Timestamp("2026-03-08 09:00", tz="America/Los_Angeles").to_pydatetime()  # DST day

#: ``ev_sessions`` as stores of schema version 3 created it: numeric transaction ids.
_V3_DDL = (
    "CREATE TABLE ev_sessions (site_id VARCHAR NOT NULL, session_id VARCHAR NOT NULL,"
    " started_at TIMESTAMPTZ NOT NULL, asset VARCHAR NOT NULL, cp_id VARCHAR NOT NULL,"
    " connector INTEGER NOT NULL, transaction_id BIGINT NOT NULL, id_tag VARCHAR NOT NULL,"
    " vehicle VARCHAR, ended_at TIMESTAMPTZ, departure TIMESTAMPTZ, needed_kwh DOUBLE PRECISION,"
    " capacity_kwh DOUBLE PRECISION NOT NULL, delivered_kwh DOUBLE PRECISION NOT NULL,"
    " power_kw DOUBLE PRECISION NOT NULL, charger_kw DOUBLE PRECISION NOT NULL,"
    " soc_pct DOUBLE PRECISION, updated_at TIMESTAMPTZ NOT NULL)"
)


def _record(tx: str) -> EvSessionRecord:
    return EvSessionRecord(
        site_id="park", session_id="cp1.1", started_at=T0, asset="hub", cp_id="cp1",
        connector=1, transaction_id=tx, id_tag="TAG", vehicle=None, ended_at=None,
        departure=None, needed_kwh=None, capacity_kwh=60.0, delivered_kwh=1.5, power_kw=7.0,
        charger_kw=22.0, soc_pct=None, updated_at=T0,
    )  # fmt: skip


def test_a_version_3_store_keeps_its_sessions_and_takes_station_ids(store_url: str) -> None:
    with open_store(store_url, Settings()) as store:
        # Put the store back to version 3, with a session of numeric id stored in it.
        store._exec("DROP TABLE IF EXISTS ev_sessions")
        store._exec(_V3_DDL)
        store._exec(
            "INSERT INTO ev_sessions VALUES ('park', 'cp0.1', '2026-03-08 16:00:00+00', 'hub',"
            " 'cp0', 1, 41, 'OLD', NULL, NULL, NULL, NULL, 60, 2.5, 0, 22, NULL,"
            " '2026-03-08 16:05:00+00')"
        )
        store._exec("DELETE FROM schema_version WHERE version = 4")
        assert store.schema_version() == 3
    with open_store(store_url, Settings()) as store:  # opening migrates
        assert store.schema_version() == 4
        (old,) = store.read_ev_sessions("park")
        assert (old.transaction_id, old.id_tag, old.delivered_kwh) == ("41", "OLD", 2.5)
        uuid_id = "0f8c1b2e-6d3a-4c55-9a7e-2b1d3c4e5f60"
        assert store.write_ev_sessions([_record(uuid_id)]) == 1
        ids = {s.session_id: s.transaction_id for s in store.read_ev_sessions("park")}
        assert ids == {"cp0.1": "41", "cp1.1": uuid_id}
        # A later write of the same session (same key) replaces it, id and all.
        store.write_ev_sessions([replace(_record(uuid_id), delivered_kwh=3.0)])
        (again,) = [s for s in store.read_ev_sessions("park") if s.session_id == "cp1.1"]
        assert again.delivered_kwh == 3.0 and again.transaction_id == uuid_id
