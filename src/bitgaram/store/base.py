"""The storage contract every backend honours (DuckDB embedded, PostgreSQL).

One protocol, one contract test suite (``tests/store/test_contract.py``) run
against every backend. Backends differ only in how they keep rows; the
semantics below are the same everywhere.

Tables (logical):

- ``sites`` / ``tenants`` / ``meters``: the site model (:class:`bitgaram.site.Site`).
- ``readings(meter_id, ts, value, quality)``: one row per meter and interval;
  ``ts`` is the UTC start of the interval; primary key ``(meter_id, ts)``.
- ``quarantine``: rejected input with its source, line, field and reason.
- ``forecasts(meter_id, issued_at, ts, horizon, quantile, value, model)``.
- ``control_alerts`` (:data:`ALERT_COLUMNS`) and ``control_setpoints``
  (:data:`SETPOINT_COLUMNS`): the control loop's timeline (every alert event,
  every setpoint published). Created on their first write; a store where no
  control loop has written yet reads them as empty.
- ``dr_events`` (:data:`DR_EVENT_COLUMNS`): the demand-response events the device
  service's VEN received, one row per ``(site_id, event_id)`` (a re-sent event
  replaces its row). Created on its first write, read as empty before.
- ``ev_sessions`` (:data:`EV_SESSION_COLUMNS`): the charging sessions of the device
  service's OCPP central system, one row per ``(site_id, session_id, started_at)``, rewritten
  as the session goes on (energy, power, end). Created on its first write, read as empty
  before.

Semantics:

- **Idempotent writes**: writing a reading that is already stored with the
  same value changes nothing; writing the same key with a *different* value is
  a conflict: the stored row is kept and the new one is quarantined (reason
  ``conflict``), unless ``on_conflict="replace"``.
  A key repeated *inside* one batch counts as unchanged when its values are
  equal; otherwise the first occurrence is the candidate and the others are
  quarantined (``conflict``) whatever ``on_conflict`` says.
- **Atomic batches**: a call to :meth:`Store.write_readings` commits all its
  accepted rows and quarantined rows in one transaction or none of them.
  ``inserted + unchanged + replaced + conflicts`` equals the batch's rows.
- **Resampling**: energy units (kWh) are summed into coarser intervals, all
  other units (kW, prices, intensities, temperatures) are averaged. Buckets
  are UTC intervals dividing a day, labelled by their start; readings of
  meters no stored site describes are averaged. Periods are ``[start, end)``
  on the reading's interval start; naive timestamps are refused.
- **Forecasts** are keyed by ``(meter_id, issued_at, ts, quantile, model)``;
  re-writing a key replaces its value. Point forecasts use quantile 0.5.
- **Views**: the Arrow readers (``*_arrow``) return the same rows, order and
  semantics as their pandas counterparts, with ``ts`` as ``timestamp[us, UTC]``
  and values as ``double``; :meth:`Store.latest_ts` finds where data ends
  without scanning it; :meth:`Store.readings_page_json` may let the database
  write a page of JSON items (or answer ``None``: the caller formats).
- **Data version**: :attr:`Store.data_version` changes on every write this
  process makes through any store object on the same database, so views
  computed from the data can be cached until the next write; ``None`` when the
  backend cannot tell (other processes may write: cache by time only).

Implementations: :mod:`bitgaram.store.duckdb_store` (embedded default) and
:mod:`bitgaram.store.postgres_store`, both on the shared SQL of
:mod:`bitgaram.store.sql`; open one with :func:`bitgaram.store.open_store`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from types import TracebackType
from typing import Literal, Protocol, Self, runtime_checkable

import pandas as pd
import pyarrow as pa

from bitgaram.site import Site

#: Columns of a readings frame, in order. ``ts`` is tz-aware UTC (interval start).
READING_COLUMNS = ("meter_id", "ts", "value", "quality")

#: Columns of a quarantine frame, in order.
QUARANTINE_COLUMNS = ("source", "line", "meter_id", "ts", "field", "raw", "reason")

#: Optional column of a quarantine batch: a stable identity of each rejected
#: row (e.g. a digest of the message it came in and its position). A row whose
#: fingerprint is already stored is not stored again, so a redelivered message
#: (collector killed after its quarantine commit, before its ack) is
#: quarantined once. Rows without one are always stored.
FINGERPRINT = "fingerprint"

#: Optional column of a quarantine batch: the full original record (bounded JSON
#: text) a rejected row came from, so it can be submitted again once the cause
#: is fixed (``bitgaram quarantine replay``).
RECORD = "record"

#: Columns of a forecasts frame, in order.
FORECAST_COLUMNS = ("meter_id", "issued_at", "ts", "horizon", "quantile", "value", "model")


#: Columns of the control loop's alert timeline (``control_alerts``), in order.
ALERT_COLUMNS = (
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

#: Columns of the control loop's setpoint timeline (``control_setpoints``), in order.
SETPOINT_COLUMNS = (
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

#: Columns of the demand-response event table (``dr_events``), in order.
DR_EVENT_COLUMNS = (
    "site_id",
    "event_id",
    "start_at",
    "end_at",
    "target_kw",
    "signal",
    "opted_in",
    "reason",
    "received_at",
)

#: Columns of the EV charging-session table (``ev_sessions``), in order.
EV_SESSION_COLUMNS = (
    "site_id",
    "session_id",
    "started_at",
    "asset",
    "cp_id",
    "connector",
    "transaction_id",
    "id_tag",
    "vehicle",
    "ended_at",
    "departure",
    "needed_kwh",
    "capacity_kwh",
    "delivered_kwh",
    "power_kw",
    "charger_kw",
    "soc_pct",
    "updated_at",
)


class Quality(IntEnum):
    """Quality flag of a stored reading."""

    GOOD = 0
    ESTIMATED = 1
    SUSPECT = 2


class Resolution(StrEnum):
    """Resampling targets."""

    RAW = "raw"
    MIN15 = "15min"
    HOUR = "1h"
    DAY = "1D"


@dataclass(frozen=True)
class WriteReport:
    """Outcome of one batch write.

    Attributes
    ----------
    inserted : int
        New rows stored.
    unchanged : int
        Rows already stored with the same value (idempotent re-writes).
    replaced : int
        Rows whose value was replaced (only with ``on_conflict="replace"``).
    quarantined : int
        Rows rejected into the quarantine table (including conflicts).
    """

    inserted: int = 0
    unchanged: int = 0
    replaced: int = 0
    quarantined: int = 0

    def __add__(self, other: WriteReport) -> WriteReport:
        return WriteReport(
            self.inserted + other.inserted,
            self.unchanged + other.unchanged,
            self.replaced + other.replaced,
            self.quarantined + other.quarantined,
        )


@dataclass(frozen=True)
class AlertRecord:
    """One alert event of the control loop, as stored (:data:`ALERT_COLUMNS`).

    Attributes
    ----------
    site_id, point, kind, event : str
        Whose alert, at which metering point, what kind and which event
        (raised, escalated, cleared ...).
    alert_at : datetime.datetime
        When the event happened (tz-aware).
    level : float or None
        Projected demand over the target [fraction].
    window_start : datetime.datetime or None
        Start of the demand window concerned (tz-aware).
    projected_kw, target_kw, month_peak_kw, billing_kw : float or None
        Projected window demand, its target, the month's peak so far and the
        billing demand [kW].
    message : str
        What a person reads.
    actions : str
        The proposed actions as a JSON list.
    """

    site_id: str
    point: str
    kind: str
    event: str
    alert_at: datetime
    level: float | None
    window_start: datetime | None
    projected_kw: float | None
    target_kw: float | None
    month_peak_kw: float | None
    billing_kw: float | None
    message: str
    actions: str


@dataclass(frozen=True)
class DrEventRecord:
    """One demand-response event as the VEN understood it, as stored (:data:`DR_EVENT_COLUMNS`).

    Attributes
    ----------
    site_id, event_id : str
        Whose event and its id at the VTN.
    start_at, end_at : datetime.datetime
        The active period ``[start_at, end_at)`` (tz-aware).
    target_kw : float or None
        Import cap during the event [kW] (None: no usable target).
    signal : str
        ``<signal name>/<signal type>``.
    opted_in : bool
        Whether the park takes part.
    reason : str
        Why the policy opted out ("" when opted in).
    received_at : datetime.datetime
        When the device service last saw the event (tz-aware).
    """

    site_id: str
    event_id: str
    start_at: datetime
    end_at: datetime
    target_kw: float | None
    signal: str
    opted_in: bool
    reason: str
    received_at: datetime


@dataclass(frozen=True)
class EvSessionRecord:
    """One EV charging session at a charger, as stored (:data:`EV_SESSION_COLUMNS`).

    Attributes
    ----------
    site_id : str
    session_id : str
        ``<charge point>.<connector>`` (the planner's id of the plugged-in vehicle).
    started_at : datetime.datetime
        Start of the transaction (tz-aware); with the two ids, the key.
    asset : str
        The site's charging asset the charger belongs to.
    cp_id : str
    connector : int
        Connector (OCPP 1.6) or EVSE (OCPP 2.0.1).
    transaction_id : str
        The central system's number (OCPP 1.6) or the station's id (OCPP 2.0.1).
    id_tag : str
        The authorised tag.
    vehicle : str or None
        Vehicle of the fleet file.
    ended_at : datetime.datetime or None
        End of the transaction (None: still plugged in).
    departure : datetime.datetime or None
        Expected departure (fleet file or default; None: charged at the safe rate).
    needed_kwh : float or None
        Energy the vehicle needs by then [kWh].
    capacity_kwh : float
        Battery capacity [kWh].
    delivered_kwh : float
        Energy delivered so far, at the charger's meter [kWh].
    power_kw : float
        Latest measured power [kW].
    charger_kw : float
        The charger's largest power [kW].
    soc_pct : float or None
        State of charge when the charger reports it [%].
    updated_at : datetime.datetime
        When the device service last wrote the row (tz-aware).
    """

    site_id: str
    session_id: str
    started_at: datetime
    asset: str
    cp_id: str
    connector: int
    transaction_id: str
    id_tag: str
    vehicle: str | None
    ended_at: datetime | None
    departure: datetime | None
    needed_kwh: float | None
    capacity_kwh: float
    delivered_kwh: float
    power_kw: float
    charger_kw: float
    soc_pct: float | None
    updated_at: datetime


@dataclass(frozen=True)
class SetpointRecord:
    """One setpoint published by the control loop, as stored (:data:`SETPOINT_COLUMNS`).

    Attributes
    ----------
    site_id, asset, kind : str
        Whose asset and its kind (battery, ev, job ...).
    issued_at : datetime.datetime
        When the setpoint was published (tz-aware; read back as UTC).
    power_kw : float
        Power [kW], + charging / consuming, - discharging.
    valid_from, valid_until : datetime.datetime
        The interval ``[valid_from, valid_until)`` it holds for (tz-aware).
    mode : str
        Why it was chosen (plan, peak, safe ...).
    reason : str or None
        Free text.
    """

    site_id: str
    issued_at: datetime
    asset: str
    kind: str
    power_kw: float
    valid_from: datetime
    valid_until: datetime
    mode: str
    reason: str | None = None


@runtime_checkable
class Store(Protocol):
    """A place to keep a park's description, readings, quarantine and forecasts."""

    url: str

    def migrate(self) -> None:
        """Create or upgrade the schema (idempotent)."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...

    def schema_version(self) -> int:
        """Version of the stored schema (0 before the first migration)."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    # -- site model ---------------------------------------------------------------
    def save_site(self, site: Site) -> None:
        """Insert or update a site with its tenants, meters and assets."""
        ...

    def load_site(self, site_id: str | None = None) -> Site:
        """The stored site (the only one when ``site_id`` is None); StoreError if absent."""
        ...

    def list_sites(self) -> list[str]:
        """Ids of stored sites."""
        ...

    # -- readings -----------------------------------------------------------------
    def write_readings(
        self,
        readings: pd.DataFrame | pa.Table,
        *,
        quarantine: pd.DataFrame | pa.Table | None = None,
        on_conflict: Literal["quarantine", "replace"] = "quarantine",
        source: str = "",
    ) -> WriteReport:
        """Store a batch of validated readings (and its rejected rows) atomically.

        ``readings`` has :data:`READING_COLUMNS`; ``quarantine`` has
        :data:`QUARANTINE_COLUMNS`. Both are committed in one transaction.
        A pyarrow Table is accepted too (the fast path for bulk imports).
        """
        ...

    def read_readings(
        self,
        meter_ids: list[str] | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        resolution: Resolution | str = Resolution.RAW,
    ) -> pd.DataFrame:
        """Readings in ``[start, end)`` as a long frame (meter_id, ts, value).

        Resampled per meter with the meter unit's aggregation (sum for kWh,
        mean otherwise); intervals are labelled by their UTC start.
        """
        ...

    def tenant_totals(
        self,
        kind: str,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        resolution: Resolution | str = Resolution.HOUR,
        tenant_ids: list[str] | None = None,
        *,
        site_id: str | None = None,
    ) -> pd.DataFrame:
        """Energy of one meter kind summed per tenant: columns tenant_id, ts, value [kWh].

        ``site_id`` limits it to one site's meters (tenant ids may repeat across sites).
        """
        ...

    def park_totals(
        self,
        kind: str,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        resolution: Resolution | str = Resolution.HOUR,
        *,
        site_id: str | None = None,
    ) -> pd.DataFrame:
        """Energy of one meter kind summed over the park: columns ts, value [kWh].

        ``site_id`` limits it to one site's meters (None: every site).
        """
        ...

    def count_readings(self, meter_id: str | None = None) -> int:
        """Number of stored readings (of one meter, or all)."""
        ...

    def compact_readings(
        self, start: pd.Timestamp, end: pd.Timestamp, resolution: Resolution | str
    ) -> tuple[int, int]:
        """Replace the readings in ``[start, end)`` by one row per meter and interval.

        Aggregated like :meth:`read_readings` (kWh summed, others averaged;
        quality the worst of the interval), labelled by the interval start,
        atomically. Intervals already held as one row at their start are left
        alone, so compacting twice changes nothing. Returns ``(rows removed,
        rows written)``. See :mod:`bitgaram.store.retention`.
        """
        ...

    # -- quarantine ---------------------------------------------------------------
    def list_quarantine(self, source: str | None = None, limit: int = 100) -> pd.DataFrame:
        """Quarantined rows, newest first, with :data:`QUARANTINE_COLUMNS` plus ``received_at``."""
        ...

    def count_quarantine(self, source: str | None = None) -> int:
        """Number of quarantined rows (of one source, or all)."""
        ...

    # -- forecasts ----------------------------------------------------------------
    def write_forecasts(self, forecasts: pd.DataFrame | pa.Table) -> int:
        """Store forecasts (:data:`FORECAST_COLUMNS`); idempotent on
        (meter_id, issued_at, ts, quantile, model)."""
        ...

    def read_forecasts(
        self,
        meter_ids: list[str] | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        model: str | None = None,
        latest: bool = True,
        issued_before: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Forecasts for target times in ``[start, end)``; with ``latest`` only the
        most recent issue per (meter, model, ts, quantile), considering only
        issues before ``issued_before`` when given (causal back-tests)."""
        ...

    # -- views: Arrow reads, where data ends, database-built JSON ---------------------
    @property
    def data_version(self) -> int | None:
        """A counter changed by every write through this process (None: unknown)."""
        ...

    def read_readings_arrow(
        self,
        meter_ids: list[str] | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        resolution: Resolution | str = Resolution.RAW,
    ) -> pa.Table:
        """:meth:`read_readings` as an Arrow table (meter_id, ts, value)."""
        ...

    def tenant_totals_arrow(
        self,
        kind: str,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        resolution: Resolution | str = Resolution.HOUR,
        *,
        site_id: str | None = None,
    ) -> pa.Table:
        """:meth:`tenant_totals` of every tenant (of one site with ``site_id``) as an Arrow
        table (tenant_id, ts, value)."""
        ...

    def read_forecasts_arrow(
        self,
        meter_ids: list[str],
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pa.Table:
        """Latest issue of each forecast as Arrow (meter_id, ts, quantile, value)."""
        ...

    def latest_ts(self, meter_ids: list[str] | None = None) -> pd.Timestamp | None:
        """Start of the newest stored reading of any of ``meter_ids`` (UTC), or None."""
        ...

    def readings_page_json(
        self,
        meter_id: str,
        start: pd.Timestamp | None,
        end: pd.Timestamp | None,
        resolution: Resolution | str,
        limit: int,
        offset: int,
    ) -> tuple[int, str] | None:
        """A page of one meter's readings as JSON items written by the database.

        ``(rows before paging, items)`` where items are
        ``{"ts":"<UTC start>Z","value":<repr of the float>}`` joined by commas;
        ``None`` when the backend cannot write exactly that text.
        """
        ...

    # -- the control loop's timeline ----------------------------------------------------
    def write_alerts(self, alerts: Sequence[AlertRecord]) -> int:
        """Append alert events (one transaction); returns the rows written."""
        ...

    def write_setpoints(self, setpoints: Sequence[SetpointRecord]) -> int:
        """Append published setpoints (one transaction); returns the rows written."""
        ...

    def read_alerts(self, site_id: str | None = None) -> pd.DataFrame:
        """The alert timeline (:data:`ALERT_COLUMNS`), oldest first."""
        ...

    def read_setpoints(self, site_id: str | None = None) -> pd.DataFrame:
        """The setpoint timeline (:data:`SETPOINT_COLUMNS`), by issue time then asset."""
        ...

    def setpoints_page(
        self,
        site_id: str,
        asset: str,
        start: pd.Timestamp,
        end: pd.Timestamp,
        *,
        limit: int,
        offset: int,
        schedule: bool = False,
    ) -> tuple[list[SetpointRecord], int]:
        """Setpoints of one asset valid at some time in ``[start, end)``, paged in the database.

        Ordered by ``valid_from`` then ``issued_at``; with ``schedule`` only the
        last setpoint issued for each ``valid_from`` (the schedule as
        executed). Returns the page (timestamps UTC) and the rows of the whole
        period.
        """
        ...

    def latest_setpoint_end(self, site_id: str, asset: str) -> pd.Timestamp | None:
        """The latest ``valid_until`` stored for ``asset`` (UTC), or None without setpoints."""
        ...

    # -- demand-response events ---------------------------------------------------------
    def write_dr_events(self, events: Sequence[DrEventRecord]) -> int:
        """Keep DR events (one transaction): each replaces the stored row of its
        ``(site_id, event_id)``; returns the rows written."""
        ...

    def read_dr_events(self, site_id: str | None = None) -> list[DrEventRecord]:
        """The stored DR events, newest start first (timestamps UTC)."""
        ...

    # -- EV charging sessions -----------------------------------------------------------
    def write_ev_sessions(self, sessions: Sequence[EvSessionRecord]) -> int:
        """Keep EV sessions (one transaction): each replaces the stored row of its
        ``(site_id, session_id, started_at)``; returns the rows written."""
        ...

    def read_ev_sessions(
        self, site_id: str | None = None, *, at: pd.Timestamp | None = None
    ) -> list[EvSessionRecord]:
        """The stored EV sessions by start time (timestamps UTC); with ``at``, only those
        plugged in at that instant (started at or before it, not ended by it)."""
        ...
