"""The multi-user store: PostgreSQL through psycopg 3.

- Batches reach the server with ``COPY ... FROM STDIN`` (CSV written by
  Arrow in chunks, no per-row Python) into a temporary staging table that is
  dropped at commit; the merge into ``readings`` is the same set-wise SQL as
  DuckDB's (:mod:`bitgaram.store.sql`).
- ``readings`` is range-partitioned by month on ``ts`` (UTC months); the
  partitions a batch needs are created on demand before it is written. The
  primary key ``(meter_id, ts)`` is a real index here (it includes the
  partition key, as PostgreSQL requires).
- All tables live in one schema: the ``schema`` query parameter of the URL
  (``postgresql://root@127.0.0.1/test?schema=park1``), else
  ``Settings.database_schema``, else ``public``. Tests use a random schema
  per run and drop it afterwards.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import sql as psql

from bitgaram.errors import ConfigError, StoreError
from bitgaram.store.sql import SqlStore

#: Rows per COPY chunk: bounds the memory of the CSV text held at once.
_COPY_CHUNK_ROWS = 250_000

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

#: Identifiers compare bytewise (like DuckDB), which also makes their indexes cheaper.
_ID = 'VARCHAR COLLATE "C"'

_SCHEMA_V1 = [
    f"CREATE TABLE sites (site_id {_ID} PRIMARY KEY, name VARCHAR NOT NULL,"
    " timezone VARCHAR NOT NULL, document TEXT NOT NULL, saved_at TIMESTAMPTZ NOT NULL)",
    f"CREATE TABLE tenants (site_id {_ID} NOT NULL, tenant_id {_ID} NOT NULL,"
    " name VARCHAR NOT NULL, sector VARCHAR, PRIMARY KEY (site_id, tenant_id))",
    f"CREATE TABLE meters (meter_id {_ID} PRIMARY KEY, site_id {_ID} NOT NULL,"
    f" tenant_id {_ID}, kind VARCHAR NOT NULL, unit VARCHAR NOT NULL,"
    " resolution_s INTEGER NOT NULL, is_energy BOOLEAN NOT NULL)",
    "CREATE INDEX meters_kind ON meters (kind, tenant_id)",
    f"CREATE TABLE assets (site_id {_ID} NOT NULL, asset_id {_ID} NOT NULL,"
    f" tenant_id {_ID}, type VARCHAR NOT NULL, meter_id {_ID},"
    " PRIMARY KEY (site_id, asset_id))",
    f"CREATE TABLE readings (meter_id {_ID} NOT NULL, ts TIMESTAMPTZ NOT NULL,"
    " value DOUBLE PRECISION NOT NULL, quality SMALLINT NOT NULL DEFAULT 0,"
    " PRIMARY KEY (meter_id, ts)) PARTITION BY RANGE (ts)",
    "CREATE TABLE quarantine (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    f" received_at TIMESTAMPTZ NOT NULL, source {_ID}, line BIGINT, meter_id {_ID},"
    " ts TIMESTAMPTZ, field VARCHAR, raw VARCHAR, reason VARCHAR)",
    "CREATE INDEX quarantine_source ON quarantine (source, received_at)",
    f"CREATE TABLE forecasts (meter_id {_ID} NOT NULL, issued_at TIMESTAMPTZ NOT NULL,"
    " ts TIMESTAMPTZ NOT NULL, horizon INTEGER NOT NULL, quantile DOUBLE PRECISION NOT NULL,"
    f" value DOUBLE PRECISION NOT NULL, model {_ID} NOT NULL,"
    " PRIMARY KEY (meter_id, issued_at, ts, quantile, model))",
    "CREATE INDEX forecasts_target ON forecasts (meter_id, ts)",
]

_PG_TYPES = {
    pa.string(): _ID,
    pa.float64(): "DOUBLE PRECISION",
    pa.int16(): "SMALLINT",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
}


#: Result columns read as numbers from COPY output; all others are text
#: (timestamps are parsed by :func:`bitgaram.store.sql._finish`).
_CSV_TYPES = {
    "value": pa.float64(),
    "quantile": pa.float64(),
    "horizon": pa.int64(),
    "line": pa.int64(),
}


def split_schema(url: str) -> tuple[str, str | None]:
    """Remove the ``schema`` query parameter from a PostgreSQL URL.

    Examples
    --------
    >>> split_schema("postgresql://root@127.0.0.1/test?schema=park&sslmode=disable")
    ('postgresql://root@127.0.0.1/test?sslmode=disable', 'park')
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    scheme = "postgresql" if parts.scheme in ("postgres", "postgresql+psycopg") else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, rest, parts.fragment)), schema


