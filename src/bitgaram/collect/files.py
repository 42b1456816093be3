"""Import readings from CSV and Parquet files, in chunks, each chunk one transaction.

Two layouts are understood:

- **long**: one reading per row, columns ``meter`` (or ``meter_id``),
  ``timestamp`` (or ``ts``/``time``/``datetime``), ``value`` and optionally
  ``quality``;
- **wide**: a timestamp column plus one column per meter (the column name is
  the meter id).

A file is streamed in chunks of about ``chunk_rows`` rows, so a 10-million-row
file never sits in memory at once. Each chunk is validated with
:func:`bitgaram.collect.validate.validate_readings` and written with one
:meth:`~bitgaram.store.base.Store.write_readings` call, which commits the
chunk's readings and quarantined rows in one transaction. A killed import
therefore loses nothing already committed, and re-running it is idempotent:
readings already stored are counted as *unchanged*, and quarantined rows
already recorded for the same file (same source, line, field and reason) are
not recorded twice.

Reading, validating and writing overlap: while chunk *k* is written, chunk
*k+1* is validated and chunk *k+2* parsed, each in its own thread (Arrow, NumPy
and DuckDB release the GIL). Transactions still commit strictly in file order.

Line numbers are the lines a text editor shows: the header is line 1 of a CSV.
Rows that do not have the header's number of fields are quarantined with field
``row``. Quoted fields spanning several lines are not supported. For Parquet,
``line`` is the 1-based row number.
"""

from __future__ import annotations

import csv
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Literal, TypeVar, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from bitgaram.collect.validate import (
    DEFAULT_RULES,
    ValidationRules,
    empty_quarantine,
    storable_quarantine,
    validate_readings,
    with_fingerprints,
)
from bitgaram.errors import DataError
from bitgaram.site import Site
from bitgaram.store.base import QUARANTINE_COLUMNS, Store, WriteReport

#: Default number of source rows per chunk (one transaction each).
DEFAULT_CHUNK_ROWS = 1_000_000

#: Accepted header names, lower-cased, for each canonical column.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "meter_id": ("meter_id", "meter", "meter_name", "sensor"),
    "ts": ("ts", "timestamp", "time", "datetime", "date_time"),
    "value": ("value", "reading", "val"),
    "quality": ("quality", "quality_flag"),
}

_CSV_BLOCK_BYTES = 8 << 20


class FileFormat(StrEnum):
    """Layout of a readings file."""

    LONG = "long"
    WIDE = "wide"


@dataclass(frozen=True)
class RawChunk:
    """A chunk of raw readings ready for validation.

    Attributes
    ----------
    frame : pandas.DataFrame
        Columns ``meter_id``, ``ts``, ``value``, ``line`` and maybe ``quality``,
        as read (text for CSV).
    rows : int
        Source rows (lines) the chunk covers.
    rejected : pandas.DataFrame
        Malformed rows found while parsing (quarantine columns).
    bytes_read : int
        Position reached in the file [bytes] (for progress bars; 0 if unknown).
    """

    frame: pd.DataFrame
    rows: int
    rejected: pd.DataFrame
    bytes_read: int = 0


@dataclass(frozen=True)
class ImportReport:
    """Outcome of importing one file.

    Attributes
    ----------
    source : str
        The file (absolute path), as recorded on quarantined rows.
    rows_read : int
        Data rows read from the file (wide rows count once).
    readings : int
        Readings in those rows (rows x meter columns for wide files).
    inserted : int
        New readings stored.
    unchanged : int
        Readings already stored with the same value.
    replaced : int
        Readings whose stored value was replaced (``on_conflict="replace"``).
    quarantined : int
        Rows newly quarantined (bad input and conflicts with stored values).
    chunks : int
        Transactions committed.
    first_bad : pandas.DataFrame
        The first few quarantined rows (quarantine columns), for display.
    """

    source: str
    rows_read: int = 0
    readings: int = 0
    inserted: int = 0
    unchanged: int = 0
    replaced: int = 0
    quarantined: int = 0
    chunks: int = 0
    first_bad: pd.DataFrame = field(default_factory=empty_quarantine, compare=False, repr=False)

    @property
    def accepted(self) -> int:
        """Readings now stored from this file (new, unchanged or replaced)."""
        return self.inserted + self.unchanged + self.replaced


@dataclass(frozen=True)
class ChunkProgress:
    """Sent to the progress callback after each committed chunk."""

    source: str
    chunk: int
    rows_read: int
    bytes_read: int
    bytes_total: int
    write: WriteReport


def _canonical_columns(columns: list[str]) -> dict[str, str]:
    """Map file column -> canonical name for the columns with a known alias."""
    mapping: dict[str, str] = {}
    lowered = {c.strip().lower(): c for c in columns}
    for canonical, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            if alias in lowered:
                mapping[lowered[alias]] = canonical
                break
    return mapping


