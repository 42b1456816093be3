"""The multi-user store: PostgreSQL through psycopg 3.

- Batches reach the server with ``COPY ... FROM STDIN`` in PostgreSQL's
  binary format, encoded column-wise with NumPy from the Arrow batch (no
  per-row Python; the server parses no text, which halves the COPY cost of
  CSV), straight into ``readings`` when the batch holds only new keys, else
  into a temporary staging table dropped at commit; the merge into
  ``readings`` is the same set-wise SQL as DuckDB's (:mod:`bitgaram.store.sql`).
- A connection that broke (server restart, network cut, killed backend) is
  reopened by the next call; the failed call itself raises
  :class:`~bitgaram.errors.StoreError` and left nothing behind (one
  transaction), so the caller retries it (the live collector does, with
  bounded backoff).
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

import contextlib
import io
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import sql as psql

from bitgaram.errors import ConfigError, StoreError
from bitgaram.store.sql import FINGERPRINT, SqlStore

log = logging.getLogger(__name__)

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


def _array_type(arrow: pa.DataType) -> str:
    """The PostgreSQL array type of an Arrow type (no collation: the target column has it)."""
    return "VARCHAR[]" if arrow == pa.string() else f"{_PG_TYPES[arrow]}[]"


_GROUP_BY_WARM = False


def _warm_group_by() -> None:
    """Run Arrow's hash aggregation once per process, on one row.

    Its first call sets up Arrow's query engine, 60 ms on this machine; the
    per-meter overlap test of every write uses it, and a collector that just
    started would otherwise pay that inside its first batch (a stall while
    the broker redelivers its backlog) instead of while it opens the store.
    """
    global _GROUP_BY_WARM
    if not _GROUP_BY_WARM:
        one = pa.table({"meter_id": ["m"], "ts": pa.array([0], pa.timestamp("us", tz="UTC"))})
        one.group_by("meter_id").aggregate([("ts", "min"), ("ts", "max")])
        _GROUP_BY_WARM = True


#: Quarantine rows up to which a batch is inserted as arrays in one statement
#: (more go through a staging table and COPY).
_INLINE_QUARANTINE_ROWS = 1000

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


_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00Z in µs since 1970
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, extension length
_BINARY_TRAILER = b"\xff\xff"

#: Wire format of the fixed-width Arrow types in binary COPY (big-endian).
_BINARY_FIXED: dict[pa.DataType, np.dtype[Any]] = {
    pa.float64(): np.dtype(">f8"),
    pa.int16(): np.dtype(">i2"),
    pa.int32(): np.dtype(">i4"),
    pa.int64(): np.dtype(">i8"),
    pa.timestamp("us", tz="UTC"): np.dtype(">i8"),
}


def binary_copy_supported(schema: pa.Schema) -> bool:
    """Whether :func:`encode_binary_copy` can encode every column of ``schema``."""
    return all(f.type == pa.string() or f.type in _BINARY_FIXED for f in schema)


def encode_binary_copy(
    table: pa.Table | pa.RecordBatch, *, header: bool = True, trailer: bool = True
) -> bytes:
    """Encode ``table`` for ``COPY ... FROM STDIN WITH (FORMAT binary)``.

    Column-wise with NumPy: each field's length word and payload are
    scattered into one buffer at offsets computed for all rows at once.
    Strings are sent as UTF-8 (the connection's client encoding), timestamps
    as µs since 2000-01-01 UTC, numbers big-endian; nulls as length -1. The
    target columns must have exactly the matching types (``VARCHAR``,
    ``TIMESTAMPTZ``, ``DOUBLE PRECISION``, ``SMALLINT``, ``INTEGER``,
    ``BIGINT``).

    Parameters
    ----------
    table : pyarrow.Table or pyarrow.RecordBatch
        Columns of type string, float64, int16, int32, int64 or
        timestamp[us, UTC].
    header, trailer : bool
        Start and end the COPY stream (leave them out for the middle chunks
        of a stream sent in several pieces).

    Returns
    -------
    bytes
        Header, one tuple per row, trailer.

    Raises
    ------
    StoreError
        If a column has another type.
    """
    n = table.num_rows
    sizes = np.full(n, 2, dtype=np.int64)  # the field-count word of each tuple
    fields: list[tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]] = []
    for name, column in zip(table.schema.names, table.columns, strict=True):
        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        valid = None if array.null_count == 0 else pc.is_valid(array).to_numpy(zero_copy_only=False)
        if array.type == pa.string():
            array = pc.fill_null(array, "") if valid is not None else array
            buffers = array.buffers()
            offsets = np.frombuffer(
                buffers[1], dtype=np.int32, count=n + 1, offset=array.offset * 4
            ).astype(np.int64)
            data = (
                np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] else np.zeros(0, np.uint8)
            )
            widths = np.diff(offsets)
            fields.append((widths, data, offsets, valid))
        elif array.type in _BINARY_FIXED:
            wire = _BINARY_FIXED[array.type]
            values = array.cast(pa.int64()) if pa.types.is_timestamp(array.type) else array
            if valid is not None:
                values = pc.fill_null(values, 0)
            raw = values.to_numpy(zero_copy_only=False)
            if pa.types.is_timestamp(array.type):
                raw = raw - _PG_EPOCH_US
            packed = raw.astype(wire).view(np.uint8).reshape(n, wire.itemsize)
            widths = np.full(n, wire.itemsize, dtype=np.int64)
            fields.append((widths, packed, None, valid))
        else:
            raise StoreError(f"binary COPY: column {name!r} has unsupported type {array.type}")
        sizes += 4 + (widths if valid is None else np.where(valid, widths, 0))
    starts = np.zeros(n, dtype=np.int64)
    if n:
        np.cumsum(sizes[:-1], out=starts[1:])
    total = int(sizes.sum())
    head = len(_BINARY_HEADER) if header else 0
    out = np.empty(head + total + (len(_BINARY_TRAILER) if trailer else 0), dtype=np.uint8)
    out[:head] = np.frombuffer(_BINARY_HEADER[:head], dtype=np.uint8)
    out[head + total :] = np.frombuffer(_BINARY_TRAILER if trailer else b"", dtype=np.uint8)
    body = out[head : head + total]
    count = np.frombuffer(np.array(len(fields), dtype=">i2").tobytes(), dtype=np.uint8)
    body[starts[:, None] + np.arange(2)] = count
    pos = starts + 2
    for wid, payload, offs, ok in fields:
        length = wid if ok is None else np.where(ok, wid, -1)
        body[pos[:, None] + np.arange(4)] = length.astype(">i4").view(np.uint8).reshape(n, 4)
        pos = pos + 4
        if offs is not None:  # strings: payload bytes of row i go to pos[i]...
            lo, hi = int(offs[0]), int(offs[-1])
            target = np.repeat(pos - offs[:-1], wid) + np.arange(lo, hi)
            body[target] = payload[lo:hi]
        elif ok is None:
            body[pos[:, None] + np.arange(payload.shape[1])] = payload
        else:
            body[pos[ok][:, None] + np.arange(payload.shape[1])] = payload[ok]
        pos = pos + (wid if ok is None else np.where(ok, wid, 0))
    return out.tobytes()


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

    #: COPY format of writes: ``"binary"`` (default; CSV where a column type
    #: has no binary encoder) or ``"csv"`` (the previous path, kept for
    #: comparison in ``bench/collect_stages.py``).
    copy_format: Literal["binary", "csv"] = "binary"

    def __init__(self, url: str, schema: str | None = None) -> None:
        conninfo, url_schema = split_schema(url)
        self.schema = url_schema or schema or "public"
        if not _SCHEMA_NAME.match(self.schema):
            raise ConfigError(
                f"PostgreSQL schema {self.schema!r}: use lower-case letters, digits and _"
            )
        super().__init__(url)
        self._conninfo = conninfo
        self._closed = False
        self._partitions: set[str] | None = None
        self._conn = self._connect()
        self.reconnects = 0
        _warm_group_by()

    def _connect(self) -> psycopg.Connection[Any]:
        """Open a connection and prepare its session (schema, UTC, memory)."""
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreError(f"{self.url}: cannot connect to PostgreSQL: {exc}") from exc
        ident = psql.Identifier(self.schema)
        try:
            # UniqueViolation: created concurrently by another process, what we wanted.
            with contextlib.suppress(psycopg.errors.UniqueViolation):
                conn.execute(psql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
            conn.execute(psql.SQL("SET search_path TO {}").format(ident))
            # Binary COPY sends text as is: make sure the server reads it as UTF-8.
            conn.execute("SET client_encoding TO 'UTF8'")
            # Interval starts are UTC; never let the session's zone leak into results.
            conn.execute("SET TIME ZONE 'UTC'")
            # Resampling a year of a park groups ~10^5-10^6 rows: keep it in memory.
            conn.execute("SET work_mem = '64MB'")
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(f"{self.url}: cannot prepare schema {self.schema!r}: {exc}") from exc
        return conn

    def _connection(self) -> psycopg.Connection[Any]:
        """The live connection, reopened first if the previous one broke.

        Only called at the start of a statement: a connection that breaks
        inside a transaction fails that transaction (the caller sees
        :class:`StoreError` and may retry), and the next call reconnects.

        Raises
        ------
        StoreError
            If the store was closed, or the server cannot be reached.
        """
        if self._closed:
            raise StoreError(f"{self.url}: the store is closed")
        if self._conn.closed or self._conn.broken:
            log.warning("%s: connection lost; reconnecting", self.url)
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = self._connect()
            self._partitions = None
            self.reconnects += 1
        return self._conn

    def _close(self) -> None:
        self._closed = True
        if not self._conn.closed:
            self._conn.close()

    def _run(self, sql: str, params: Sequence[Any]) -> psycopg.Cursor[Any]:
        try:
            conn = self._connection()
            return conn.execute(sql.encode(), list(params) if params else None)  # type: ignore[call-overload]
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
            conn = self._connection()
            query = psycopg.ClientCursor(conn).mogrify(sql, list(params) or None)
            buffer = io.BytesIO()
            with conn.cursor().copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)".encode()) as copy:
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
        """Stream ``table`` into ``target`` with COPY, in chunks.

        Binary format when every column type has an encoder (always for
        readings), else CSV written by Arrow.
        """
        columns = ", ".join(table.column_names)
        binary = self.copy_format == "binary" and binary_copy_supported(table.schema)
        options = pacsv.WriteOptions(include_header=False, batch_size=_COPY_CHUNK_ROWS)
        fmt = "binary" if binary else "csv"
        try:
            with (
                self._connection()
                .cursor()
                .copy(f"COPY {target} ({columns}) FROM STDIN WITH (FORMAT {fmt})".encode()) as copy
            ):
                if binary:
                    copy.write(_BINARY_HEADER)
                for batch in table.to_batches(max_chunksize=_COPY_CHUNK_ROWS):
                    if binary:
                        copy.write(encode_binary_copy(batch, header=False, trailer=False))
                        continue
                    buffer = io.BytesIO()
                    pacsv.write_csv(batch, buffer, options)
                    copy.write(buffer.getbuffer())
                if binary:
                    copy.write(_BINARY_TRAILER)
        except psycopg.Error as exc:
            raise StoreError(f"{self.url}: COPY into {target} failed: {exc}") from exc

    def _overlaps(self, batch: pa.Table, meters: list[str], span: list[Any]) -> bool:
        # Per meter, not the batch's whole span: a live batch mixes meters
        # whose readings run at different times (late ones, redeliveries),
        # and the batch-wide span would send it down the slow merge path
        # whenever one meter's stored rows fall inside another's window. One
        # index probe per meter on the primary key (meter_id, ts).
        spans = batch.group_by("meter_id").aggregate([("ts", "min"), ("ts", "max")])
        return bool(
            self._fetch(
                "SELECT EXISTS (SELECT 1 FROM unnest(CAST(%s AS VARCHAR[]),"
                " CAST(%s AS TIMESTAMPTZ[]), CAST(%s AS TIMESTAMPTZ[])) AS b (meter_id, lo, hi)"
                # LATERAL ... LIMIT 1 keeps the planner from hashing the whole table.
                " CROSS JOIN LATERAL (SELECT 1 FROM readings r WHERE r.meter_id = b.meter_id"
                " AND r.ts >= b.lo AND r.ts <= b.hi LIMIT 1) AS hit)",
                (
                    spans.column("meter_id").to_pylist(),
                    spans.column("ts_min").to_pylist(),
                    spans.column("ts_max").to_pylist(),
                ),
            )[0][0]
        )

    def _insert_new(self, batch: pa.Table) -> None:
        # Only new, distinct keys: COPY straight into the partitioned table
        # (one pass instead of COPY into staging plus INSERT ... SELECT).
        self._copy(batch, "readings")

    def _insert_quarantine(self, table: pa.Table, now: datetime) -> None:
        if table.num_rows > _INLINE_QUARANTINE_ROWS:
            super()._insert_quarantine(table, now)
            return
        # A live batch quarantines a few rows: one INSERT of the rows as arrays
        # instead of a staging table (CREATE, COPY, ANALYZE, INSERT ... SELECT),
        # four round trips and catalog writes fewer per batch. Same rule: a row
        # already quarantined under its fingerprint is skipped.
        columns = table.column_names
        arrays = ", ".join(f"CAST(%s AS {_array_type(f.type)})" for f in table.schema)
        fingerprint = (
            f" WHERE s.{FINGERPRINT} IS NULL OR NOT EXISTS (SELECT 1 FROM quarantine q"
            f" WHERE q.{FINGERPRINT} = s.{FINGERPRINT})"
            if FINGERPRINT in columns
            else ""
        )
        self._exec(
            f"INSERT INTO quarantine (received_at, {', '.join(columns)})"
            f" SELECT CAST(%s AS TIMESTAMPTZ), {', '.join('s.' + c for c in columns)}"
            f" FROM unnest({arrays}) AS s ({', '.join(columns)}){fingerprint}",
            (now, *(table.column(c).to_pylist() for c in columns)),
        )

    def _temp_table(self, name: str, select: str, params: Sequence[Any] = ()) -> None:
        self._exec(f"CREATE TEMP TABLE {name} ON COMMIT DROP AS {select}", params)
        self._exec(f"ANALYZE {name}")

    def _unstage(self, name: str) -> None:
        # Staging tables are ON COMMIT DROP: gone with their transaction.
        return None

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            conn = self._connection()
            with conn.transaction():
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
        return [
            (1, "sites, partitioned readings, quarantine, forecasts", _SCHEMA_V1),
            (
                2,
                "quarantine fingerprint: a redelivered message is quarantined once",
                [
                    f"ALTER TABLE quarantine ADD COLUMN {FINGERPRINT} {_ID}",
                    # The redelivery check is one index probe per quarantined row.
                    f"CREATE INDEX quarantine_{FINGERPRINT} ON quarantine ({FINGERPRINT})"
                    f" WHERE {FINGERPRINT} IS NOT NULL",
                ],
            ),
        ]

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
                self._connection().execute(
                    f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF readings"
                    f" FOR VALUES FROM ('{lo}-01 00:00:00+00') TO ('{hi}-01 00:00:00+00')".encode()
                )
            except (psycopg.errors.DuplicateTable, psycopg.errors.UniqueViolation):
                pass  # another writer created it between our check and our DDL
            except psycopg.Error as exc:
                raise StoreError(f"{self.url}: cannot create partition {name}: {exc}") from exc
            self._partitions.add(name)
