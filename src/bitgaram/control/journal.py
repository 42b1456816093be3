"""The alert and plan timeline: in memory, or in the store next to the readings.

:class:`StoreJournal` keeps it in the store's control tables
(:data:`~bitgaram.store.base.ALERT_COLUMNS`: every alert event;
:data:`~bitgaram.store.base.SETPOINT_COLUMNS`: every setpoint published, the
plan as executed), through the :class:`~bitgaram.store.base.Store` protocol.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Protocol

import pandas as pd

from bitgaram.control.setpoints import Setpoint
from bitgaram.peak.alerts import Alert
from bitgaram.store.base import AlertRecord, SetpointRecord, Store


def _alert_record(alert: Alert) -> AlertRecord:
    ws = None if alert.window_start is None else alert.window_start.to_pydatetime()
    return AlertRecord(
        site_id=alert.site_id,
        point=alert.point,
        kind=str(alert.kind),
        event=str(alert.event),
        alert_at=alert.at.to_pydatetime(),
        level=alert.level,
        window_start=ws,
        projected_kw=alert.projected_kw,
        target_kw=alert.target_kw,
        month_peak_kw=alert.month_peak_kw,
        billing_kw=alert.billing_kw,
        message=alert.message,
        actions=json.dumps(list(alert.actions)),
    )


def _setpoint_record(site_id: str, issued_at: pd.Timestamp, s: Setpoint) -> SetpointRecord:
    return SetpointRecord(
        site_id=site_id,
        issued_at=issued_at.to_pydatetime(),
        asset=s.asset,
        kind=s.kind,
        power_kw=float(s.power_kw),
        valid_from=s.valid_from.to_pydatetime(),
        valid_until=s.valid_until.to_pydatetime(),
        mode=str(s.mode),
        reason=s.reason,
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
    """A journal in the store's control tables (alerts and setpoints).

    Parameters
    ----------
    store : Store
        Any backend; the tables are created on the first write.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def record_alert(self, alert: Alert) -> None:
        """Keep one alert event."""
        self.store.write_alerts([_alert_record(alert)])

    def record_setpoints(
        self, site_id: str, issued_at: pd.Timestamp, setpoints: Sequence[Setpoint]
    ) -> None:
        """Keep the setpoints issued at ``issued_at``."""
        self.store.write_setpoints([_setpoint_record(site_id, issued_at, s) for s in setpoints])

    def read_alerts(self, site_id: str | None = None) -> pd.DataFrame:
        """The alert timeline, oldest first (:data:`~bitgaram.store.base.ALERT_COLUMNS`)."""
        return self.store.read_alerts(site_id)

    def read_setpoints(self, site_id: str | None = None) -> pd.DataFrame:
        """The setpoint timeline, oldest first (:data:`~bitgaram.store.base.SETPOINT_COLUMNS`)."""
        return self.store.read_setpoints(site_id)