def detect_format(columns: list[str]) -> FileFormat:
    """Guess the layout from the header: long if it has meter and value columns.

    Raises
    ------
    DataError
        If there is no timestamp column.
    """
    found = set(_canonical_columns(columns).values())
    if "ts" not in found:
        raise DataError(
            f"no timestamp column among {columns}; name it one of {COLUMN_ALIASES['ts']}"
        )
    if {"meter_id", "value"} <= found:
        return FileFormat.LONG
    return FileFormat.WIDE


def _to_long(table: pd.DataFrame, fmt: FileFormat, columns: list[str], where: str) -> pd.DataFrame:
    """Rename (long) or melt (wide) a chunk into meter_id, ts, value[, quality], line."""
    mapping = _canonical_columns(columns)
    if fmt is FileFormat.LONG:
        missing = {"meter_id", "ts", "value"} - set(mapping.values())
        if missing:
            raise DataError(f"{where}: long format needs columns meter, timestamp, value")
        keep = [*mapping, "line"]
        return table[keep].rename(columns=mapping)
    ts_col = next(c for c, canon in mapping.items() if canon == "ts")
    meters = [c for c in columns if c != ts_col]
    if not meters:
        raise DataError(f"{where}: wide format needs at least one meter column besides {ts_col!r}")
    n = len(table)
    parts = [
        pd.DataFrame(
            {
                "meter_id": pd.Series([meter.strip()] * n, index=table.index, dtype="str"),
                "ts": table[ts_col],
                "value": table[meter],
                "line": table["line"],
            }
        )
        for meter in meters
    ]
    long = pd.concat(parts, ignore_index=True)
    return long


def _csv_header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), None)
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text: {exc.reason}") from exc
    if not header:
        raise DataError(f"{path}: empty file, expected a header line")
    return header


def _bad_rows_frame(source: str, bad: list[tuple[int, str, int, int]]) -> pd.DataFrame:
    if not bad:
        return empty_quarantine()
    frame = pd.DataFrame(
        {
            "source": pd.Series([source] * len(bad), dtype="str"),
            "line": pd.Series([b[0] for b in bad], dtype="Int64"),
            "meter_id": pd.Series([""] * len(bad), dtype="str"),
            "ts": pd.Series(pd.NaT, index=range(len(bad)), dtype="datetime64[us, UTC]"),
            "field": pd.Series(["row"] * len(bad), dtype="str"),
            "raw": pd.Series([b[1] for b in bad], dtype="str"),
            "reason": pd.Series(
                [f"bad_row: expected {b[2]} fields, found {b[3]}" for b in bad], dtype="str"
            ),
        }
    )
    return frame[list(QUARANTINE_COLUMNS)]


def _iter_csv(
    path: Path, fmt: FileFormat | None, chunk_rows: int, source: str
) -> Iterator[RawChunk]:
    header = _csv_header(path)
    fmt = fmt or detect_format(header)
    invalid: list[tuple[int, str, int, int]] = []

    def on_invalid(row: pa_csv.InvalidRow) -> Literal["skip"]:
        # Serial parsing gives the physical line number of every malformed row.
        invalid.append((int(row.number or 0), row.text, row.expected_columns, row.actual_columns))
        return "skip"

    read_opts = pa_csv.ReadOptions(
        block_size=_CSV_BLOCK_BYTES, use_threads=False, column_names=header, skip_rows=1
    )
    parse_opts = pa_csv.ParseOptions(ignore_empty_lines=False, invalid_row_handler=on_invalid)
    types = {c: pa.large_string() for c in header}
    if fmt is FileFormat.LONG:
        # Meter ids and time stamps repeat (one per meter per interval): dictionary-
        # encoding them while parsing lets validation parse each distinct value once.
        for column, canonical in _canonical_columns(header).items():
            if canonical in ("meter_id", "ts"):
                types[column] = pa.dictionary(pa.int32(), pa.large_string())
    convert_opts = pa_csv.ConvertOptions(column_types=types, strings_can_be_null=False)
    handle: IO[bytes] = path.open("rb")
    try:
        reader = pa_csv.open_csv(
            handle, read_options=read_opts, parse_options=parse_opts, convert_options=convert_opts
        )
        pending: list[pa.RecordBatch] = []
        pending_rows = 0
        done = 0  # valid rows already handed out
        reported = 0  # malformed rows already handed out

        def flush(limit: int, final: bool) -> RawChunk:
            nonlocal done, reported, pending, pending_rows
            table_pa = pa.Table.from_batches(pending, schema=schema)
            head, rest = table_pa.slice(0, limit), table_pa.slice(limit)
            table = head.to_pandas(types_mapper=_str_mapper)
            k = np.arange(done, done + len(table), dtype=np.int64)
            # Valid row k sits after the malformed rows whose position among valid rows is <= k.
            lines = np.array([b[0] for b in invalid], dtype=np.int64)
            positions = lines - 2 - np.arange(len(lines))
            table["line"] = k + 2 + np.searchsorted(positions, k, side="right")
            # Malformed rows up to this chunk's last line belong to it.
            last = int(table["line"].iloc[-1]) if len(table) else 0
            upto = len(invalid) if final else int(np.searchsorted(lines, last, side="right"))
            new_bad = invalid[reported:upto]
            chunk = RawChunk(
                frame=_to_long(table, fmt, header, str(path)),
                rows=len(table) + len(new_bad),
                rejected=_bad_rows_frame(source, new_bad),
                bytes_read=handle.tell(),
            )
            done += len(table)
            reported = max(reported, upto)
            pending = rest.to_batches()
            pending_rows = rest.num_rows
            return chunk

        schema = pa.schema([(c, types[c]) for c in header])
        for batch in reader:
            pending.append(batch)
            pending_rows += batch.num_rows
            while pending_rows >= chunk_rows:
                yield flush(chunk_rows, final=False)
        if pending_rows or len(invalid) > reported:
            yield flush(pending_rows, final=True)
    except pa.ArrowInvalid as exc:
        raise DataError(f"{path}: cannot parse CSV: {exc}") from exc
    finally:
        handle.close()


