"""Normalise readings, quarantine and forecast batches into typed Arrow tables.

Every backend writes the same Arrow schemas (:data:`READINGS_SCHEMA`, ...), so
type coercion and input checks happen once, here, column-wise (no row loops):
a batch of ten million readings is checked in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bitgaram.errors import DataError
from bitgaram.store.base import (
    FORECAST_COLUMNS,
    QUARANTINE_COLUMNS,
    READING_COLUMNS,
    Quality,
    Resolution,
)

_TS = pa.timestamp("us", tz="UTC")

#: Arrow schema of a normalised readings batch.
READINGS_SCHEMA = pa.schema(
    [
        pa.field("meter_id", pa.string(), nullable=False),
        pa.field("ts", _TS, nullable=False),
        pa.field("value", pa.float64(), nullable=False),
        pa.field("quality", pa.int16(), nullable=False),
    ]
)

#: Arrow schema of a normalised quarantine batch (``received_at`` is set by the store).
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string()),
        pa.field("line", pa.int64()),
        pa.field("meter_id", pa.string()),
        pa.field("ts", _TS),
        pa.field("field", pa.string()),
        pa.field("raw", pa.string()),
        pa.field("reason", pa.string()),
    ]
)

#: Arrow schema of a normalised forecasts batch.
FORECASTS_SCHEMA = pa.schema(
    [
        pa.field("meter_id", pa.string(), nullable=False),
        pa.field("issued_at", _TS, nullable=False),
        pa.field("ts", _TS, nullable=False),
        pa.field("horizon", pa.int32(), nullable=False),
        pa.field("quantile", pa.float64(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
    ]
)

_SECONDS = {
    Resolution.MIN15: 900,
    Resolution.HOUR: 3600,
    Resolution.DAY: 86400,
}


def bucket_seconds(resolution: Resolution | str) -> int | None:
    """Width of a resampling interval [s]; ``None`` for raw readings.

    Parameters
    ----------
    resolution : Resolution or str
        ``"raw"``, ``"15min"``, ``"1h"``, ``"1D"`` or any positive pandas
        duration that divides a day (e.g. ``"30min"``).

    Returns
    -------
    int or None

    Raises
    ------
    DataError
        If the resolution is not a duration, or does not divide a day (UTC
        buckets must tile days so that daily totals equal sums of buckets).

    Examples
    --------
    >>> bucket_seconds("1h")
    3600
    """
    text = str(resolution.value if isinstance(resolution, Resolution) else resolution)
    if text == Resolution.RAW.value:
        return None
    try:
        known = Resolution(text)
    except ValueError:
        known = None
    if known is not None:
        return _SECONDS[known]
    try:
        seconds = pd.Timedelta(text).total_seconds()
    except ValueError as exc:
        raise DataError(
            f"resolution {text!r} is not a duration (use raw, 15min, 1h or 1D)"
        ) from exc
    if seconds <= 0 or seconds != int(seconds) or 86400 % int(seconds):
        raise DataError(f"resolution {text!r} must be a whole number of seconds dividing one day")
    return int(seconds)


def _as_table(frame: pd.DataFrame | pa.Table, columns: tuple[str, ...], what: str) -> pa.Table:
    if isinstance(frame, pa.Table):
        table = frame
    elif isinstance(frame, pd.DataFrame):
        present = [c for c in columns if c in frame.columns]
        table = pa.Table.from_pandas(frame[present], preserve_index=False)
    else:
        raise DataError(f"{what}: expected a pandas DataFrame or pyarrow Table, got {type(frame)}")
    return table


def _timestamps(column: pa.ChunkedArray, what: str, name: str) -> pa.ChunkedArray:
    if pa.types.is_timestamp(column.type):
        if column.type.tz is None:
            raise DataError(
                f"{what}: column {name!r} holds naive timestamps; "
                "give tz-aware UTC interval starts (e.g. pd.to_datetime(..., utc=True))"
            )
        # Sub-microsecond digits carry no meaning for metering; truncate them.
        return pc.cast(column, _TS, safe=False)
    if pa.types.is_null(column.type):
        return pa.chunked_array([pa.nulls(len(column), _TS)])
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        parsed = pd.to_datetime(column.to_pandas(), utc=True, errors="coerce", format="ISO8601")
        return pa.chunked_array([pa.array(parsed, type=_TS)])
    raise DataError(f"{what}: column {name!r} has type {column.type}, expected timestamps")


def _require(table: pa.Table, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise DataError(f"{what}: missing column(s) {', '.join(missing)}")


def _cast(column: pa.ChunkedArray, target: pa.DataType, what: str, name: str) -> pa.ChunkedArray:
    try:
        return pc.cast(column, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError(f"{what}: column {name!r} cannot be read as {target}: {exc}") from exc


def normalize_readings(readings: pd.DataFrame | pa.Table) -> pa.Table:
    """Check and coerce a readings batch to :data:`READINGS_SCHEMA`.

    Parameters
    ----------
    readings : pandas.DataFrame or pyarrow.Table
        Columns :data:`READING_COLUMNS`; ``quality`` is optional (default
        :attr:`Quality.GOOD`). ``ts`` must be tz-aware (converted to UTC).

    Returns
    -------
    pyarrow.Table

    Raises
    ------
    DataError
        If a column is missing or mistyped, a key is null, or a value is NaN
        or infinite (such rows belong in the quarantine, not the store).
    """
    what = "readings"
    table = _as_table(readings, READING_COLUMNS, what)
    _require(table, ("meter_id", "ts", "value"), what)
    n = table.num_rows
    meter = _cast(table.column("meter_id"), pa.string(), what, "meter_id")
    ts = _timestamps(table.column("ts"), what, "ts")
    value = _cast(table.column("value"), pa.float64(), what, "value")
    if "quality" in table.column_names:
        quality = _cast(table.column("quality"), pa.int16(), what, "quality")
        quality = pc.fill_null(quality, int(Quality.GOOD))
    else:
        quality = pa.chunked_array([pa.array(np.zeros(n, dtype=np.int16))])
    for name, column in (("meter_id", meter), ("ts", ts), ("value", value)):
        if column.null_count:
            raise DataError(
                f"{what}: {column.null_count} row(s) with a null/NaN {name!r}; quarantine them"
            )
    if n and not pc.all(pc.is_finite(value)).as_py():
        bad = n - pc.sum(pc.is_finite(value)).as_py()
        raise DataError(f"{what}: {bad} row(s) with a NaN or infinite value; quarantine them")
    return pa.Table.from_arrays([meter, ts, value, quality], schema=READINGS_SCHEMA)


def text_array(values: Sequence[object]) -> pa.Array:
    """Arrow strings of ``values`` (``str`` of each; None, NA and NaN become null).

    Examples
    --------
    >>> text_array(["a", None, float("nan"), 3]).to_pylist()
    ['a', None, None, '3']
    """
    return pa.array(
        [None if v is None or v is pd.NA or (isinstance(v, float) and v != v)
         else v if type(v) is str else str(v) for v in values],
        type=pa.string(),
    )  # fmt: skip


def _arrow_column(column: pd.Series, what: str, name: str) -> pa.Array:
    try:
        return pa.array(column, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return text_array(column.tolist())  # mixed objects: as text (ts parses what it can)


def normalize_quarantine(quarantine: pd.DataFrame | pa.Table, source: str) -> pa.Table:
    """Coerce a quarantine batch to :data:`QUARANTINE_SCHEMA`.

    Missing columns are null; an empty or missing ``source`` becomes
    ``source``; ``raw`` and text columns are stored as strings; ``ts`` keeps
    only what parses as a timestamp (the raw text stays in ``raw``).
    """
    what = "quarantine"
    if isinstance(quarantine, pd.DataFrame):
        # Column by column: a quarantine batch is small (a live flush holds a few
        # rows), where pandas' per-call costs dwarf the work (frame copy, casts).
        columns: dict[str, pa.Array] = {}
        for name in QUARANTINE_COLUMNS:
            if name not in quarantine.columns:
                continue
            if name in ("line", "ts"):
                columns[name] = _arrow_column(quarantine[name], what, name)
            else:
                columns[name] = text_array(quarantine[name].tolist())
        table = pa.table(columns) if columns else pa.table({"source": pa.nulls(len(quarantine))})
    else:
        table = _as_table(quarantine, QUARANTINE_COLUMNS, what)
    n = table.num_rows
    arrays: list[pa.ChunkedArray] = []
    for field in QUARANTINE_SCHEMA:
        if field.name in table.column_names:
            column = table.column(field.name)
            if field.name == "ts":
                column = _timestamps(column, what, "ts")
            else:
                column = _cast(column, field.type, what, field.name)
        else:
            column = pa.chunked_array([pa.nulls(n, field.type)])
        arrays.append(column)
    table = pa.Table.from_arrays(arrays, schema=QUARANTINE_SCHEMA)
    src = table.column("source")
    filled = pc.if_else(pc.fill_null(pc.equal(src, ""), True), source, src)
    return table.set_column(0, QUARANTINE_SCHEMA.field("source"), filled)


def normalize_forecasts(forecasts: pd.DataFrame | pa.Table) -> pa.Table:
    """Check and coerce a forecasts batch to :data:`FORECASTS_SCHEMA`.

    ``horizon`` is the lead in steps, ``quantile`` a level in [0, 1] (point
    forecasts are stored as the 0.5 level), ``value`` a finite number.

    Raises
    ------
    DataError
        If a column is missing, a value is null, NaN or out of range.
    """
    what = "forecasts"
    table = _as_table(forecasts, FORECAST_COLUMNS, what)
    _require(table, FORECAST_COLUMNS, what)
    arrays = []
    for field in FORECASTS_SCHEMA:
        column = table.column(field.name)
        if pa.types.is_timestamp(field.type):
            column = _timestamps(column, what, field.name)
        else:
            column = _cast(column, field.type, what, field.name)
        if column.null_count:
            raise DataError(f"{what}: {column.null_count} row(s) with a null {field.name!r}")
        arrays.append(column)
    table = pa.Table.from_arrays(arrays, schema=FORECASTS_SCHEMA)
    if table.num_rows:
        for name in ("quantile", "value"):
            if not pc.all(pc.is_finite(table.column(name))).as_py():
                raise DataError(f"{what}: NaN or infinite {name!r}")
        q = table.column("quantile")
        if pc.min(q).as_py() < 0 or pc.max(q).as_py() > 1:
            raise DataError(f"{what}: quantile levels must lie in [0, 1]")
    return table


def keys_unique_and_sorted(table: pa.Table) -> bool:
    """Whether every meter's rows are contiguous with strictly increasing ``ts``.

    Such a batch has no duplicate ``(meter_id, ts)`` keys, which lets the
    backends skip the in-batch de-duplication (a hash aggregate) on the common
    bulk-import path. ``False`` only means "not proven", not "has duplicates".
    """
    n = table.num_rows
    if n < 2:
        return True
    meter = table.column("meter_id").combine_chunks()
    ts = pc.cast(table.column("ts"), pa.int64()).combine_chunks()
    same = pc.equal(meter.slice(1), meter.slice(0, n - 1))
    rising = pc.greater(ts.slice(1), ts.slice(0, n - 1))
    # Within a meter's run the timestamps must rise.
    if not pc.all(pc.or_(pc.invert(same), rising)).as_py():
        return False
    # Each meter must form one run: the run-start ids must all differ.
    starts = pc.filter(meter.slice(1), pc.invert(same))
    runs = 1 + len(starts)
    distinct = pc.count_distinct(pa.concat_arrays([meter.slice(0, 1), starts])).as_py()
    return bool(runs == distinct)


def to_frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow result as a pandas frame (tz-aware UTC timestamps, str ids)."""
    return table.to_pandas()