class PostgresStore(SqlStore):
    """The PostgreSQL store.

    Parameters
    ----------
    url : str
        ``postgresql://user@host:port/db`` with an optional ``schema`` query
        parameter.
    schema : str, optional
        Schema holding the tables when the URL names none (default ``public``).

    Raises
    ------
    ConfigError
        If the schema name is not a plain lower-case identifier.
    StoreError
        If the server cannot be reached.
    """

    _param = "%s"
    _insert_guard = " ON CONFLICT (meter_id, ts) DO NOTHING"

    def __init__(self, url: str, schema: str | None = None) -> None:
        conninfo, url_schema = split_schema(url)
        self.schema = url_schema or schema or "public"
        if not _SCHEMA_NAME.match(self.schema):
            raise ConfigError(
                f"PostgreSQL schema {self.schema!r}: use lower-case letters, digits and _"
            )
        super().__init__(url)
        try:
            self._conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreError(f"{url}: cannot connect to PostgreSQL: {exc}") from exc
        ident = psql.Identifier(self.schema)
        try:
            self._conn.execute(psql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
        except psycopg.errors.UniqueViolation:
            pass  # created concurrently by another process: what we wanted
        except psycopg.Error as exc:
            self._conn.close()
            raise StoreError(f"{url}: cannot create schema {self.schema!r}: {exc}") from exc
        self._conn.execute(psql.SQL("SET search_path TO {}").format(ident))
        # Interval starts are UTC; never let the session's zone leak into results.
        self._conn.execute("SET TIME ZONE 'UTC'")
        # Resampling a year of a park groups ~10^5-10^6 rows: keep it in memory.
        self._conn.execute("SET work_mem = '64MB'")
        self._partitions: set[str] | None = None

    def _close(self) -> None:
        if not self._conn.closed:
            self._conn.close()

    def _run(self, sql: str, params: Sequence[Any]) -> psycopg.Cursor[Any]:
        try:
            return self._conn.execute(sql.encode(), list(params) if params else None)  # type: ignore[call-overload]
        except psycopg.Error as exc:
            raise StoreError(f"{self.url}: {exc}") from exc

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._run(sql, params)

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._run(sql, params).fetchall()

    def _frame(self, sql: str, params: Sequence[Any], columns: Sequence[str]) -> pd.DataFrame:
        # COPY (query) TO STDOUT parsed by Arrow: ~10x faster than building
        # Python rows for large results. COPY takes no bound parameters, so
        # psycopg renders them as literals client-side (same escaping rules).
        try:
            query = psycopg.ClientCursor(self._conn).mogrify(sql, list(params) or None)
            buffer = io.BytesIO()
            with self._conn.cursor().copy(
                f"COPY ({query}) TO STDOUT WITH (FORMAT csv)".encode()
            ) as copy:
                for chunk in copy:
                    buffer.write(chunk)
        except psycopg.Error as exc:
            raise StoreError(f"{self.url}: {exc}") from exc
        if buffer.tell() == 0:
            return pd.DataFrame({c: pd.Series([], dtype="object") for c in columns})
        buffer.seek(0)
        types = {c: _CSV_TYPES.get(c, pa.string()) for c in columns}
        table = pacsv.read_csv(
            buffer,
            read_options=pacsv.ReadOptions(column_names=list(columns)),
            convert_options=pacsv.ConvertOptions(
                column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False
            ),
        )
        return table.to_pandas()

    def _stage(self, table: pa.Table, name: str) -> None:
        columns = ", ".join(f"{f.name} {_PG_TYPES[f.type]}" for f in table.schema)
        self._exec(f"CREATE TEMP TABLE {name} ({columns}) ON COMMIT DROP")
        self._copy(table, name)
        self._exec(f"ANALYZE {name}")

    def _copy(self, table: pa.Table, target: str) -> None:
        """Stream ``table`` into ``target`` with COPY (CSV made by Arrow, in chunks)."""
        options = pacsv.WriteOptions(include_header=False, batch_size=_COPY_CHUNK_ROWS)
        columns = ", ".join(table.column_names)
        try:
            with self._conn.cursor().copy(
                f"COPY {target} ({columns}) FROM STDIN WITH (FORMAT csv)".encode()
            ) as copy:
                for batch in table.to_batches(max_chunksize=_COPY_CHUNK_ROWS):
                    buffer = io.BytesIO()
                    pacsv.write_csv(batch, buffer, options)
                    copy.write(buffer.getbuffer())
        except psycopg.Error as exc:
            raise StoreError(f"{self.url}: COPY into {target} failed: {exc}") from exc

    def _insert_new(self, batch: pa.Table) -> None:
        # Only new, distinct keys: COPY straight into the partitioned table
        # (one pass instead of COPY into staging plus INSERT ... SELECT).
        self._copy(batch, "readings")

    def _temp_table(self, name: str, select: str, params: Sequence[Any] = ()) -> None:
        self._exec(f"CREATE TEMP TABLE {name} ON COMMIT DROP AS {select}", params)
        self._exec(f"ANALYZE {name}")

    def _unstage(self, name: str) -> None:
        # Staging tables are ON COMMIT DROP: gone with their transaction.
        return None

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            with self._conn.transaction():
                yield
        except psycopg.Error as exc:
            raise StoreError(f"{self.url}: transaction failed: {exc}") from exc

    def _bucket(self, column: str, seconds: int) -> str:
        return (
            f"date_bin(INTERVAL '{int(seconds)} seconds', {column},"
            " TIMESTAMPTZ '2000-01-01 00:00:00+00')"
        )

    def _in_list(self, column: str) -> str:
        return f"{column} = ANY(CAST(%s AS VARCHAR[]))"

    def _migrations(self) -> list[tuple[int, str, list[str]]]:
        return [(1, "sites, partitioned readings, quarantine, forecasts", _SCHEMA_V1)]

    def _migration_lock(self) -> None:
        self._exec(
            "SELECT pg_advisory_xact_lock(hashtext('bitgaram.migrate.' || current_schema()))"
        )

    def _before_readings(self, batch: pa.Table) -> None:
        if batch.num_rows == 0:
            return
        micros = pc.cast(batch.column("ts"), pa.int64()).to_numpy()
        months = np.unique(micros.astype("datetime64[us]").astype("datetime64[M]"))
        if self._partitions is None:
            rows = self._fetch(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n"
                " ON n.oid = p.relnamespace WHERE p.relname = 'readings' AND n.nspname = %s",
                (self.schema,),
            )
            self._partitions = {r[0] for r in rows}
        for month in months:
            name = "readings_p" + str(month).replace("-", "")
            if name in self._partitions:
                continue
            lo, hi = str(month), str(month + np.timedelta64(1, "M"))
            try:
                self._conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF readings"
                    f" FOR VALUES FROM ('{lo}-01 00:00:00+00') TO ('{hi}-01 00:00:00+00')".encode()
                )
            except (psycopg.errors.DuplicateTable, psycopg.errors.UniqueViolation):
                pass  # another writer created it between our check and our DDL
            except psycopg.Error as exc:
                raise StoreError(f"{self.url}: cannot create partition {name}: {exc}") from exc
            self._partitions.add(name)
