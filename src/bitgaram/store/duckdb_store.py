"""The embedded store: one DuckDB file (default ``bitgaram.duckdb``).

Batches are handed to DuckDB as registered Arrow tables (zero-copy), so
classification and insertion run inside DuckDB's vectorised engine.

The ``readings`` table carries no physical PRIMARY KEY index: DuckDB maintains
it as an ART index, and bulk inserts into a keyed table ran at about a fifth
of the plain rate in our measurement (``bench/store_write.py``, figures in
``BENCHMARKS.md``). The key ``(meter_id, ts)`` is instead enforced by
the write path (:mod:`bitgaram.store.sql`), which de-duplicates each batch and
anti-joins it with the stored rows in the same transaction; writers in one
process are serialised by a lock and DuckDB allows one writing process per
file, so no other writer can interleave.

Reads do not take that lock: each read borrows a cursor (a separate connection
to the same database) from a small pool, so concurrent readers (the web API's
request threads) run their queries side by side, each seeing the last
committed state, while writes stay serialised on the store's own connection.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Literal

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bitgaram.errors import StoreError
from bitgaram.site import Site
from bitgaram.store.base import (
    AlertRecord,
    DrEventRecord,
    EvSessionRecord,
    Resolution,
    SetpointRecord,
    WriteReport,
)
from bitgaram.store.frames import bucket_seconds
from bitgaram.store.sql import SqlStore

_SCHEMA_V1 = [
    "CREATE TABLE sites (site_id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL,"
    " timezone VARCHAR NOT NULL, document VARCHAR NOT NULL, saved_at TIMESTAMPTZ NOT NULL)",
    "CREATE TABLE tenants (site_id VARCHAR NOT NULL, tenant_id VARCHAR NOT NULL,"
    " name VARCHAR NOT NULL, sector VARCHAR, PRIMARY KEY (site_id, tenant_id))",
    "CREATE TABLE meters (meter_id VARCHAR PRIMARY KEY, site_id VARCHAR NOT NULL,"
    " tenant_id VARCHAR, kind VARCHAR NOT NULL, unit VARCHAR NOT NULL,"
    " resolution_s INTEGER NOT NULL, is_energy BOOLEAN NOT NULL)",
    "CREATE TABLE assets (site_id VARCHAR NOT NULL, asset_id VARCHAR NOT NULL,"
    " tenant_id VARCHAR, type VARCHAR NOT NULL, meter_id VARCHAR,"
    " PRIMARY KEY (site_id, asset_id))",
    # Key (meter_id, ts) enforced by the write path, see the module docstring.
    "CREATE TABLE readings (meter_id VARCHAR NOT NULL, ts TIMESTAMPTZ NOT NULL,"
    " value DOUBLE NOT NULL, quality SMALLINT NOT NULL DEFAULT 0)",
    "CREATE SEQUENCE quarantine_id",
    "CREATE TABLE quarantine (id BIGINT PRIMARY KEY DEFAULT nextval('quarantine_id'),"
    " received_at TIMESTAMPTZ NOT NULL, source VARCHAR, line BIGINT, meter_id VARCHAR,"
    " ts TIMESTAMPTZ, field VARCHAR, raw VARCHAR, reason VARCHAR)",
    "CREATE TABLE forecasts (meter_id VARCHAR NOT NULL, issued_at TIMESTAMPTZ NOT NULL,"
    " ts TIMESTAMPTZ NOT NULL, horizon INTEGER NOT NULL, quantile DOUBLE NOT NULL,"
    " value DOUBLE NOT NULL, model VARCHAR NOT NULL,"
    " PRIMARY KEY (meter_id, issued_at, ts, quantile, model))",
]

#: In-process registry of open databases: DuckDB refuses a second handle on a
#: file with a different configuration, and two stores on one file must share
#: one write lock for the key to stay unique.
_OPEN: dict[Path, tuple[duckdb.DuckDBPyConnection, threading.RLock, int]] = {}
_OPEN_LOCK = threading.Lock()

#: Writes committed to each database file by any store object of this process
#: (one element, shared by every store on the file): DuckDB lets one process
#: write a file, so this counts every change the file can see.
_WRITES: dict[Path, list[int]] = {}

#: Most cursors one store lends to concurrent readers; further readers wait for one.
MAX_READERS = 8

#: One reading as the API's JSON item, ``{"ts":"<UTC start>Z","value":<float>}``, from
#: columns ``ts`` (TIMESTAMPTZ, whole seconds, session zone UTC) and ``value`` (DOUBLE).
_ITEM_SQL = (
    """concat('{"ts":"', replace(CAST(date_trunc('second', CAST(ts AS TIMESTAMP)) AS VARCHAR),"""
    """ ' ', 'T'), 'Z","value":', CAST(value AS VARCHAR), '}')"""
)

_ARROW_TYPES = {"ts": pa.timestamp("us", tz="UTC"), "issued_at": pa.timestamp("us", tz="UTC")}


class _DuckDBHooks(SqlStore):
    """The :class:`SqlStore` transport hooks over one DuckDB connection, ``self._con``."""

    _con: duckdb.DuckDBPyConnection | None
    _staged: set[str]

    def _check_open(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise StoreError(f"{self.url}: store is closed")
        return self._con

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            self._check_open().execute(sql, list(params))
        except duckdb.Error as exc:
            raise StoreError(f"{self.url}: {exc}") from exc

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._check_open().execute(sql, list(params)).fetchall()
        except duckdb.Error as exc:
            raise StoreError(f"{self.url}: {exc}") from exc

    def _frame(self, sql: str, params: Sequence[Any], columns: Sequence[str]) -> pd.DataFrame:
        try:
            table = self._check_open().sql(sql, params=list(params)).to_arrow_table()
        except duckdb.Error as exc:
            raise StoreError(f"{self.url}: {exc}") from exc
        return table.rename_columns(list(columns)).to_pandas()

    def _arrow(self, sql: str, params: Sequence[Any], columns: Sequence[str]) -> pa.Table:
        try:
            table = self._check_open().sql(sql, params=list(params)).to_arrow_table()
        except duckdb.Error as exc:
            raise StoreError(f"{self.url}: {exc}") from exc
        table = table.rename_columns(list(columns))
        for i, name in enumerate(table.column_names):
            column = table.column(i)
            if name in _ARROW_TYPES:
                target = _ARROW_TYPES[name]
            elif pa.types.is_floating(column.type) or pa.types.is_decimal(column.type):
                target = pa.float64()
            elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                target = pa.string()
            else:
                continue
            if column.type != target:
                table = table.set_column(i, name, pc.cast(column, target))
        return table

    def _stage(self, table: pa.Table, name: str) -> None:
        self._check_open().register(name, table)
        self._staged.add(name)

    def _temp_table(self, name: str, select: str, params: Sequence[Any] = ()) -> None:
        self._exec(f"CREATE OR REPLACE TEMP TABLE {name} AS {select}", params)
        self._staged.add(name)

    def _unstage(self, name: str) -> None:
        if name not in self._staged or self._con is None:
            return
        self._staged.discard(name)
        with suppress(duckdb.Error):
            self._con.unregister(name)
        with suppress(duckdb.Error):
            self._con.execute(f"DROP TABLE IF EXISTS temp.{name}")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        con = self._check_open()
        try:
            con.begin()
        except duckdb.Error as exc:
            raise StoreError(f"{self.url}: cannot begin a transaction: {exc}") from exc
        try:
            yield
        except BaseException:
            con.rollback()
            raise
        try:
            con.commit()
        except duckdb.Error as exc:
            con.rollback()
            raise StoreError(f"{self.url}: commit failed: {exc}") from exc

    def _bucket(self, column: str, seconds: int) -> str:
        # time_bucket on TIMESTAMPTZ buckets in UTC by default; the origin
        # (2000-01-03 00:00 UTC) is a midnight, so buckets dividing a day align
        # to UTC midnights.
        return f"time_bucket(INTERVAL '{int(seconds)} seconds', {column})"

    def _in_list(self, column: str) -> str:
        return f"{column} IN (SELECT unnest(CAST(? AS VARCHAR[])))"

    def _migrations(self) -> list[tuple[int, str, list[str]]]:
        return [(1, "sites, readings, quarantine, forecasts", _SCHEMA_V1)]

    def readings_page_json(
        self,
        meter_id: str,
        start: pd.Timestamp | None,
        end: pd.Timestamp | None,
        resolution: Resolution | str,
        limit: int,
        offset: int,
    ) -> tuple[int, str] | None:
        """See :meth:`SqlStore.readings_page_json`; one statement, formatted by DuckDB.

        DuckDB writes a DOUBLE as the shortest text that reads back to the
        same value, which is what Python's ``repr`` writes (tested); the
        statement runs without the GIL, so request threads format in parallel.
        Pages holding timestamps outside the years 1970 to 9999 answer
        ``None`` (their text could differ from Python's).
        """
        seconds = bucket_seconds(resolution)
        clauses, params = self._where(None, start, end)
        where = " AND ".join(["r.meter_id = ?", *clauses])
        if seconds is None:
            rows = f"SELECT r.ts, r.value FROM readings r WHERE {where}"
        else:
            rows = (
                f"SELECT {self._bucket('r.ts', seconds)} AS ts,"
                " CASE WHEN coalesce(m.is_energy, FALSE) THEN sum(r.value)"
                " ELSE avg(r.value) END AS value"
                f" FROM readings r LEFT JOIN meters m ON m.meter_id = r.meter_id WHERE {where}"
                " GROUP BY 1, m.is_energy"
            )
        items_sql = (
            f"coalesce(string_agg({_ITEM_SQL}, ',' ORDER BY ts) FILTER (WHERE isfinite(value)),"
            " ''), coalesce(bool_or(year(ts) < 1970 OR year(ts) > 9999), FALSE)"
        )
        with self._lock:
            if offset == 0:  # the usual request: one sort, and it holds every row
                found = self._fetch(
                    f"SELECT count(*), {items_sql} FROM ({rows})", [meter_id, *params]
                )
                if found[0][0] <= limit:
                    total, items, odd = found[0]
                    return None if odd else (int(total), str(items))
            sql = (
                f"WITH q AS MATERIALIZED ({rows}),"
                " page AS (SELECT ts, value FROM q ORDER BY ts LIMIT ? OFFSET ?)"
                f" SELECT (SELECT count(*) FROM q), {items_sql} FROM page"
            )
            found = self._fetch(sql, [meter_id, *params, int(limit), int(offset)])
        total, items, odd = found[0]
        return None if odd else (int(total), str(items))


class _Reader(_DuckDBHooks):
    """One pooled cursor: :class:`SqlStore`'s read methods on a connection of its own.

    Its lock is private (one borrower at a time), so readers never wait for
    the store's writers or for each other.
    """

    def __init__(self, url: str, con: duckdb.DuckDBPyConnection) -> None:
        super().__init__(url)
        self._con = con
        self._staged = set()
        self._exec("SET TimeZone = 'UTC'")

    def _close(self) -> None:
        if self._con is not None:
            with suppress(duckdb.Error):
                self._con.close()
            self._con = None


class DuckDBStore(_DuckDBHooks):
    """The embedded DuckDB store.

    Parameters
    ----------
    path : str or pathlib.Path
        Database file (created if absent); ``":memory:"`` for a throw-away store.
    max_readers : int
        Most cursors lent to concurrent readers (see the module docstring).

    Examples
    --------
    >>> store = DuckDBStore(":memory:")
    >>> store.migrate()
    >>> store.count_readings()
    0
    >>> store.close()
    """

    def __init__(self, path: str | Path, max_readers: int = MAX_READERS) -> None:
        memory = str(path) == ":memory:"
        super().__init__("duckdb:///:memory:" if memory else f"duckdb:///{Path(path)}")
        self._key: Path | None = None
        self._writes = [0]
        try:
            if memory:
                self._con = duckdb.connect(":memory:")
            else:
                self._key = Path(path).resolve()
                with _OPEN_LOCK:
                    if self._key in _OPEN:
                        con, lock, users = _OPEN[self._key]
                        _OPEN[self._key] = (con, lock, users + 1)
                    else:
                        self._key.parent.mkdir(parents=True, exist_ok=True)
                        con, lock = duckdb.connect(str(self._key)), threading.RLock()
                        _OPEN[self._key] = (con, lock, 1)
                self._lock = lock
                self._writes = _WRITES.setdefault(self._key, [0])
                # A cursor is a separate connection to the same database.
                self._con = con.cursor()
        except duckdb.Error as exc:
            raise StoreError(
                f"{self.url}: cannot open the DuckDB file (DuckDB allows one writing process "
                f"per file: is another bitgaram process using it?): {exc}"
            ) from exc
        # Interval starts are UTC; never let the session's zone leak into results.
        self._con.execute("SET TimeZone = 'UTC'")
        self._staged: set[str] = set()
        self._max_readers = max(1, int(max_readers))
        self._idle: list[_Reader] = []
        self._lent = 0
        self._pool = threading.Condition(threading.Lock())

    # -- the reader pool ------------------------------------------------------------
    @contextmanager
    def _reading(self) -> Iterator[_Reader]:
        """Borrow a reader cursor (waiting while all ``max_readers`` are lent)."""
        with self._pool:
            while True:
                con = self._check_open()
                if self._idle:
                    reader = self._idle.pop()
                    break
                if self._lent < self._max_readers:
                    try:
                        reader = _Reader(self.url, con.cursor())
                    except duckdb.Error as exc:
                        raise StoreError(f"{self.url}: cannot open a reader: {exc}") from exc
                    break
                self._pool.wait()
            self._lent += 1
        try:
            yield reader
        finally:
            with self._pool:
                self._lent -= 1
                if self._con is None:
                    reader._close()
                else:
                    self._idle.append(reader)
                self._pool.notify()

    @property
    def data_version(self) -> int:
        """A counter that changes whenever a store of this process commits a write to the file.

        Lets callers cache what they computed from the data (the web API's
        views, its site) until the next write. Every store object on the same
        file shares the counter, and DuckDB lets only one process write a
        file, so no write is missed; an in-memory store counts its own.
        """
        return self._writes[0]

    def _close(self) -> None:
        if self._con is None:
            return
        with self._pool:
            for reader in self._idle:
                reader._close()
            self._idle.clear()
            self._con.close()
            self._con = None
            self._pool.notify_all()
        if self._key is not None:
            with _OPEN_LOCK:
                con, lock, users = _OPEN[self._key]
                if users <= 1:
                    del _OPEN[self._key]
                    con.close()
                else:
                    _OPEN[self._key] = (con, lock, users - 1)

    # -- reads: on a pooled cursor, without the write lock ------------------------------
    def read_readings(
        self,
        meter_ids: list[str] | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        resolution: Resolution | str = Resolution.RAW,
    ) -> pd.DataFrame:
        """See :meth:`SqlStore.read_readings`."""
        with self._reading() as reader:
            return reader.read_readings(meter_ids, start, end, resolution)

    def read_readings_arrow(
        self,
        meter_ids: list[str] | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        resolution: Resolution | str = Resolution.RAW,
    ) -> pa.Table:
        """See :meth:`SqlStore.read_readings_arrow`."""
        with self._reading() as reader:
            return reader.read_readings_arrow(meter_ids, start, end, resolution)

    def readings_page_json(
        self,
        meter_id: str,
        start: pd.Timestamp | None,
        end: pd.Timestamp | None,
        resolution: Resolution | str,
        limit: int,
        offset: int,
    ) -> tuple[int, str] | None:
        """See :meth:`SqlStore.readings_page_json`."""
        with self._reading() as reader:
            return reader.readings_page_json(meter_id, start, end, resolution, limit, offset)

    def tenant_totals_arrow(
        self,
        kind: str,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        resolution: Resolution | str = Resolution.HOUR,
        *,
        site_id: str | None = None,
    ) -> pa.Table:
        """See :meth:`SqlStore.tenant_totals_arrow`."""
        with self._reading() as reader:
            return reader.tenant_totals_arrow(kind, start, end, resolution, site_id=site_id)

    def read_forecasts_arrow(
        self,
        meter_ids: list[str],
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pa.Table:
        """See :meth:`SqlStore.read_forecasts_arrow`."""
        with self._reading() as reader:
            return reader.read_forecasts_arrow(meter_ids, start, end)

    def latest_per_meter(self, meter_ids: list[str]) -> dict[str, pd.Timestamp]:
        """See :meth:`SqlStore.latest_per_meter`."""
        with self._reading() as reader:
            return reader.latest_per_meter(meter_ids)

    def latest_ts(self, meter_ids: list[str] | None = None) -> pd.Timestamp | None:
        """See :meth:`SqlStore.latest_ts`."""
        with self._reading() as reader:
            return reader.latest_ts(meter_ids)

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
        """See :meth:`SqlStore.tenant_totals`."""
        with self._reading() as reader:
            return reader.tenant_totals(kind, start, end, resolution, tenant_ids, site_id=site_id)

    def park_totals(
        self,
        kind: str,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        resolution: Resolution | str = Resolution.HOUR,
        *,
        site_id: str | None = None,
    ) -> pd.DataFrame:
        """See :meth:`SqlStore.park_totals`."""
        with self._reading() as reader:
            return reader.park_totals(kind, start, end, resolution, site_id=site_id)

    def read_forecasts(
        self,
        meter_ids: list[str] | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        model: str | None = None,
        latest: bool = True,
        issued_before: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """See :meth:`SqlStore.read_forecasts`."""
        with self._reading() as reader:
            return reader.read_forecasts(meter_ids, start, end, model, latest, issued_before)

    def load_site(self, site_id: str | None = None) -> Site:
        """See :meth:`SqlStore.load_site`."""
        with self._reading() as reader:
            return reader.load_site(site_id)

    def list_sites(self) -> list[str]:
        """See :meth:`SqlStore.list_sites`."""
        with self._reading() as reader:
            return reader.list_sites()

    def count_readings(self, meter_id: str | None = None) -> int:
        """See :meth:`SqlStore.count_readings`."""
        with self._reading() as reader:
            return reader.count_readings(meter_id)

    def list_quarantine(self, source: str | None = None, limit: int = 100) -> pd.DataFrame:
        """See :meth:`SqlStore.list_quarantine`."""
        with self._reading() as reader:
            return reader.list_quarantine(source, limit)

    def count_quarantine(self, source: str | None = None) -> int:
        """See :meth:`SqlStore.count_quarantine`."""
        with self._reading() as reader:
            return reader.count_quarantine(source)

    def read_alerts(self, site_id: str | None = None) -> pd.DataFrame:
        """See :meth:`SqlStore.read_alerts`."""
        with self._reading() as reader:
            return reader.read_alerts(site_id)

    def read_setpoints(self, site_id: str | None = None) -> pd.DataFrame:
        """See :meth:`SqlStore.read_setpoints`."""
        with self._reading() as reader:
            return reader.read_setpoints(site_id)

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
        """See :meth:`SqlStore.setpoints_page`."""
        with self._reading() as reader:
            return reader.setpoints_page(
                site_id, asset, start, end, limit=limit, offset=offset, schedule=schedule
            )

    def latest_setpoint_end(self, site_id: str, asset: str) -> pd.Timestamp | None:
        """See :meth:`SqlStore.latest_setpoint_end`."""
        with self._reading() as reader:
            return reader.latest_setpoint_end(site_id, asset)

    def read_dr_events(self, site_id: str | None = None) -> list[DrEventRecord]:
        """See :meth:`SqlStore.read_dr_events`."""
        with self._reading() as reader:
            return reader.read_dr_events(site_id)

    def read_ev_sessions(
        self, site_id: str | None = None, *, at: pd.Timestamp | None = None
    ) -> list[EvSessionRecord]:
        """See :meth:`SqlStore.read_ev_sessions`."""
        with self._reading() as reader:
            return reader.read_ev_sessions(site_id, at=at)

    # -- writes: the store's connection and lock; each bumps data_version --------------
    def write_ev_sessions(self, sessions: Sequence[EvSessionRecord]) -> int:
        """See :meth:`SqlStore.write_ev_sessions`."""
        try:
            return super().write_ev_sessions(sessions)
        finally:
            self._writes[0] += 1

    def write_dr_events(self, events: Sequence[DrEventRecord]) -> int:
        """See :meth:`SqlStore.write_dr_events`."""
        try:
            return super().write_dr_events(events)
        finally:
            self._writes[0] += 1

    def write_alerts(self, alerts: Sequence[AlertRecord]) -> int:
        """See :meth:`SqlStore.write_alerts`."""
        try:
            return super().write_alerts(alerts)
        finally:
            self._writes[0] += 1

    def write_setpoints(self, setpoints: Sequence[SetpointRecord]) -> int:
        """See :meth:`SqlStore.write_setpoints`."""
        try:
            return super().write_setpoints(setpoints)
        finally:
            self._writes[0] += 1

    def write_readings(
        self,
        readings: pd.DataFrame | pa.Table,
        *,
        quarantine: pd.DataFrame | pa.Table | None = None,
        on_conflict: Literal["quarantine", "replace"] = "quarantine",
        source: str = "",
    ) -> WriteReport:
        """See :meth:`SqlStore.write_readings`."""
        try:
            return super().write_readings(
                readings, quarantine=quarantine, on_conflict=on_conflict, source=source
            )
        finally:
            self._writes[0] += 1

    def write_forecasts(self, forecasts: pd.DataFrame | pa.Table) -> int:
        """See :meth:`SqlStore.write_forecasts`."""
        try:
            return super().write_forecasts(forecasts)
        finally:
            self._writes[0] += 1

    def compact_readings(
        self, start: pd.Timestamp, end: pd.Timestamp, resolution: Resolution | str
    ) -> tuple[int, int]:
        """See :meth:`SqlStore.compact_readings`."""
        try:
            return super().compact_readings(start, end, resolution)
        finally:
            self._writes[0] += 1

    def save_site(self, site: Site) -> None:
        """See :meth:`SqlStore.save_site`."""
        try:
            super().save_site(site)
        finally:
            self._writes[0] += 1
