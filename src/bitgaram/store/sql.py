"""The store semantics, written once in SQL for every backend.

:class:`SqlStore` implements :class:`~bitgaram.store.base.Store` on top of a
handful of transport hooks (run a statement, fetch a frame, stage an Arrow
table as a temporary relation, open a transaction). DuckDB and PostgreSQL
differ only in those hooks and in their DDL; idempotence, conflict handling,
resampling and totals are the same statements on both, so the contract tests
exercise one implementation of the rules.

Write path of :meth:`SqlStore.write_readings` (all set-wise, no row loops):

1. normalise the batch to Arrow (:mod:`bitgaram.store.frames`);
2. stage it as a relation; if its keys are not provably unique, rank
   duplicates inside the batch (same value: unchanged; different value:
   quarantined as ``conflict``);
3. if no stored reading of the batch's meters falls in the batch's time span,
   insert everything (the bulk-import fast path); otherwise left-join the
   batch with the stored rows of that span and classify each row as new,
   unchanged or conflicting;
4. insert new rows, replace or quarantine conflicts, insert the caller's
   quarantine rows, commit (or roll everything back).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, Self

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bitgaram.errors import DataError, StoreError
from bitgaram.site import Site
from bitgaram.store.base import (
    ALERT_COLUMNS,
    DR_EVENT_COLUMNS,
    EV_SESSION_COLUMNS,
    FINGERPRINT,
    FORECAST_COLUMNS,
    QUARANTINE_COLUMNS,
    RECORD,
    SETPOINT_COLUMNS,
    AlertRecord,
    DrEventRecord,
    EvSessionRecord,
    Resolution,
    SetpointRecord,
    WriteReport,
)
from bitgaram.store.frames import (
    batch_meters,
    bucket_seconds,
    keys_unique_and_sorted,
    normalize_forecasts,
    normalize_quarantine,
    normalize_readings,
    sort_by_key,
    text_array,
)
from bitgaram.store.site_rows import site_rows

#: Reason recorded for a reading whose key is stored with another value.
CONFLICT_REASON = "conflict"

#: Columns returned by reading queries.
_READ_COLUMNS = ("meter_id", "ts", "value")
_TENANT_COLUMNS = ("tenant_id", "ts", "value")

#: The EV charging sessions of the device service, created on their first write (or by
#: migration 4, which also turns an older store's numeric transaction ids into text).
#: One row per (site_id, session_id, started_at), kept by the write path.
_EV_DDL = (
    "CREATE TABLE IF NOT EXISTS ev_sessions (site_id VARCHAR NOT NULL,"
    " session_id VARCHAR NOT NULL, started_at TIMESTAMPTZ NOT NULL, asset VARCHAR NOT NULL,"
    " cp_id VARCHAR NOT NULL, connector INTEGER NOT NULL, transaction_id VARCHAR NOT NULL,"
    " id_tag VARCHAR NOT NULL, vehicle VARCHAR, ended_at TIMESTAMPTZ, departure TIMESTAMPTZ,"
    " needed_kwh DOUBLE PRECISION, capacity_kwh DOUBLE PRECISION NOT NULL,"
    " delivered_kwh DOUBLE PRECISION NOT NULL, power_kw DOUBLE PRECISION NOT NULL,"
    " charger_kw DOUBLE PRECISION NOT NULL, soc_pct DOUBLE PRECISION,"
    " updated_at TIMESTAMPTZ NOT NULL)"
)

#: Schema version this code writes; migrations bring older stores up to it.
SCHEMA_VERSION = 4

#: Migrations in plain SQL every backend understands, used by a backend whose
#: own list has no step of that version.
SHARED_MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        2,
        "quarantine fingerprint: a redelivered message is quarantined once",
        [f"ALTER TABLE quarantine ADD COLUMN {FINGERPRINT} VARCHAR"],
    ),
    (
        3,
        "quarantine record: the full original record, to replay once the cause is fixed",
        [f"ALTER TABLE quarantine ADD COLUMN {RECORD} VARCHAR"],
    ),
    (
        4,
        "ev_sessions transaction ids as text: OCPP 2.0.1 stations name their transactions",
        [
            _EV_DDL,
            "ALTER TABLE ev_sessions ALTER COLUMN transaction_id TYPE VARCHAR",
        ],
    ),
]

_TS_COLUMNS = ("ts", "issued_at", "received_at")

#: The control loop's timeline tables, created on their first write. They are
#: additive (no migration step, nothing else refers to them), so stores written
#: before they existed need no upgrade.
_CONTROL_DDL = (
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

#: The demand-response events of the device service, created on their first write
#: (additive like the control tables: no migration step). One row per (site_id, event_id),
#: kept by the write path (delete then insert in one transaction).
_DR_DDL = (
    "CREATE TABLE IF NOT EXISTS dr_events (site_id VARCHAR NOT NULL, event_id VARCHAR NOT NULL,"
    " start_at TIMESTAMPTZ NOT NULL, end_at TIMESTAMPTZ NOT NULL, target_kw DOUBLE PRECISION,"
    " signal VARCHAR NOT NULL, opted_in BOOLEAN NOT NULL, reason VARCHAR NOT NULL,"
    " received_at TIMESTAMPTZ NOT NULL)"
)


def _utc_datetime(value: Any) -> datetime:
    """A timestamp read back from the database as a tz-aware UTC datetime."""
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


def _ev_record(r: Sequence[Any]) -> EvSessionRecord:
    """An ``ev_sessions`` row (EV_SESSION_COLUMNS order) as a record, timestamps UTC."""

    def opt_ts(v: Any) -> datetime | None:
        return None if v is None else _utc_datetime(v)

    def opt_float(v: Any) -> float | None:
        return None if v is None else float(v)

    return EvSessionRecord(
        site_id=str(r[0]),
        session_id=str(r[1]),
        started_at=_utc_datetime(r[2]),
        asset=str(r[3]),
        cp_id=str(r[4]),
        connector=int(r[5]),
        transaction_id=str(r[6]),
        id_tag=str(r[7]),
        vehicle=None if r[8] is None else str(r[8]),
        ended_at=opt_ts(r[9]),
        departure=opt_ts(r[10]),
        needed_kwh=opt_float(r[11]),
        capacity_kwh=float(r[12]),
        delivered_kwh=float(r[13]),
        power_kw=float(r[14]),
        charger_kw=float(r[15]),
        soc_pct=opt_float(r[16]),
        updated_at=_utc_datetime(r[17]),
    )


def _utc(value: pd.Timestamp | datetime | str | None, name: str) -> datetime | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise DataError(f"{name}={value!s} is naive; give a tz-aware UTC timestamp")
    return ts.tz_convert("UTC").to_pydatetime()


def _finish(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Give every backend's result the same columns and dtypes."""
    frame = frame.reindex(columns=list(columns))
    for name in frame.columns:
        if name in _TS_COLUMNS:
            column = frame[name]
            if not isinstance(column.dtype, pd.DatetimeTZDtype):
                column = pd.to_datetime(column, utc=True, format="ISO8601")
            frame[name] = column.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
        elif name in ("value", "quantile"):
            frame[name] = frame[name].astype("float64")
        elif name in ("horizon",):
            frame[name] = frame[name].astype("int64")
        elif name == "line":
            frame[name] = frame[name].astype("Int64")
        else:
            frame[name] = frame[name].astype("str").where(frame[name].notna(), None)
    return frame.reset_index(drop=True)


