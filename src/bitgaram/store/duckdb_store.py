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
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from bitgaram.errors import StoreError
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


class DuckDBStore(SqlStore):
    """The embedded DuckDB store.

    Parameters
    ----------
    path : str or pathlib.Path
        Database file (created if absent); ``":memory:"`` for a throw-away store.

    Examples
    --------
    >>> store = DuckDBStore(":memory:")
    >>> store.migrate()
    >>> store.count_readings()
    0
    >>> store.close()
    """

    def __init__(self, path: str | Path) -> None:
        memory = str(path) == ":memory:"
        super().__init__("duckdb:///:memory:" if memory else f"duckdb:///{Path(path)}")
        self._key: Path | None = None
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

    def _close(self) -> None:
        if self._con is None:
            return
        self._con.close()
        self._con = None  # type: ignore[assignment]
        if self._key is not None:
            with _OPEN_LOCK:
                con, lock, users = _OPEN[self._key]
                if users <= 1:
                    del _OPEN[self._key]
                    con.close()
                else:
                    _OPEN[self._key] = (con, lock, users - 1)

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