def _str_mapper(dtype: pa.DataType) -> object:
    if pa.types.is_large_string(dtype) or pa.types.is_string(dtype):
        return pd.StringDtype("pyarrow", na_value=np.nan)
    return None


def _iter_parquet(
    path: Path, fmt: FileFormat | None, chunk_rows: int, source: str
) -> Iterator[RawChunk]:
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"{path}: cannot read Parquet: {exc}") from exc
    columns = list(parquet.schema_arrow.names)
    fmt = fmt or detect_format(columns)
    done = 0
    size = path.stat().st_size
    total = max(parquet.metadata.num_rows, 1)
    for batch in parquet.iter_batches(batch_size=chunk_rows):
        table = batch.to_pandas(types_mapper=_str_mapper)
        table["line"] = np.arange(done + 1, done + 1 + len(table), dtype=np.int64)
        done += len(table)
        yield RawChunk(
            frame=_to_long(table, fmt, columns, str(path)),
            rows=len(table),
            rejected=empty_quarantine(),
            bytes_read=int(size * done / total),
        )


def read_chunks(
    path: str | Path,
    fmt: FileFormat | str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    source: str | None = None,
) -> Iterator[RawChunk]:
    """Stream a CSV or Parquet readings file as raw chunks.

    Parameters
    ----------
    path : str or pathlib.Path
        ``.csv`` (optionally any other text extension) or ``.parquet``/``.pq``.
    fmt : FileFormat, str or None
        ``"long"`` or ``"wide"``; guessed from the header when None.
    chunk_rows : int
        Approximate source rows per chunk.
    source : str or None
        Name recorded on malformed rows (default: the absolute path).

    Yields
    ------
    RawChunk
    """
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: no such file")
    layout = FileFormat(fmt) if fmt is not None else None
    name = source if source is not None else str(file.resolve())
    if file.suffix.lower() in {".parquet", ".pq"}:
        yield from _iter_parquet(file, layout, chunk_rows, name)
    else:
        yield from _iter_csv(file, layout, chunk_rows, name)


#: Identity of a quarantined row: (source, line or -1, field, raw, reason).
QuarantineKey = tuple[str, int, str, str, str]


def _quarantine_keys(frame: pd.DataFrame) -> list[QuarantineKey]:
    lines = frame["line"].astype("Int64").fillna(-1).astype("int64").tolist()
    texts = [
        frame[c].astype("str").fillna("").tolist() for c in ("source", "field", "raw", "reason")
    ]
    return list(zip(texts[0], lines, texts[1], texts[2], texts[3], strict=True))


def known_quarantine(store: Store, sources: str | list[str]) -> set[QuarantineKey]:
    """Keys of the rows already quarantined from ``sources``.

    Used with :func:`drop_known_quarantine` so that re-running an import does
    not record the same bad row twice.
    """
    keys: set[QuarantineKey] = set()
    for source in [sources] if isinstance(sources, str) else sources:
        stored = store.list_quarantine(source=source, limit=2**31 - 1)
        if not stored.empty:
            keys.update(_quarantine_keys(stored))
    return keys