def _with_fingerprints(quarantine: pd.DataFrame | pa.Table, source: str) -> pa.Table:
    """Normalise a quarantine batch, keeping its :data:`RECORD` and :data:`FINGERPRINT` columns.

    Of rows sharing a fingerprint only the first is kept (a message delivered
    twice into the same batch).
    """
    table = normalize_quarantine(quarantine, source)
    names = quarantine.column_names if isinstance(quarantine, pa.Table) else quarantine.columns
    if RECORD in names:
        table = table.append_column(RECORD, text_array(_values(quarantine[RECORD])))
    if FINGERPRINT not in names:
        return table
    prints = text_array(_values(quarantine[FINGERPRINT]))
    table = table.append_column(FINGERPRINT, prints)
    seen: set[str] = set()
    first = []
    for p in prints.to_pylist():
        first.append(p is None or p not in seen)
        if p is not None:
            seen.add(p)
    return table if all(first) else table.filter(pa.array(first))


def _values(column: pd.Series | pa.ChunkedArray) -> list[Any]:
    return column.to_pylist() if isinstance(column, pa.ChunkedArray) else column.tolist()


#: Fingerprint of a conflict row (alias ``c``): the same rejected value for the
#: same key is quarantined once, however often the file is imported again.
_CONFLICT_PRINT = (
    "'conflict:' || md5(c.meter_id || '|' || CAST(c.ts AS VARCHAR) || '|'"
    " || CAST(c.value AS VARCHAR))"
)
_NEW_PRINT = f"NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.{FINGERPRINT} = {_CONFLICT_PRINT})"


