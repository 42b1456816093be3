"""The alert and plan timeline: in memory, or in the store next to the readings.

:class:`StoreJournal` adds two tables to a SQL store (DuckDB or PostgreSQL) with
``CREATE TABLE IF NOT EXISTS`` through the store's own connection hooks, so the store's schema
and migrations are untouched (the tables are additive and owned by this module):

- ``control_alerts(site_id, point, kind, event, alert_at, level, window_start, projected_kw,
  target_kw, month_peak_kw, billing_kw, message, actions)``: every alert event;
- ``control_setpoints(site_id, issued_at, asset, kind, power_kw, valid_from, valid_until, mode,
  reason)``: every setpoint published (the plan as executed).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Protocol

import pandas as pd

from bitgaram.control.setpoints import Setpoint
from bitgaram.errors import StoreError
from bitgaram.peak.alerts import Alert
from bitgaram.store.base import Store
from bitgaram.store.sql import SqlStore

_ALERT_COLUMNS = (
    "site_id",
    "point",
    "kind",
    "event",
    "alert_at",
    "level",
    "window_start",
    "projected_kw",
    "target_kw",
    "month_peak_kw",
    "billing_kw",
    "message",
    "actions",
)
_SETPOINT_COLUMNS = (
    "site_id",
    "issued_at",
    "asset",
    "kind",
    "power_kw",
    "valid_from",
    "valid_until",
    "mode",
    "reason",
)
_DDL = (
    "CREATE TABLE IF NOT EXISTS control_alerts (site_id VARCHAR NOT NULL, point VARCHAR NOT NULL,"
    " kind VARCHAR NOT NULL, event VARCHAR NOT NULL, alert_at TIMESTAMPTZ NOT NULL,"
    " level DOUBLE PRECISION, window_start TIMESTAMPTZ, projected_kw DOUBLE PRECISION,"
    " target_kw DOUBLE PRECISION, month_peak_kw DOUBLE PRECISION, billing_kw DOUBLE PRECISION,"
    " message VARCHAR, actions VARCHAR)",
    "CREATE TABLE IF NOT EXISTS control_setpoints (site_id VARCHAR NOT NULL,"
    " issued_at TIMESTAMPTZ NOT NULL, asset VARCHAR NOT NULL, kind VARCHAR NOT NULL,"
    " power_kw DOUBLE PRECISION NOT NULL, valid_from TIMESTAMPTZ NOT NULL,"
    " valid_until TIMESTAMPTZ NOT NULL, mode VARCHAR NOT NULL, reason VARCHAR)",
)


def _alert_row(alert: Alert) -> tuple[object, ...]:
    ws = None if alert.window_start is None else alert.window_start.to_pydatetime()
    return (
        alert.site_id,
        alert.point,
        str(alert.kind),
        str(alert.event),
        alert.at.to_pydatetime(),
        alert.level,
        ws,
        alert.projected_kw,
        alert.target_kw,
        alert.month_peak_kw,
        alert.billing_kw,
        alert.message,
        json.dumps(list(alert.actions)),
    )


def _setpoint_row(site_id: str, issued_at: pd.Timestamp, s: Setpoint) -> tuple[object, ...]:
    return (
        site_id,
        issued_at.to_pydatetime(),
        s.asset,
        s.kind,
        float(s.power_kw),
        s.valid_from.to_pydatetime(),
        s.valid_until.to_pydatetime(),
        str(s.mode),
        s.reason,
    )


class Journal(Protocol):
    """Where the loop keeps its timeline."""

    def record_alert(self, alert: Alert) -> None:
        """Keep one alert event."""
        ...

    def record_setpoints(
        self, site_id: str, issued_at: pd.Timestamp, setpoints: Sequence[Setpoint]
    ) -> None:
        """Keep the setpoints issued at ``issued_at``."""
        ...


class MemoryJournal:
    """A journal in lists (tests, replays without a store)."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self.setpoints: list[tuple[pd.Timestamp, Setpoint]] = []
        self._lock = threading.Lock()

    def record_alert(self, alert: Alert) -> None:
        """Keep one alert event."""
        with self._lock:
            self.alerts.append(alert)

    def record_setpoints(
        self, site_id: str, issued_at: pd.Timestamp, setpoints: Sequence[Setpoint]
    ) -> None:
        """Keep the setpoints issued at ``issued_at``."""
        with self._lock:
            self.setpoints += [(issued_at, s) for s in setpoints]


class StoreJournal:
    """A journal in the store's ``control_alerts`` and ``control_setpoints`` tables.

    Raises
    ------
    StoreError
        If the store is not a SQL store or the tables cannot be created.
    """

    def __init__(self, store: Store) -> None:
        if not isinstance(store, SqlStore):
            raise StoreError(f"{store!r}: the control journal needs a SQL store (DuckDB, Postgres)")
        self.store = store
        with store._lock:
            for ddl in _DDL:
                store._exec(ddl)

    def _insert(self, table: str, columns: Sequence[str], rows: list[tuple[object, ...]]) -> None:
        if not rows:
            return
        p = self.store._param
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([p] * len(columns))})"
        with self.store._lock, self.store._transaction():
            for row in rows:
                self.store._exec(sql, row)

    def record_alert(self, alert: Alert) -> None:
        """Keep one alert event."""
        self._insert("control_alerts", _ALERT_COLUMNS, [_alert_row(alert)])

    def record_setpoints(
        self, site_id: str, issued_at: pd.Timestamp, setpoints: Sequence[Setpoint]
    ) -> None:
        """Keep the setpoints issued at ``issued_at``."""
        rows = [_setpoint_row(site_id, issued_at, s) for s in setpoints]
        self._insert("control_setpoints", _SETPOINT_COLUMNS, rows)

    def read_alerts(self, site_id: str | None = None) -> pd.DataFrame:
        """The alert timeline, oldest first."""
        where, params = ("WHERE site_id = " + self.store._param, [site_id]) if site_id else ("", [])
        cols = ", ".join(_ALERT_COLUMNS)
        with self.store._lock:
            rows = self.store._fetch(
                f"SELECT {cols} FROM control_alerts {where} ORDER BY alert_at", params
            )
        return pd.DataFrame(rows, columns=list(_ALERT_COLUMNS))

    def read_setpoints(self, site_id: str | None = None) -> pd.DataFrame:
        """The setpoint timeline, oldest first."""
        where, params = ("WHERE site_id = " + self.store._param, [site_id]) if site_id else ("", [])
        cols = ", ".join(_SETPOINT_COLUMNS)
        with self.store._lock:
            rows = self.store._fetch(
                f"SELECT {cols} FROM control_setpoints {where} ORDER BY issued_at, asset", params
            )
        return pd.DataFrame(rows, columns=list(_SETPOINT_COLUMNS))