def drop_known_quarantine(bad: pd.DataFrame, known: set[QuarantineKey]) -> pd.DataFrame:
    """The rows of a quarantine frame whose key is not in ``known``."""
    if bad.empty or not known:
        return bad
    fresh = np.array([key not in known for key in _quarantine_keys(bad)], dtype=bool)
    return bad[fresh].reset_index(drop=True)


_T = TypeVar("_T")


def _prefetched(items: Iterator[_T], name: str) -> Iterator[_T]:
    """Produce the next item in a background thread while the consumer works on this one.

    Arrow's CSV parser, NumPy and DuckDB release the GIL, so reading, validating
    and writing consecutive chunks overlap. At most one item waits in the queue.
    """
    slots: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(kind: str, item: object) -> bool:
        """Queue an item unless the consumer has gone; False if it has."""
        while not stop.is_set():
            try:
                slots.put((kind, item), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer("item", item):
                    return
            offer("done", None)
        except BaseException as exc:  # handed to the consumer, re-raised there
            offer("error", exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # releases the file even when the consumer stopped early

    worker = threading.Thread(target=produce, name=f"bitgaram-{name}", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = slots.get()
            if kind == "done":
                return
            if kind == "error":
                assert isinstance(item, BaseException)
                raise item
            yield cast(_T, item)
    finally:
        stop.set()
        worker.join(timeout=5)


def _validated(
    chunks: Iterator[RawChunk], site: Site, source: str, rules: ValidationRules
) -> Iterator[tuple[RawChunk, pd.DataFrame, pd.DataFrame]]:
    for chunk in chunks:
        good, bad = validate_readings(chunk.frame, site, source, rules=rules, keep_records=True)
        if len(chunk.rejected):
            bad = pd.concat([chunk.rejected, bad], ignore_index=True)
        # Fingerprinted: importing the same file again quarantines nothing new.
        yield chunk, good, with_fingerprints(storable_quarantine(bad))


def import_file(
    store: Store,
    site: Site,
    path: str | Path,
    *,
    fmt: FileFormat | str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_conflict: Literal["quarantine", "replace"] = "quarantine",
    rules: ValidationRules = DEFAULT_RULES,
    progress: Callable[[ChunkProgress], None] | None = None,
    keep_bad: int = 10,
) -> ImportReport:
    """Import a readings file into a store, one transaction per chunk.

    Parameters
    ----------
    store : Store
        Destination; the site must already be saved in it.
    site : Site
        Meters (ids, units, limits) and timezone of naive timestamps.
    path : str or pathlib.Path
        CSV or Parquet file, long or wide layout.
    fmt : FileFormat, str or None
        Layout; guessed from the header when None.
    chunk_rows : int
        Source rows per transaction.
    on_conflict : {"quarantine", "replace"}
        What to do with a reading whose key is stored with a different value.
    rules : ValidationRules
        Spike rule thresholds.
    progress : callable, optional
        Called after each committed chunk.
    keep_bad : int
        How many quarantined rows to keep in :attr:`ImportReport.first_bad`.

    Returns
    -------
    ImportReport

    Raises
    ------
    DataError
        If the file is missing or unreadable, or lacks required columns.
    StoreError
        If a chunk cannot be written (earlier chunks stay committed).
    """
    file = Path(path)
    source = str(file.resolve())
    bytes_total = file.stat().st_size if file.is_file() else 0
    known = known_quarantine(store, source)
    totals = WriteReport()
    rows_read = readings = chunks = 0
    first_bad: list[pd.DataFrame] = []
    kept = 0
    # Three stages in flight: read chunk k+2, validate chunk k+1, write chunk k.
    raw = _prefetched(read_chunks(file, fmt, chunk_rows, source), "read")
    for chunk, good, bad in _prefetched(_validated(raw, site, source, rules), "validate"):
        bad = drop_known_quarantine(bad, known)
        report = store.write_readings(
            good, quarantine=bad if len(bad) else None, on_conflict=on_conflict, source=source
        )
        totals = totals + report
        chunks += 1
        rows_read += chunk.rows
        readings += len(chunk.frame) + len(chunk.rejected)
        if kept < keep_bad and len(bad):
            first_bad.append(bad.head(keep_bad - kept))
            kept += len(first_bad[-1])
        if progress is not None:
            progress(
                ChunkProgress(source, chunks, rows_read, chunk.bytes_read, bytes_total, report)
            )
    return ImportReport(
        source=source,
        rows_read=rows_read,
        readings=readings,
        inserted=totals.inserted,
        unchanged=totals.unchanged,
        replaced=totals.replaced,
        quarantined=totals.quarantined,
        chunks=chunks,
        first_bad=pd.concat(first_bad, ignore_index=True) if first_bad else empty_quarantine(),
    )