class SqlStore(ABC):
    """A :class:`~bitgaram.store.base.Store` over a SQL connection.

    Subclasses provide the transport hooks and the migrations. All public
    methods are serialised by a re-entrant lock, so one store object may be
    shared by threads (the live collector's writer and its status page).
    """

    url: str

    #: Placeholder for one bound parameter in the backend's SQL.
    _param: str = "?"

    #: Appended to inserts into ``readings``: guards against a concurrent
    #: writer that stored the same key after this batch was classified.
    _insert_guard: str = ""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.RLock()
        # set once the control tables are known to exist (they are never dropped)
        self._control_tables = False
        self._dr_table = False
        self._ev_table = False

    # -- transport hooks ---------------------------------------------------------
    @abstractmethod
    def _exec(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement."""

    @abstractmethod
    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query and return its rows."""

    @abstractmethod
    def _frame(self, sql: str, params: Sequence[Any], columns: Sequence[str]) -> pd.DataFrame:
        """Run a query and return its result as a frame with ``columns``."""

    @abstractmethod
    def _stage(self, table: pa.Table, name: str) -> None:
        """Make ``table`` queryable as relation ``name`` within the transaction."""

    @abstractmethod
    def _unstage(self, name: str) -> None:
        """Forget a relation made by :meth:`_stage` or :meth:`_temp_table`, if any.

        Called after the transaction ended (committed or rolled back).
        """

    @abstractmethod
    def _temp_table(self, name: str, select: str, params: Sequence[Any] = ()) -> None:
        """Materialise ``select`` as temporary table ``name``."""

    @abstractmethod
    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """Commit on success, roll back on any exception (re-raised)."""

    @abstractmethod
    def _bucket(self, column: str, seconds: int) -> str:
        """SQL for the UTC start of the ``seconds``-wide interval holding ``column``."""

    @abstractmethod
    def _in_list(self, column: str) -> str:
        """SQL testing ``column`` against one bound list parameter."""

    @abstractmethod
    def _migrations(self) -> list[tuple[int, str, list[str]]]:
        """``(version, description, statements)`` in increasing version order."""

    def _before_readings(self, batch: pa.Table) -> None:  # noqa: B027 - optional hook
        """Prepare storage for a batch (PostgreSQL creates partitions here)."""

    @abstractmethod
    def _close(self) -> None:
        """Close the connection."""

    # -- lifecycle ---------------------------------------------------------------
    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def close(self) -> None:
        """Release the connection."""
        with self._lock:
            self._close()

    def schema_version(self) -> int:
        """Version of the stored schema (0 for an empty database)."""
        with self._lock:
            rows = self._fetch(
                "SELECT count(*) FROM information_schema.tables"
                " WHERE table_name = 'schema_version' AND table_schema = current_schema()"
            )
            if not rows[0][0]:
                return 0
            rows = self._fetch("SELECT max(version) FROM schema_version")
            return int(rows[0][0] or 0)

    def migrate(self) -> None:
        """Create or upgrade the schema (idempotent, safe against concurrent callers).

        All pending migrations run in one transaction, after taking the
        backend's migration lock, so two processes starting together neither
        fail nor apply a step twice.

        Raises
        ------
        StoreError
            If the store was written by a newer bitgaram (unknown version).
        """
        steps = self._all_migrations()
        latest = max(v for v, _, _ in steps)
        with self._lock, self._transaction():
            self._migration_lock()
            self._exec(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version INTEGER PRIMARY KEY, description VARCHAR NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL)"
            )
            current = self.schema_version()
            if current > latest:
                raise StoreError(
                    f"{self.url}: schema version {current} is newer than this bitgaram "
                    f"understands ({latest}); upgrade bitgaram"
                )
            p = self._param
            for version, description, statements in steps:
                if version <= current:
                    continue
                for statement in statements:
                    self._exec(statement)
                self._exec(
                    f"INSERT INTO schema_version VALUES ({p}, {p}, {p})",
                    (version, description, datetime.now(UTC)),
                )

    def _all_migrations(self) -> list[tuple[int, str, list[str]]]:
        own = self._migrations()
        versions = {v for v, _, _ in own}
        return sorted([*own, *(m for m in SHARED_MIGRATIONS if m[0] not in versions)])

    def _migration_lock(self) -> None:  # noqa: B027 - optional hook
        """Serialise migrations across processes (PostgreSQL: an advisory lock)."""

    # -- site model --------------------------------------------------------------
    def save_site(self, site: Site) -> None:
        """Insert or replace a site with its tenants, meters and assets.

        Raises
        ------
        StoreError
            If one of its meter ids already belongs to another stored site
            (readings are keyed by meter id, so meter ids are unique per store).
        """
        rows = site_rows(site)
        sid = site.site.id
        p = self._param
        with self._lock, self._transaction():
            meter_ids = [m[0] for m in rows.meters]
            if meter_ids:
                taken = self._fetch(
                    f"SELECT meter_id, site_id FROM meters WHERE {self._in_list('meter_id')}"
                    f" AND site_id <> {p}",
                    (meter_ids, sid),
                )
                if taken:
                    listed = ", ".join(f"{m!r} (site {s!r})" for m, s in taken[:5])
                    raise StoreError(f"meter ids already used by another site: {listed}")
            for table in ("assets", "meters", "tenants", "sites"):
                self._exec(f"DELETE FROM {table} WHERE site_id = {p}", (sid,))
            self._exec(
                f"INSERT INTO sites VALUES ({p}, {p}, {p}, {p}, {p})",
                (*rows.site, datetime.now(UTC)),
            )
            for row in rows.tenants:
                self._exec(f"INSERT INTO tenants VALUES ({p}, {p}, {p}, {p})", row)
            for mrow in rows.meters:
                self._exec(f"INSERT INTO meters VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p})", mrow)
            for arow in rows.assets:
                self._exec(f"INSERT INTO assets VALUES ({p}, {p}, {p}, {p}, {p})", arow)

    def load_site(self, site_id: str | None = None) -> Site:
        """The stored site (the only one when ``site_id`` is None).

        Raises
        ------
        StoreError
            If no such site is stored, or several are and none was named.
        """
        with self._lock:
            if site_id is None:
                rows = self._fetch("SELECT site_id, document FROM sites ORDER BY site_id")
                if len(rows) > 1:
                    ids = ", ".join(r[0] for r in rows)
                    raise StoreError(f"{self.url}: several sites stored ({ids}); name one")
            else:
                rows = self._fetch(
                    f"SELECT site_id, document FROM sites WHERE site_id = {self._param}",
                    (site_id,),
                )
        if not rows:
            which = f"site {site_id!r}" if site_id else "site"
            raise StoreError(f"{self.url}: no {which} stored; run `bitgaram init --site FILE`")
        document = rows[0][1]
        return Site.model_validate_json(
            document if isinstance(document, str | bytes) else str(document)
        )

    def list_sites(self) -> list[str]:
        """Ids of stored sites, sorted."""
        with self._lock:
            return [r[0] for r in self._fetch("SELECT site_id FROM sites ORDER BY site_id")]

    # -- readings ----------------------------------------------------------------
    def write_readings(
        self,
        readings: pd.DataFrame | pa.Table,
        *,
        quarantine: pd.DataFrame | pa.Table | None = None,
        on_conflict: Literal["quarantine", "replace"] = "quarantine",
        source: str = "",
    ) -> WriteReport:
        """Store a batch of validated readings and its rejected rows atomically.

        Parameters
        ----------
        readings : pandas.DataFrame or pyarrow.Table
            :data:`~bitgaram.store.base.READING_COLUMNS` (``quality``
            optional); ``ts`` tz-aware interval starts; values finite, in the
            meter's unit. Millions of rows per call are fine (and fastest when
            each meter's rows are contiguous and sorted by ``ts``).
        quarantine : pandas.DataFrame or pyarrow.Table, optional
            Rows the caller rejected, with
            :data:`~bitgaram.store.base.QUARANTINE_COLUMNS` (missing columns
            are null; an empty ``source`` becomes ``source``).
        on_conflict : {"quarantine", "replace"}
            What to do with a key stored with a different value: keep the
            stored row and quarantine the new one, or replace the stored one.
            Keys repeated *within* the batch with different values are always
            quarantined (the batch does not say which one is right).
        source : str
            Source name recorded with quarantined rows (file, topic, device).

        Returns
        -------
        WriteReport
            ``inserted + unchanged + replaced + (conflicts)`` equals the rows
            of ``readings``; ``quarantined`` also counts ``quarantine`` rows.

        Raises
        ------
        DataError
            If the batch is malformed (missing column, null key, NaN value).
        StoreError
            If the database fails; nothing of the batch is then stored.
        """
        if on_conflict not in ("quarantine", "replace"):
            raise DataError(f"on_conflict must be 'quarantine' or 'replace', not {on_conflict!r}")
        batch = normalize_readings(readings)
        qtable = None if quarantine is None else _with_fingerprints(quarantine, source)
        now = datetime.now(UTC)
        with self._lock:
            self._before_readings(batch)
            try:
                with self._transaction():
                    report = self._merge_readings(batch, on_conflict, source, now)
                    if qtable is not None and qtable.num_rows:
                        self._insert_quarantine(qtable, now)
                        report = report + WriteReport(quarantined=qtable.num_rows)
            finally:
                self._cleanup()
        return report

    def _merge_readings(
        self, batch: pa.Table, on_conflict: str, source: str, now: datetime
    ) -> WriteReport:
        n = batch.num_rows
        if n == 0:
            return WriteReport()
        p = self._param
        unique = keys_unique_and_sorted(batch)
        if not unique:
            # Time-major batches (all meters at t0, then t1...) are common; a
            # sort by key is far cheaper than ranking duplicates in SQL, and
            # proves the keys distinct when they are.
            by_key = sort_by_key(batch)
            if keys_unique_and_sorted(by_key):
                batch, unique = by_key, True
        meters = batch_meters(batch, unique)
        lo, hi = pc.min_max(batch.column("ts")).values()
        span = [lo.as_py(), hi.as_py()]
        overlap = self._overlaps(batch, meters, span)
        if unique and not overlap:
            # The bulk-import path: nothing to compare with, nothing repeated.
            self._insert_new(batch)
            return WriteReport(inserted=n)

        unchanged = quarantined = 0
        if unique:
            self._stage(batch, "_bg_batch")
            candidates = "_bg_batch"
        else:
            numbered = batch.append_column("_row", pa.array(np.arange(n, dtype=np.int64)))
            self._stage(numbered, "_bg_batch")
            self._temp_table(
                "_bg_ranked",
                "SELECT meter_id, ts, value, quality,"
                " row_number() OVER (PARTITION BY meter_id, ts ORDER BY _row) AS rn,"
                " first_value(value) OVER (PARTITION BY meter_id, ts ORDER BY _row) AS kept"
                " FROM _bg_batch",
            )
            dup_same, dup_diff = self._fetch(
                "SELECT count(*) FILTER (WHERE rn > 1 AND value = kept),"
                " count(*) FILTER (WHERE rn > 1 AND value <> kept) FROM _bg_ranked"
            )[0]
            unchanged += int(dup_same)
            if dup_diff:
                self._exec(
                    "INSERT INTO quarantine (received_at, source, line, meter_id, ts, field,"
                    f" raw, reason, {FINGERPRINT})"
                    f" SELECT DISTINCT CAST({p} AS TIMESTAMPTZ), CAST({p} AS VARCHAR),"
                    " CAST(NULL AS BIGINT), meter_id, ts, 'value', CAST(value AS VARCHAR),"
                    f" CAST({p} AS VARCHAR) || ': key repeated in the batch with value '"
                    f" || CAST(kept AS VARCHAR), {_CONFLICT_PRINT}"
                    f" FROM _bg_ranked c WHERE rn > 1 AND value <> kept AND {_NEW_PRINT}",
                    (now, source, CONFLICT_REASON),
                )
                quarantined += int(dup_diff)
            self._temp_table(
                "_bg_cand", "SELECT meter_id, ts, value, quality FROM _bg_ranked WHERE rn = 1"
            )
            candidates = "_bg_cand"
        if not overlap:
            inserted = self._fetch(f"SELECT count(*) FROM {candidates}")[0][0]
            self._exec(
                "INSERT INTO readings (meter_id, ts, value, quality)"
                f" SELECT meter_id, ts, value, quality FROM {candidates}{self._insert_guard}"
            )
            return WriteReport(inserted=int(inserted), unchanged=unchanged, quarantined=quarantined)

        # Compare with the stored rows of the batch's span, counting only: a
        # pure re-import (every row unchanged) then costs one join and no writes.
        stored = f"(SELECT meter_id, ts, value FROM readings WHERE ts >= {p} AND ts <= {p})"
        new, same, diff = self._fetch(
            "SELECT count(*) FILTER (WHERE r.value IS NULL),"
            " count(*) FILTER (WHERE r.value = c.value),"
            " count(*) FILTER (WHERE r.value <> c.value)"
            f" FROM {candidates} c LEFT JOIN {stored} r"
            " ON r.meter_id = c.meter_id AND r.ts = c.ts",
            span,
        )[0]
        replaced = 0
        if diff and on_conflict == "replace":
            self._exec(
                f"UPDATE readings SET value = c.value, quality = c.quality FROM {candidates} c"
                " WHERE readings.meter_id = c.meter_id AND readings.ts = c.ts"
                f" AND readings.ts >= {p} AND readings.ts <= {p} AND readings.value <> c.value",
                span,
            )
            replaced = int(diff)
        elif diff:
            self._exec(
                "INSERT INTO quarantine (received_at, source, line, meter_id, ts, field,"
                f" raw, reason, {FINGERPRINT})"
                f" SELECT CAST({p} AS TIMESTAMPTZ), CAST({p} AS VARCHAR), NULL, c.meter_id,"
                " c.ts, 'value', CAST(c.value AS VARCHAR),"
                f" CAST({p} AS VARCHAR) || ': stored value ' || CAST(r.value AS VARCHAR)"
                f" || ' differs', {_CONFLICT_PRINT} FROM {candidates} c JOIN {stored} r"
                " ON r.meter_id = c.meter_id AND r.ts = c.ts WHERE r.value <> c.value"
                f" AND {_NEW_PRINT}",
                (now, source, CONFLICT_REASON, *span),
            )
            quarantined += int(diff)
        if new:
            self._exec(
                "INSERT INTO readings (meter_id, ts, value, quality)"
                f" SELECT c.meter_id, c.ts, c.value, c.quality FROM {candidates} c"
                f" LEFT JOIN {stored} r ON r.meter_id = c.meter_id AND r.ts = c.ts"
                " WHERE r.meter_id IS NULL" + self._insert_guard,
                span,
            )
        return WriteReport(
            inserted=int(new),
            unchanged=unchanged + int(same),
            replaced=replaced,
            quarantined=quarantined,
        )

    def _overlaps(self, batch: pa.Table, meters: list[str], span: list[Any]) -> bool:
        """Whether a stored reading of the batch's meters falls in the batch's time span."""
        p = self._param
        # Cheap test first (time span only, served by zone maps / partitions),
        # then the precise one with the batch's meters.
        return bool(
            self._fetch(
                f"SELECT EXISTS (SELECT 1 FROM readings WHERE ts >= {p} AND ts <= {p})", span
            )[0][0]
            and self._fetch(
                "SELECT EXISTS (SELECT 1 FROM readings WHERE"
                f" ts >= {p} AND ts <= {p} AND {self._in_list('meter_id')})",
                [*span, meters],
            )[0][0]
        )

    def _insert_new(self, batch: pa.Table) -> None:
        """Insert a batch known to hold only new, distinct keys."""
        self._stage(batch, "_bg_batch")
        self._exec(
            "INSERT INTO readings (meter_id, ts, value, quality)"
            " SELECT meter_id, ts, value, quality FROM _bg_batch" + self._insert_guard
        )

    def _cleanup(self) -> None:
        for name in ("_bg_cls", "_bg_cand", "_bg_ranked", "_bg_batch", "_bg_quarantine"):
            self._unstage(name)

    def _insert_quarantine(self, table: pa.Table, now: datetime) -> None:
        self._stage(table, "_bg_quarantine")
        columns = ["source", "line", "meter_id", "ts", "field", "raw", "reason"]
        columns += [c for c in (RECORD, FINGERPRINT) if c in table.column_names]
        insert = (
            f"INSERT INTO quarantine (received_at, {', '.join(columns)})"
            f" SELECT CAST({self._param} AS TIMESTAMPTZ), {', '.join('s.' + c for c in columns)}"
            " FROM _bg_quarantine s"
        )
        if FINGERPRINT not in table.column_names:
            self._exec(insert, (now,))
            return
        # Rows already quarantined under the same fingerprint are skipped
        # (fingerprints are distinct within the batch, see _with_fingerprints).
        self._exec(
            f"{insert} WHERE s.{FINGERPRINT} IS NULL OR NOT EXISTS (SELECT 1 FROM quarantine q"
            f" WHERE q.{FINGERPRINT} = s.{FINGERPRINT})",
            (now,),
        )

    def _where(
        self,
        meter_ids: list[str] | None,
        start: pd.Timestamp | None,
        end: pd.Timestamp | None,
        prefix: str = "r.",
    ) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if meter_ids is not None:
            clauses.append(self._in_list(f"{prefix}meter_id"))
            params.append(list(meter_ids))
        lo, hi = _utc(start, "start"), _utc(end, "end")
        if lo is not None:
            clauses.append(f"{prefix}ts >= {self._param}")
            params.append(lo)
        if hi is not None:
            clauses.append(f"{prefix}ts < {self._param}")
            params.append(hi)
        return clauses, params

    def read_readings(
        self,
        meter_ids: list[str] | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        resolution: Resolution | str = Resolution.RAW,
    ) -> pd.DataFrame:
        """Readings with ``start <= ts < end`` as a long frame (meter_id, ts, value).

        Resampled per meter into UTC intervals labelled by their start: kWh
        meters are summed, all other units (and meters no stored site
        describes) averaged. Intervals without readings are absent, not zero.
        Sorted by meter and time.
        """
        sql, params = self._readings_query(meter_ids, start, end, resolution)
        with self._lock:
            return _finish(self._frame(sql, params, _READ_COLUMNS), _READ_COLUMNS)

    def _per_meter(
        self,
        kind: str,
        start: pd.Timestamp | None,
        end: pd.Timestamp | None,
        resolution: Resolution | str,
        tenant_ids: list[str] | None,
        site_id: str | None = None,
    ) -> tuple[str, list[Any]]:
        seconds = bucket_seconds(resolution)
        p = self._param
        same_site = "" if site_id is None else f" AND site_id = {p}"
        units = self._fetch(
            f"SELECT DISTINCT unit FROM meters WHERE kind = {p}{same_site} ORDER BY unit",
            (kind,) if site_id is None else (kind, site_id),
        )
        if len(units) > 1:
            listed = ", ".join(u[0] for u in units)
            raise DataError(f"meters of kind {kind!r} mix units ({listed}); cannot add them up")
        clauses, params = self._where(None, start, end)
        clauses.insert(0, f"m.kind = {self._param}")
        params.insert(0, kind)
        if tenant_ids is not None:
            clauses.append(self._in_list("m.tenant_id"))
            params.append(list(tenant_ids))
        if site_id is not None:  # tenant ids repeat across sites; meter ids do not
            clauses.append(f"m.site_id = {p}")
            params.append(site_id)
        bucket = "r.ts" if seconds is None else self._bucket("r.ts", seconds)
        sql = (
            f"SELECT m.tenant_id, r.meter_id, {bucket} AS ts,"
            " CASE WHEN m.is_energy THEN sum(r.value) ELSE avg(r.value) END AS value"
            " FROM readings r JOIN meters m ON m.meter_id = r.meter_id"
            f" WHERE {' AND '.join(clauses)} GROUP BY m.tenant_id, r.meter_id, 3, m.is_energy"
        )
        return sql, params

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
        """One meter kind summed per tenant: columns tenant_id, ts, value.

        Each meter is first resampled with its unit's rule (kWh summed, kW
        averaged), then the tenant's meters are added: energy [kWh] per
        interval for kWh meters, average power [kW] for kW meters. Site-level
        meters (no tenant) are left out. ``site_id`` limits the sum to one
        site's meters (tenant ids may repeat across sites); None: every site.

        Raises
        ------
        DataError
            If meters of this kind use different units.
        """
        # One lock around the unit check and the query: the connection serves one query at a time.
        with self._lock:
            sql, params = self._tenant_totals_query(
                kind, start, end, resolution, tenant_ids, site_id
            )
            return _finish(self._frame(sql, params, _TENANT_COLUMNS), _TENANT_COLUMNS)

    def _tenant_totals_query(
        self,
        kind: str,
        start: pd.Timestamp | None,
        end: pd.Timestamp | None,
        resolution: Resolution | str,
        tenant_ids: list[str] | None,
        site_id: str | None = None,
    ) -> tuple[str, list[Any]]:
        """The statement of :meth:`tenant_totals` and its parameters (call under the lock)."""
        inner, params = self._per_meter(str(kind), start, end, resolution, tenant_ids, site_id)
        sql = (
            f"SELECT tenant_id, ts, sum(value) AS value FROM ({inner}) AS pm"
            " WHERE tenant_id IS NOT NULL GROUP BY tenant_id, ts ORDER BY 1, 2"
        )
        return sql, params

    def park_totals(
        self,
        kind: str,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        resolution: Resolution | str = Resolution.HOUR,
        *,
        site_id: str | None = None,
    ) -> pd.DataFrame:
        """One meter kind summed over every meter of the park: columns ts, value.

        Includes site-level meters of that kind: a park whose main meter and
        tenant sub-meters share a kind should ask per tenant instead.
        ``site_id`` limits the sum to one site's meters (None: every site).

        Raises
        ------
        DataError
            If meters of this kind use different units.
        """
        columns = ("ts", "value")
        with self._lock:
            inner, params = self._per_meter(str(kind), start, end, resolution, None, site_id)
            sql = f"SELECT ts, sum(value) AS value FROM ({inner}) AS pm GROUP BY ts ORDER BY 1"
            return _finish(self._frame(sql, params, columns), columns)

    def count_readings(self, meter_id: str | None = None) -> int:
        """Number of stored readings (of one meter, or all)."""
        with self._lock:
            if meter_id is None:
                rows = self._fetch("SELECT count(*) FROM readings")
            else:
                rows = self._fetch(
                    f"SELECT count(*) FROM readings WHERE meter_id = {self._param}", (meter_id,)
                )
        return int(rows[0][0])

    def compact_readings(
        self, start: pd.Timestamp, end: pd.Timestamp, resolution: Resolution | str
    ) -> tuple[int, int]:
        """Replace the readings in ``[start, end)`` by one row per meter and interval.

        See :meth:`bitgaram.store.base.Store.compact_readings`; ``start`` and
        ``end`` should fall on interval boundaries (UTC).

        Raises
        ------
        DataError
            If ``resolution`` is raw or a timestamp is naive.
        """
        seconds = bucket_seconds(resolution)
        if seconds is None:
            raise DataError("compact_readings needs an aggregate resolution (15min, 1h, 1D)")
        span = (_utc(start, "start"), _utc(end, "end"))
        p = self._param
        bucket = self._bucket("r.ts", seconds)
        first_bucket = self._bucket("min(r.ts)", seconds)
        with self._lock:
            try:
                with self._transaction():
                    self._temp_table(
                        "_bg_compact",
                        f"SELECT r.meter_id, {bucket} AS ts,"
                        " CASE WHEN coalesce(m.is_energy, FALSE) THEN sum(r.value)"
                        " ELSE avg(r.value) END AS value,"
                        " CAST(max(r.quality) AS SMALLINT) AS quality, count(*) AS n"
                        " FROM readings r LEFT JOIN meters m ON m.meter_id = r.meter_id"
                        f" WHERE r.ts >= {p} AND r.ts < {p} GROUP BY r.meter_id, 2, m.is_energy"
                        f" HAVING count(*) > 1 OR min(r.ts) <> {first_bucket}",
                        span,
                    )
                    removed, written = self._fetch(
                        "SELECT coalesce(sum(n), 0), count(*) FROM _bg_compact"
                    )[0]
                    if written:
                        self._exec(
                            f"DELETE FROM readings WHERE ts >= {p} AND ts < {p} AND EXISTS"
                            " (SELECT 1 FROM _bg_compact c WHERE c.meter_id = readings.meter_id"
                            f" AND c.ts = {self._bucket('readings.ts', seconds)}"
                            # The redundant range lets PostgreSQL hash-join (measured: 7 s ->
                            # 0.04 s per month of 10 tenants) instead of filtering every row of
                            # the meter per interval.
                            " AND readings.ts >= c.ts"
                            f" AND readings.ts < c.ts + INTERVAL '{int(seconds)} seconds')",
                            span,
                        )
                        self._exec(
                            "INSERT INTO readings (meter_id, ts, value, quality)"
                            " SELECT meter_id, ts, value, quality FROM _bg_compact"
                        )
            finally:
                self._unstage("_bg_compact")
        return int(removed), int(written)

    # -- quarantine --------------------------------------------------------------
    def list_quarantine(self, source: str | None = None, limit: int = 100) -> pd.DataFrame:
        """Quarantined rows, newest first: QUARANTINE_COLUMNS plus ``received_at``."""
        columns = (*QUARANTINE_COLUMNS, "received_at")
        where, params = "", []
        if source is not None:
            where = f" WHERE source = {self._param}"
            params.append(source)
        sql = (
            f"SELECT {', '.join(columns)} FROM quarantine{where}"
            f" ORDER BY received_at DESC, id DESC LIMIT {int(limit)}"
        )
        with self._lock:
            return _finish(self._frame(sql, params, columns), columns)

    def quarantined_records(
        self,
        source_prefix: str = "",
        reason_prefix: str = "",
        limit: int = 100_000,
        after: int = -1,
    ) -> pd.DataFrame:
        """Quarantined rows that kept their original record, in id order.

        Columns ``id, source, line, reason, record``; only rows whose source
        and reason start with the given prefixes and whose id is above
        ``after`` (to page through).
        """
        p = self._param
        columns = ("id", "source", "line", "reason", RECORD)
        sql = (
            f"SELECT {', '.join(columns)} FROM quarantine WHERE {RECORD} IS NOT NULL"
            f" AND id > {int(after)} AND starts_with(coalesce(source, ''), {p})"
            f" AND starts_with(coalesce(reason, ''), {p}) ORDER BY id LIMIT {int(limit)}"
        )
        with self._lock:
            frame = self._frame(sql, [source_prefix, reason_prefix], columns)
        return frame.astype({"id": "int64"}).reset_index(drop=True)

    def delete_quarantine(self, ids: Sequence[int]) -> int:
        """Remove quarantined rows by id (after a successful replay); returns how many."""
        if not ids:
            return 0
        table = pa.table({"id": pa.array([int(i) for i in ids], pa.int64())})
        with self._lock, self._transaction():
            self._stage(table, "_bg_ids")
            try:
                count = self._fetch(
                    "SELECT count(*) FROM quarantine WHERE id IN (SELECT id FROM _bg_ids)"
                )[0][0]
                self._exec("DELETE FROM quarantine WHERE id IN (SELECT id FROM _bg_ids)")
            finally:
                self._unstage("_bg_ids")
        return int(count)

    def count_quarantine(self, source: str | None = None) -> int:
        """Number of quarantined rows (of one source, or all)."""
        with self._lock:
            if source is None:
                rows = self._fetch("SELECT count(*) FROM quarantine")
            else:
                rows = self._fetch(
                    f"SELECT count(*) FROM quarantine WHERE source = {self._param}", (source,)
                )
        return int(rows[0][0])

    # -- forecasts ---------------------------------------------------------------
    def write_forecasts(self, forecasts: pd.DataFrame | pa.Table) -> int:
        """Store forecasts, replacing any with the same key.

        The key is ``(meter_id, issued_at, ts, quantile, model)``; within the
        batch the last row of a key wins. Writing the same batch twice stores
        it once.

        Returns
        -------
        int
            Distinct keys written.
        """
        table = normalize_forecasts(forecasts)
        if table.num_rows == 0:
            return 0
        table = table.append_column("_row", pa.array(np.arange(table.num_rows, dtype=np.int64)))
        key = "meter_id, issued_at, ts, quantile, model"
        with self._lock:
            try:
                written = self._upsert_forecasts(table, key)
            finally:
                self._unstage("_bg_fc_last")
                self._unstage("_bg_fc")
        return written

    def _upsert_forecasts(self, table: pa.Table, key: str) -> int:
        with self._transaction():
            self._stage(table, "_bg_fc")
            self._temp_table(
                "_bg_fc_last",
                f"SELECT DISTINCT ON ({key}) meter_id, issued_at, ts, horizon, quantile, value,"
                f" model FROM _bg_fc ORDER BY {key}, _row DESC",
            )
            written = self._fetch("SELECT count(*) FROM _bg_fc_last")[0][0]
            self._exec(
                f"INSERT INTO forecasts ({', '.join(FORECAST_COLUMNS)})"
                f" SELECT {', '.join(FORECAST_COLUMNS)} FROM _bg_fc_last"
                f" ON CONFLICT ({key}) DO UPDATE SET value = EXCLUDED.value,"
                " horizon = EXCLUDED.horizon"
            )
        return int(written)

    def read_forecasts(
        self,
        meter_ids: list[str] | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        model: str | None = None,
        latest: bool = True,
        issued_before: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Forecasts for target times ``start <= ts < end``.

        Parameters
        ----------
        meter_ids, start, end, model
            Filters (``None``: all).
        latest : bool
            Keep only the most recent issue per (meter, model, ts, quantile).
        issued_before : pandas.Timestamp, optional
            Ignore forecasts issued at or after this time (what was known then,
            for causal back-tests).

        Returns
        -------
        pandas.DataFrame
            :data:`~bitgaram.store.base.FORECAST_COLUMNS`, sorted by meter,
            model, ts, quantile (and issue time).
        """
        clauses, params = self._where(meter_ids, start, end, prefix="f.")
        if model is not None:
            clauses.append(f"f.model = {self._param}")
            params.append(model)
        cutoff = _utc(issued_before, "issued_before")
        if cutoff is not None:
            clauses.append(f"f.issued_at < {self._param}")
            params.append(cutoff)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        cols = ", ".join(FORECAST_COLUMNS)
        order = "meter_id, model, ts, quantile, issued_at"
        if latest:
            sql = (
                f"SELECT {cols} FROM (SELECT f.*, row_number() OVER (PARTITION BY"
                " f.meter_id, f.model, f.ts, f.quantile ORDER BY f.issued_at DESC) AS rn"
                f" FROM forecasts f{where}) AS x WHERE rn = 1 ORDER BY {order}"
            )
        else:
            sql = f"SELECT {cols} FROM forecasts f{where} ORDER BY {order}"
        with self._lock:
            return _finish(self._frame(sql, params, FORECAST_COLUMNS), FORECAST_COLUMNS)

    # -- read helpers for views (read-only; added for the web API) ----------------
    def _arrow(self, sql: str, params: Sequence[Any], columns: Sequence[str]) -> pa.Table:
        """Run a query and return its result as an Arrow table with ``columns``.

        Normalised like the frames of the public readers (timestamps
        ``timestamp[us, UTC]``, values ``double``, strings ``string``). This
        default goes through :meth:`_frame`; backends with a native Arrow
        result override it.
        """
        frame = _finish(self._frame(sql, params, columns), columns)
        return pa.Table.from_pandas(frame, preserve_index=False)

    def _readings_query(
        self,
        meter_ids: list[str] | None,
        start: pd.Timestamp | None,
        end: pd.Timestamp | None,
        resolution: Resolution | str,
    ) -> tuple[str, list[Any]]:
        """The statement of :meth:`read_readings` and its parameters."""
        seconds = bucket_seconds(resolution)
        clauses, params = self._where(meter_ids, start, end)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        if seconds is None:
            return f"SELECT r.meter_id, r.ts, r.value FROM readings r{where} ORDER BY 1, 2", params
        sql = (
            f"SELECT r.meter_id, {self._bucket('r.ts', seconds)} AS ts,"
            " CASE WHEN coalesce(m.is_energy, FALSE) THEN sum(r.value)"
            " ELSE avg(r.value) END AS value"
            f" FROM readings r LEFT JOIN meters m ON m.meter_id = r.meter_id{where}"
            " GROUP BY r.meter_id, 2, m.is_energy ORDER BY 1, 2"
        )
        return sql, params

    def read_readings_arrow(
        self,
        meter_ids: list[str] | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        resolution: Resolution | str = Resolution.RAW,
    ) -> pa.Table:
        """:meth:`read_readings` as an Arrow table, without a pandas frame per call.

        Same rows, order and semantics; columns ``meter_id`` (string), ``ts``
        (``timestamp[us, UTC]``, interval start) and ``value`` (double, in the
        meter's unit, or resampled: kWh summed, other units averaged).
        """
        sql, params = self._readings_query(meter_ids, start, end, resolution)
        with self._lock:
            return self._arrow(sql, params, _READ_COLUMNS)

    def latest_per_meter(self, meter_ids: list[str]) -> dict[str, pd.Timestamp]:
        """Start of the newest stored reading of each meter (UTC), in one statement.

        Meters without readings are left out. Used by the collector to see
        gaps after a restart.
        """
        sql = (
            "SELECT i.id, (SELECT max(r.ts) FROM readings r WHERE r.meter_id = i.id)"
            f" FROM (SELECT unnest(CAST({self._param} AS VARCHAR[])) AS id) AS i"
        )
        with self._lock:
            rows = self._fetch(sql, [list(meter_ids)])
        out: dict[str, pd.Timestamp] = {}
        for meter, value in rows:
            if value is not None:
                ts = pd.Timestamp(value)
                out[str(meter)] = (
                    ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
                )
        return out

    def latest_ts(self, meter_ids: list[str] | None = None) -> pd.Timestamp | None:
        """Start of the newest stored reading of any of ``meter_ids`` (UTC).

        One look-up per meter (index-only on PostgreSQL), instead of an
        aggregate over the readings.

        Returns
        -------
        pandas.Timestamp or None
            The interval start, tz-aware UTC; ``None`` when none of the meters
            (or, for ``None``, no meter at all) has a reading.
        """
        p = self._param
        if meter_ids is None:
            sql, params = "SELECT max(ts) FROM readings", []
        else:
            sql = (
                "SELECT max(x) FROM (SELECT (SELECT max(r.ts) FROM readings r"
                " WHERE r.meter_id = i.id) AS x"
                f" FROM (SELECT unnest(CAST({p} AS VARCHAR[])) AS id) AS i) AS y"
            )
            params = [list(meter_ids)]
        with self._lock:
            rows = self._fetch(sql, params)
        value = rows[0][0] if rows else None
        if value is None:
            return None
        ts = pd.Timestamp(value)
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")

    def readings_page_json(
        self,
        meter_id: str,
        start: pd.Timestamp | None,
        end: pd.Timestamp | None,
        resolution: Resolution | str,
        limit: int,
        offset: int,
    ) -> tuple[int, str] | None:
        """One page of a meter's readings as JSON items, built by the database.

        The rows are those of :meth:`read_readings_arrow` for one meter,
        ``offset`` to ``offset + limit``; rows with a non-finite value are left
        out of the page. Each item is ``{"ts":"<UTC start, seconds>Z","value":<float>}``
        with the value written as Python's ``repr`` writes it, items separated
        by commas (no brackets).

        Returns
        -------
        tuple of (int, str) or None
            The number of rows before pagination and the items' text; ``None``
            when this backend cannot format exactly that text (the default:
            the caller formats the rows itself).
        """
        return None

    def tenant_totals_arrow(
        self,
        kind: str,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        resolution: Resolution | str = Resolution.HOUR,
        *,
        site_id: str | None = None,
    ) -> pa.Table:
        """:meth:`tenant_totals` (every tenant) as an Arrow table, without a pandas frame.

        Same rows, order and semantics; columns ``tenant_id`` (string), ``ts``
        (``timestamp[us, UTC]``) and ``value`` (double).

        Raises
        ------
        DataError
            If meters of this kind use different units.
        """
        with self._lock:
            sql, params = self._tenant_totals_query(kind, start, end, resolution, None, site_id)
            return self._arrow(sql, params, _TENANT_COLUMNS)

    def read_forecasts_arrow(
        self,
        meter_ids: list[str],
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pa.Table:
        """The latest issue of each forecast of ``meter_ids`` in ``[start, end)``, as Arrow.

        The rows of :meth:`read_forecasts` with ``latest=True``, in its order;
        columns ``meter_id`` (string), ``ts`` (``timestamp[us, UTC]``),
        ``quantile`` and ``value`` (double).
        """
        clauses, params = self._where(meter_ids, start, end, prefix="f.")
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        columns = ("meter_id", "ts", "quantile", "value")
        sql = (
            "SELECT meter_id, ts, quantile, value FROM (SELECT f.*, row_number() OVER"
            " (PARTITION BY f.meter_id, f.model, f.ts, f.quantile ORDER BY f.issued_at DESC)"
            f" AS rn FROM forecasts f{where}) AS x WHERE rn = 1"
            " ORDER BY meter_id, model, ts, quantile, issued_at"
        )
        with self._lock:
            return self._arrow(sql, params, columns)

    @property
    def data_version(self) -> int | None:
        """None: this backend cannot tell when the data changed (see the embedded store)."""
        return None

    # -- the control loop's timeline -----------------------------------------------------
    def _ensure_control_tables(self) -> None:
        if self._control_tables:
            return
        with self._lock:
            for ddl in _CONTROL_DDL:
                self._exec(ddl)
        self._control_tables = True

    def _has_control_tables(self) -> bool:
        """Whether the control tables exist (both are created together)."""
        if not self._control_tables:
            rows = self._fetch(
                "SELECT count(*) FROM information_schema.tables"
                " WHERE table_name = 'control_setpoints' AND table_schema = current_schema()"
            )
            self._control_tables = bool(rows and rows[0][0])
        return self._control_tables

    def _append(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> int:
        if not rows:
            return 0
        self._ensure_control_tables()
        p = self._param
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([p] * len(columns))})"
        with self._lock, self._transaction():
            for row in rows:
                self._exec(sql, row)
        return len(rows)

    def write_alerts(self, alerts: Sequence[AlertRecord]) -> int:
        """Append alert events in one transaction; returns the rows written."""
        rows = [tuple(getattr(a, c) for c in ALERT_COLUMNS) for a in alerts]
        return self._append("control_alerts", ALERT_COLUMNS, rows)

    def write_setpoints(self, setpoints: Sequence[SetpointRecord]) -> int:
        """Append published setpoints in one transaction; returns the rows written."""
        rows = [tuple(getattr(s, c) for c in SETPOINT_COLUMNS) for s in setpoints]
        return self._append("control_setpoints", SETPOINT_COLUMNS, rows)

    def _timeline(
        self, table: str, columns: Sequence[str], order: str, site_id: str | None
    ) -> pd.DataFrame:
        where, params = (f" WHERE site_id = {self._param}", [site_id]) if site_id else ("", [])
        with self._lock:
            if not self._has_control_tables():
                return pd.DataFrame({c: [] for c in columns})
            rows = self._fetch(
                f"SELECT {', '.join(columns)} FROM {table}{where} ORDER BY {order}", params
            )
        return pd.DataFrame(rows, columns=list(columns))

    def read_alerts(self, site_id: str | None = None) -> pd.DataFrame:
        """The alert timeline (ALERT_COLUMNS), oldest first."""
        return self._timeline("control_alerts", ALERT_COLUMNS, "alert_at", site_id)

    def read_setpoints(self, site_id: str | None = None) -> pd.DataFrame:
        """The setpoint timeline (SETPOINT_COLUMNS), by issue time then asset."""
        return self._timeline("control_setpoints", SETPOINT_COLUMNS, "issued_at, asset", site_id)

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
        """Setpoints of one asset valid at some time in ``[start, end)``, paged in SQL.

        See :meth:`bitgaram.store.base.Store.setpoints_page`.
        """
        p = self._param
        cols = ", ".join(SETPOINT_COLUMNS)
        where = f"site_id = {p} AND asset = {p} AND valid_until > {p} AND valid_from < {p}"
        params: list[Any] = [site_id, asset, _utc(start, "start"), _utc(end, "end")]
        if schedule:
            source = (
                f"(SELECT {cols}, row_number() OVER (PARTITION BY valid_from"
                " ORDER BY issued_at DESC) AS rn"
                f" FROM control_setpoints WHERE {where}) AS s WHERE rn = 1"
            )
        else:
            source = f"control_setpoints WHERE {where}"
        with self._lock:
            if not self._has_control_tables():
                return [], 0
            # the total rides along with the page; a page past the end needs its own count
            rows = self._fetch(
                f"SELECT {cols}, count(*) OVER () FROM {source} ORDER BY valid_from, issued_at"
                f" LIMIT {int(limit)} OFFSET {int(offset)}",
                params,
            )
            if rows:
                total = int(rows[0][-1])
            else:
                total = int(self._fetch(f"SELECT count(*) FROM {source}", params)[0][0])
        page = [
            SetpointRecord(
                site_id=str(r[0]),
                issued_at=_utc_datetime(r[1]),
                asset=str(r[2]),
                kind=str(r[3]),
                power_kw=float(r[4]),
                valid_from=_utc_datetime(r[5]),
                valid_until=_utc_datetime(r[6]),
                mode=str(r[7]),
                reason=None if r[8] is None else str(r[8]),
            )
            for r in rows
        ]
        return page, total

    def latest_setpoint_end(self, site_id: str, asset: str) -> pd.Timestamp | None:
        """The latest ``valid_until`` stored for ``asset`` (UTC), or None without setpoints."""
        p = self._param
        with self._lock:
            if not self._has_control_tables():
                return None
            rows = self._fetch(
                f"SELECT max(valid_until) FROM control_setpoints"
                f" WHERE site_id = {p} AND asset = {p}",
                (site_id, asset),
            )
        if not rows or rows[0][0] is None:
            return None
        return pd.Timestamp(_utc_datetime(rows[0][0]))

    # -- demand-response events ----------------------------------------------------------
    def _has_dr_table(self) -> bool:
        if not self._dr_table:
            rows = self._fetch(
                "SELECT count(*) FROM information_schema.tables"
                " WHERE table_name = 'dr_events' AND table_schema = current_schema()"
            )
            self._dr_table = bool(rows and rows[0][0])
        return self._dr_table

    def write_dr_events(self, events: Sequence[DrEventRecord]) -> int:
        """Keep DR events in one transaction, each replacing its ``(site_id, event_id)`` row."""
        if not events:
            return 0
        p = self._param
        rows = [
            (
                e.site_id,
                e.event_id,
                _utc(e.start_at, "start_at"),
                _utc(e.end_at, "end_at"),
                None if e.target_kw is None else float(e.target_kw),
                e.signal,
                bool(e.opted_in),
                e.reason,
                _utc(e.received_at, "received_at"),
            )
            for e in events
        ]
        insert = (
            f"INSERT INTO dr_events ({', '.join(DR_EVENT_COLUMNS)})"
            f" VALUES ({', '.join([p] * len(DR_EVENT_COLUMNS))})"
        )
        with self._lock:
            if not self._dr_table:
                self._exec(_DR_DDL)
                self._dr_table = True
            with self._transaction():
                for row in rows:
                    self._exec(
                        f"DELETE FROM dr_events WHERE site_id = {p} AND event_id = {p}", row[:2]
                    )
                    self._exec(insert, row)
        return len(rows)

    # -- EV charging sessions --------------------------------------------------------------
    def _has_ev_table(self) -> bool:
        if not self._ev_table:
            rows = self._fetch(
                "SELECT count(*) FROM information_schema.tables"
                " WHERE table_name = 'ev_sessions' AND table_schema = current_schema()"
            )
            self._ev_table = bool(rows and rows[0][0])
        return self._ev_table

    def write_ev_sessions(self, sessions: Sequence[EvSessionRecord]) -> int:
        """Keep EV sessions in one transaction, each replacing its row (see the protocol)."""
        if not sessions:
            return 0
        p = self._param
        times = {"started_at", "ended_at", "departure", "updated_at"}
        rows = [
            tuple(
                _utc(getattr(e, c), c) if c in times else getattr(e, c) for c in EV_SESSION_COLUMNS
            )
            for e in sessions
        ]
        insert = (
            f"INSERT INTO ev_sessions ({', '.join(EV_SESSION_COLUMNS)})"
            f" VALUES ({', '.join([p] * len(EV_SESSION_COLUMNS))})"
        )
        delete = (
            f"DELETE FROM ev_sessions WHERE site_id = {p} AND session_id = {p} AND started_at = {p}"
        )
        with self._lock:
            if not self._ev_table:
                self._exec(_EV_DDL)
                self._ev_table = True
            with self._transaction():
                for row in rows:
                    self._exec(delete, row[:3])
                    self._exec(insert, row)
        return len(rows)

    def read_ev_sessions(
        self, site_id: str | None = None, *, at: pd.Timestamp | None = None
    ) -> list[EvSessionRecord]:
        """The stored EV sessions by start time; with ``at`` those plugged in then."""
        p = self._param
        where: list[str] = []
        params: list[Any] = []
        if site_id:
            where.append(f"site_id = {p}")
            params.append(site_id)
        if at is not None:
            t = _utc(at, "at")
            where.append(f"started_at <= {p} AND (ended_at IS NULL OR ended_at > {p})")
            params += [t, t]
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            if not self._has_ev_table():
                return []
            rows = self._fetch(
                f"SELECT {', '.join(EV_SESSION_COLUMNS)} FROM ev_sessions{clause}"
                " ORDER BY started_at, session_id",
                params,
            )
        return [_ev_record(r) for r in rows]

    def read_dr_events(self, site_id: str | None = None) -> list[DrEventRecord]:
        """The stored DR events, newest start first (timestamps UTC)."""
        where, params = (f" WHERE site_id = {self._param}", [site_id]) if site_id else ("", [])
        with self._lock:
            if not self._has_dr_table():
                return []
            rows = self._fetch(
                f"SELECT {', '.join(DR_EVENT_COLUMNS)} FROM dr_events{where}"
                " ORDER BY start_at DESC, event_id",
                params,
            )
        return [
            DrEventRecord(
                site_id=str(r[0]),
                event_id=str(r[1]),
                start_at=_utc_datetime(r[2]),
                end_at=_utc_datetime(r[3]),
                target_kw=None if r[4] is None else float(r[4]),
                signal=str(r[5]),
                opted_in=bool(r[6]),
                reason=str(r[7]),
                received_at=_utc_datetime(r[8]),
            )
            for r in rows
        ]