def batch_meters(table: pa.Table, unique_sorted: bool = False) -> list[str]:
    """Distinct meter ids of a normalised batch, sorted.

    With ``unique_sorted`` (see :func:`keys_unique_and_sorted`) each meter is
    one run, so only the run starts are looked at.
    """
    meter = table.column("meter_id").combine_chunks()
    n = len(meter)
    if unique_sorted and n > 1:
        same = pc.equal(meter.slice(1), meter.slice(0, n - 1))
        meter = pa.concat_arrays([meter.slice(0, 1), pc.filter(meter.slice(1), pc.invert(same))])
    return sorted(pc.unique(meter).to_pylist())


def sort_by_key(table: pa.Table) -> pa.Table:
    """The batch with each meter's rows contiguous and in time order.

    Sorts on integer codes of the meter ids (first-seen order, not
    alphabetical) and the timestamps, which is several times faster than a
    string sort; only contiguity matters to :func:`keys_unique_and_sorted`.
    """
    if table.num_rows < 2:
        return table
    codes = pc.dictionary_encode(table.column("meter_id").combine_chunks()).indices
    ts = pc.cast(table.column("ts"), pa.int64()).combine_chunks()
    order = np.lexsort((ts.to_numpy(), codes.to_numpy()))
    return table.take(pa.array(order))
