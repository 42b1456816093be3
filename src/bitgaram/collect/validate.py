"""Validation of incoming readings: one pure, vectorised function for every collector.

:func:`validate_readings` takes a batch of raw readings (strings from a CSV,
numbers from Parquet, decoded MQTT/Modbus/HTTP payloads) and splits it into
rows ready for :meth:`bitgaram.store.base.Store.write_readings` and rows for
the quarantine, each with its source, line, field and reason. It does no I/O.

Rules, applied in this order (a row gets the reason of the first rule it fails):

1. ``unknown_meter``: the meter id is not a meter of the site.
2. ``bad_timestamp``: the timestamp cannot be parsed. Timestamps with a zone
   offset (``Z``, ``+09:00``) are converted to UTC; naive timestamps are
   wall-clock time of the site's timezone and are converted to UTC.
3. ``nonexistent_time`` / ``ambiguous_time``: a naive timestamp falls in the
   spring-forward gap or the fall-back fold of the site timezone. The fold
   cannot be resolved row by row, so such rows are quarantined rather than
   guessed.
3b. ``out_of_window``: the timestamp lies outside the accepted window
   (:meth:`ValidationRules.window`, by default 2000-01-01 to now plus the
   longest forecast horizon). A reading from year 9999 would otherwise break
   every page that turns stored times into dates.
4. ``missing_value`` / ``non_numeric`` / ``not_finite``: the value is empty,
   not a number, NaN or infinite.
5. ``bad_quality``: a quality flag that is not a :class:`~bitgaram.store.base.Quality`.
6. ``negative``: a negative value on a meter that does not allow one
   (:attr:`bitgaram.site.model.Meter.allows_negative`).
7. ``above_max``: above the meter's ``max_value``.
8. ``out_of_bounds``: outside the physical range of the meter's unit
   (:data:`UNIT_BOUNDS`, e.g. relative humidity 0-100 %, irradiance <= 2000 W/m2).
9. ``spike``: ``|value|`` above :attr:`ValidationRules.spike_factor` times the
   meter's :attr:`~ValidationRules.spike_quantile` quantile of ``|value|`` in the
   batch. The rule catches unit mix-ups (W for kW, a factor 1000) and sensor
   garbage (``999999``) but not genuine peaks: with the defaults a load meter
   whose 99th percentile is 3 kWh per hour flags only readings above 150 kWh.
   It needs :attr:`~ValidationRules.spike_min_count` readings of the meter in the
   batch and a positive quantile, so small live batches rely on rules 7-8. The
   quantile is estimated from an evenly strided sample of at most 4096 readings
   per meter (exact below that).
10. ``duplicate_conflict``: the same (meter, UTC timestamp) appears several
    times in the batch with different values or qualities; every copy is
    quarantined. Exact duplicates collapse into one reading silently.

Every text kept with a quarantined row passes :func:`storable_text`: control
characters (NUL first of all, which PostgreSQL cannot store) and unpaired
surrogates are escaped and the text is cut to :data:`FIELD_LIMIT` characters,
so a poison value is quarantined with its reason instead of failing the write.

Everything runs on whole columns in Arrow/NumPy (one Python loop per meter for
the spike quantile); per-row Python only ever touches the (few) rows that fail.
Good rows come out sorted by (meter, ts), the order the store writes fastest.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bitgaram.config import Settings
from bitgaram.errors import ConfigError, DataError
from bitgaram.site import Site
from bitgaram.site.model import Meter, Unit
from bitgaram.store.base import (
    FINGERPRINT,
    RECORD,
    Quality,
)

#: Physical range of each unit (inclusive) [unit]; ``None`` means unbounded on that side.
#: Irradiance: the solar constant is 1361 W/m2 and cloud enhancement at ground
#: level stays below ~1.5 suns, so 2000 W/m2 leaves margin. Carbon intensity of
#: the dirtiest grids is ~1.1 kgCO2/kWh. Temperatures outside -90..70 degC have
#: never been measured outdoors, 150 allows process heat sensors.
UNIT_BOUNDS: dict[Unit, tuple[float | None, float | None]] = {
    Unit.PERCENT: (0.0, 100.0),
    Unit.W_PER_M2: (0.0, 2000.0),
    Unit.DEGC: (-90.0, 150.0),
    Unit.M_PER_S: (0.0, 120.0),
    Unit.KGCO2_PER_KWH: (0.0, 5.0),
}

#: Reason codes, index = position in this tuple + 1 (0 means "good"), with the field they blame.
REASONS: tuple[tuple[str, str], ...] = (
    ("unknown_meter", "meter_id"),
    ("bad_timestamp", "ts"),
    ("nonexistent_time", "ts"),
    ("ambiguous_time", "ts"),
    ("out_of_window", "ts"),
    ("missing_value", "value"),
    ("non_numeric", "value"),
    ("not_finite", "value"),
    ("bad_quality", "quality"),
    ("negative", "value"),
    ("above_max", "value"),
    ("out_of_bounds", "value"),
    ("spike", "value"),
    ("duplicate_conflict", "value"),
)
_CODE = {name: i + 1 for i, (name, _) in enumerate(REASONS)}
#: The field each reason blames, indexed by code - 1.
REASON_FIELDS = np.array([f for _, f in REASONS])

_OFFSET_RE = r"\d{2}:\d{2}(?::\d{2}(?:\.\d*)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
_NUMBER_RE = r"^\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?i:nan|inf|infinity))\s*$"
#: Rows up to which per-row Python beats Arrow's fixed cost per call.
_SMALL_BATCH = 2048
#: Readings per meter used to estimate the spike quantile (a strided sample above that).
_SPIKE_SAMPLE = 4096

#: Longest text kept in one quarantine field [characters]; the rest is cut, with a note.
FIELD_LIMIT = 1000

#: Longest original record kept with a quarantined row [characters] (JSON of its fields).
RECORD_LIMIT = 8 * FIELD_LIMIT

#: Earliest accepted reading (UTC): older timestamps are typos or epoch-zero defaults.
EARLIEST_READING = pd.Timestamp("2000-01-01T00:00:00Z")

#: Longest forecast horizon bitgaram issues [h] (the forecasters' ``max_horizon``
#: default). Readings may be stamped up to this far ahead of the clock: a meter
#: whose clock runs ahead is tolerated, a timestamp from year 9999 is not.
LONGEST_FORECAST_HORIZON_HOURS = 48

# C0 controls, DEL and C1 controls: invisible, and NUL cannot be stored by PostgreSQL.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M")


@dataclass(frozen=True)
class ValidationRules:
    """Tunable thresholds of the spike rule (see the module docstring, rule 9).

    Parameters
    ----------
    spike_factor : float
        A reading is a spike above ``spike_factor`` x the meter's quantile [-].
    spike_quantile : float
        Quantile of ``|value|`` per meter in the batch used as the scale [-].
    spike_min_count : int
        Minimum readings of a meter in the batch for the rule to apply.
    earliest : pandas.Timestamp
        Earliest accepted timestamp (UTC), see rule 3b.
    ahead : pandas.Timedelta
        How far ahead of the clock a timestamp may lie, see rule 3b.
    now : pandas.Timestamp, optional
        The clock (``None``: the current time); fixed in tests and replays.
    """

    spike_factor: float = 50.0
    spike_quantile: float = 0.99
    spike_min_count: int = 200
    earliest: pd.Timestamp = field(default_factory=lambda: EARLIEST_READING)
    ahead: pd.Timedelta = field(
        default_factory=lambda: pd.Timedelta(hours=LONGEST_FORECAST_HORIZON_HOURS)
    )
    now: pd.Timestamp | None = None

    def window(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The accepted timestamps ``[earliest, now + ahead]`` (UTC).

        Examples
        --------
        >>> rules = ValidationRules(now=pd.Timestamp("2025-01-01T00:00Z"))
        >>> [str(t) for t in rules.window()]
        ['2000-01-01 00:00:00+00:00', '2025-01-03 00:00:00+00:00']
        """
        now = pd.Timestamp.now(tz="UTC") if self.now is None else self.now
        return _as_utc(self.earliest), _as_utc(now) + self.ahead


def _as_utc(ts: pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(ts)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def storable_text(text: object, limit: int = FIELD_LIMIT) -> str:
    """Text any store can hold: controls and lone surrogates escaped, cut to ``limit``.

    Parameters
    ----------
    text : object
        Any value; non-strings are turned into text with ``str``.
    limit : int
        Longest result before the note on what was cut [characters].

    Returns
    -------
    str

    Examples
    --------
    >>> storable_text("degC\\x00")
    'degC\\\\x00'
    >>> storable_text("x" * 12, limit=4)
    'xxxx...[8 more characters]'
    """
    out = text if isinstance(text, str) else str(text)
    if len(out) > limit:
        out = f"{out[:limit]}...[{len(out) - limit} more characters]"
    if not out.isascii():
        out = out.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", out)


def storable_texts(values: Sequence[object], limit: int = FIELD_LIMIT) -> np.ndarray:
    """:func:`storable_text` of every value as an object array (None, NA and NaN kept as None)."""
    out = np.empty(len(values), dtype=object)
    out[:] = [None if v is None or v is pd.NA or (isinstance(v, float) and v != v)
              else storable_text(v, limit) for v in values]  # fmt: skip
    return out


def storable_quarantine(bad: pd.DataFrame) -> pd.DataFrame:
    """``bad`` with every text column passed through :func:`storable_text` (nulls kept)."""
    if not len(bad):
        return bad
    out = bad.copy()
    for name in ("source", "meter_id", "field", "raw", "reason", "record"):
        if name in out.columns:
            # A record holds several fields of at most FIELD_LIMIT each: room for all of them.
            limit = RECORD_LIMIT if name == "record" else FIELD_LIMIT
            out[name] = pd.Series(storable_texts(out[name].tolist(), limit), index=out.index)
    return out


DEFAULT_RULES = ValidationRules()


def rules_from_settings(settings: Settings) -> ValidationRules:
    """Validation rules with the timestamp window of ``settings``
    (``BITGARAM_READINGS_EARLIEST``, ``BITGARAM_READINGS_AHEAD_HOURS``).

    Raises
    ------
    ConfigError
        If the earliest timestamp cannot be parsed.

    Examples
    --------
    >>> rules_from_settings(Settings(readings_ahead_hours=6)).ahead
    Timedelta('0 days 06:00:00')
    """
    try:
        earliest = _as_utc(pd.Timestamp(settings.readings_earliest))
    except ValueError as exc:
        raise ConfigError(
            f"BITGARAM_READINGS_EARLIEST={settings.readings_earliest!r} is not a timestamp"
        ) from exc
    return ValidationRules(
        earliest=earliest, ahead=pd.Timedelta(hours=settings.readings_ahead_hours)
    )


def record_text(fields: dict[str, object]) -> str:
    """The original record of a rejected row as JSON, every field made storable and bounded.

    Bounded by :data:`FIELD_LIMIT` per field, so a record stays replayable
    (valid JSON) however long the input was.

    Examples
    --------
    >>> record_text({"meter_id": "m1", "value": "1.5"})
    '{"meter_id": "m1", "value": "1.5"}'
    """
    kept = {
        k: v if v is None or isinstance(v, bool | int | float) else storable_text(v)
        for k, v in fields.items()
    }
    return json.dumps(kept, ensure_ascii=False, default=str)


def fingerprint(*parts: object) -> str:
    """A stable identity of a quarantined row: BLAKE2b (128 bit, hex) of its parts."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = str(part).encode("utf-8", "backslashreplace")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def reason_code(reason: object) -> str:
    """The code of a quarantine reason, the text before its first colon.

    Fingerprints digest the code, not the whole text: a text may name a moving
    bound (``out_of_window`` gives the accepted window, which ends at the
    current time plus the forecast horizon), and the same row refused again
    later must get the same fingerprint.

    Examples
    --------
    >>> reason_code("out_of_window: timestamp outside the accepted window ...")
    'out_of_window'
    """
    return str(reason).split(":", 1)[0].strip()


def with_fingerprints(bad: pd.DataFrame) -> pd.DataFrame:
    """``bad`` with a record (default: its raw text) and a fingerprint on every row.

    The fingerprint digests source, line, record and reason code
    (:func:`reason_code`), so importing the same file again quarantines
    nothing new.
    """
    out = bad.copy()
    if not len(out):
        out[RECORD] = pd.Series([], dtype=object)
        out[FINGERPRINT] = pd.Series([], dtype=object)
        return out
    record = out[RECORD] if RECORD in out.columns else pd.Series(None, index=out.index)
    out[RECORD] = record.where(record.notna(), out["raw"]).astype(object)
    prints = pd.Series(
        [
            fingerprint("row", s, ln, r, reason_code(why))
            for s, ln, r, why in zip(
                out["source"], out["line"], out[RECORD], out["reason"], strict=True
            )
        ],
        index=out.index,
        dtype=object,
    )
    given = out[FINGERPRINT] if FINGERPRINT in out.columns else pd.Series(None, index=out.index)
    out[FINGERPRINT] = given.where(given.notna(), prints).astype(object)
    return out


class Validated(NamedTuple):
    """Result of :func:`validate_readings`; unpacks as ``good, bad``.

    Attributes
    ----------
    good : pandas.DataFrame
        Columns :data:`~bitgaram.store.base.READING_COLUMNS`: ``meter_id`` (str),
        ``ts`` (datetime64[us, UTC], interval start), ``value`` (float64, meter unit),
        ``quality`` (int8); sorted by meter (in site order) and ``ts``,
        keys unique.
    bad : pandas.DataFrame
        Columns :data:`~bitgaram.store.base.QUARANTINE_COLUMNS`: ``source`` (str),
        ``line`` (Int64, 1-based, may be NA), ``meter_id`` (str), ``ts``
        (datetime64[us, UTC], NaT when unparsable), ``field``, ``raw`` (the
        offending text), ``reason`` (``code: explanation``).
    """

    good: pd.DataFrame
    bad: pd.DataFrame


def empty_readings() -> pd.DataFrame:
    """An empty frame with the dtypes of :attr:`Validated.good`."""
    return pd.DataFrame(
        {
            "meter_id": pd.Series([], dtype="str"),
            "ts": pd.Series([], dtype="datetime64[us, UTC]"),
            "value": pd.Series([], dtype="float64"),
            "quality": pd.Series([], dtype="int8"),
        }
    )


def empty_quarantine() -> pd.DataFrame:
    """An empty frame with the dtypes of :attr:`Validated.bad`."""
    return pd.DataFrame(
        {
            "source": pd.Series([], dtype="str"),
            "line": pd.Series([], dtype="Int64"),
            "meter_id": pd.Series([], dtype="str"),
            "ts": pd.Series([], dtype="datetime64[us, UTC]"),
            "field": pd.Series([], dtype="str"),
            "raw": pd.Series([], dtype="str"),
            "reason": pd.Series([], dtype="str"),
        }
    )


def _as_arrow_strings(series: pd.Series) -> pa.Array:
    arr = pa.array(series, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pc.cast(arr, pa.large_string())
    return arr


def parse_values(series: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse raw values to float.

    Parameters
    ----------
    series : pandas.Series
        Numbers, or text as read from a file.

    Returns
    -------
    values : numpy.ndarray
        float64, NaN where missing or unparsable.
    missing : numpy.ndarray
        bool, the raw value is null or blank.
    non_numeric : numpy.ndarray
        bool, the raw value is text that is not a number.
    """
    n = len(series)
    if pd.api.types.is_bool_dtype(series.dtype):
        series = series.astype("float64")
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        # Numeric NaN is a value the sender produced, reported as not finite.
        return values, np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    arr = _as_arrow_strings(series)
    blank = pc.equal(pc.utf8_trim_whitespace(arr), "")
    missing = pc.or_kleene(pc.is_null(arr), blank).fill_null(True)
    missing_np = missing.to_numpy(zero_copy_only=False)
    try:
        values_arr = pc.cast(pc.if_else(missing, None, arr), pa.float64())
        values = values_arr.to_numpy(zero_copy_only=False)
        return np.asarray(values, dtype="float64"), missing_np, np.zeros(n, dtype=bool)
    except pa.ArrowInvalid:
        pass
    number = pc.match_substring_regex(arr, _NUMBER_RE).fill_null(False)
    candidate = pc.if_else(number, pc.utf8_trim_whitespace(arr), None)
    values = np.asarray(pc.cast(candidate, pa.float64()).to_numpy(zero_copy_only=False), "float64")
    non_numeric = ~number.to_numpy(zero_copy_only=False) & ~missing_np
    return values, missing_np, non_numeric


def _strings_to_utc(arr: pa.Array, tz: ZoneInfo) -> tuple[np.ndarray, np.ndarray]:
    """Parse ISO-8601 text; returns (utc datetime64[us] with NaT, status codes)."""
    n = len(arr)
    for target in (pa.timestamp("us"), pa.timestamp("us", tz="UTC")):
        try:
            cast_ok = pc.cast(arr, target)
        except pa.ArrowInvalid:
            continue
        naive = np.asarray(cast_ok.to_numpy(zero_copy_only=False), dtype="datetime64[us]")
        if target.tz is None:
            return _localize(naive, tz)
        status = np.where(np.isnat(naive), _CODE["bad_timestamp"], 0).astype(np.int8)
        return naive, status
    # Slow path: mixed naive/aware text or bad rows. Arrow formats first, pandas for the rest.
    has_offset = pc.match_substring_regex(arr, _OFFSET_RE).fill_null(False)
    offset_np = has_offset.to_numpy(zero_copy_only=False)
    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    status = np.zeros(n, dtype=np.int8)
    naive_idx = np.flatnonzero(~offset_np)
    if naive_idx.size:
        sub = arr.take(pa.array(naive_idx))
        parsed: pa.Array = pa.nulls(len(sub), pa.timestamp("us"))
        for fmt in (*_NAIVE_FORMATS, "%Y-%m-%d"):
            attempt = pc.strptime(sub, format=fmt, unit="us", error_is_null=True)
            # strptime rolls impossible dates over (Feb 30 -> Mar 1): keep round trips only.
            exact = pc.equal(pc.strftime(attempt, format=fmt), sub).fill_null(False)
            parsed = pc.coalesce(parsed, pc.if_else(exact, attempt, None))
        local = np.array(parsed.to_pandas(), dtype="datetime64[us]")
        todo = np.isnat(local) & ~pc.is_null(sub).to_numpy(zero_copy_only=False)
        if todo.any():
            fallback = pd.to_datetime(
                pd.Series(sub.filter(pa.array(todo)).to_pylist(), dtype="str"),
                format="ISO8601",
                errors="coerce",
            )
            if isinstance(fallback.dtype, pd.DatetimeTZDtype):
                fallback = fallback.dt.tz_localize(None)
            local[todo] = fallback.to_numpy(dtype="datetime64[us]")
        utc, st = _localize(local, tz)
        out[naive_idx] = utc
        status[naive_idx] = st
    aware_idx = np.flatnonzero(offset_np)
    if aware_idx.size:
        sub_pd = pd.Series(arr.take(pa.array(aware_idx)).to_pylist(), dtype="str")
        aware = pd.to_datetime(sub_pd, format="ISO8601", utc=True, errors="coerce")
        values_utc = aware.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
        out[aware_idx] = values_utc
        status[aware_idx] = np.where(np.isnat(values_utc), _CODE["bad_timestamp"], 0)
    return out, status


def _localize(local: np.ndarray, tz: ZoneInfo) -> tuple[np.ndarray, np.ndarray]:
    """Naive local wall-clock datetime64 -> (naive UTC datetime64[us], status codes)."""
    local = local.astype("datetime64[us]")
    unparsed = np.isnat(local)
    status = np.where(unparsed, _CODE["bad_timestamp"], 0).astype(np.int8)
    if str(tz) == "UTC":
        return local, status
    index = pd.DatetimeIndex(local)
    utc = index.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    out = utc.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[us]")
    failed = np.isnat(out) & ~unparsed
    if failed.any():
        # Only the failures: shifted forward they exist, so NaT left means the fold.
        retry = index[failed].tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
        ambiguous = np.asarray(retry.isna())
        codes = np.where(ambiguous, _CODE["ambiguous_time"], _CODE["nonexistent_time"])
        status[failed] = codes
    return out, status


def _meter_codes(series: pd.Series, ids: pd.Index) -> np.ndarray:
    """Position of each row's meter id in ``ids`` (-1 if unknown), int64."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        # Dictionary-encoded input: look up the few distinct ids only.
        table = _meter_codes(pd.Series(series.cat.categories, dtype="str"), ids)
        cat = series.cat.codes.to_numpy()
        return np.where(cat >= 0, np.append(table, -1)[cat], -1)
    known = pa.array(list(ids), pa.large_string())
    found = pc.index_in(_as_arrow_strings(series.astype("str")), value_set=known)
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def parse_timestamps(series: pd.Series, timezone: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse timestamps to UTC interval starts.

    Parameters
    ----------
    series : pandas.Series
        ISO-8601 text (plain or categorical), naive datetimes (wall clock of
        ``timezone``) or tz-aware datetimes.
    timezone : str
        IANA zone of naive timestamps (the site's timezone).

    Returns
    -------
    utc : numpy.ndarray
        datetime64[us] UTC (naive NumPy values), NaT where rejected.
    status : numpy.ndarray
        int8 reason code per row (0 = parsed; see :data:`REASONS`).
    """
    tz = ZoneInfo(timezone)
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        # Dictionary-encoded input (a time stamp repeated for every meter): parse each once.
        utc_u, status_u = parse_timestamps(pd.Series(dtype.categories), timezone)
        # Code -1 (a missing value) picks the appended NaT / bad_timestamp entry.
        utc_u = np.append(utc_u.astype("datetime64[us]"), np.datetime64("NaT", "us"))
        status_u = np.append(status_u, np.int8(_CODE["bad_timestamp"]))
        cat = series.cat.codes.to_numpy()
        return utc_u[cat], status_u[cat].astype(np.int8)
    if isinstance(dtype, pd.DatetimeTZDtype):
        utc = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
        return utc, np.where(np.isnat(utc), _CODE["bad_timestamp"], 0).astype(np.int8)
    if pd.api.types.is_datetime64_dtype(dtype):
        return _localize(series.to_numpy(dtype="datetime64[us]"), tz)
    return _strings_to_utc(_as_arrow_strings(series), tz)


#: Epoch timestamps accepted as numbers [s]: 1970-01-01 to 9999-12-31 (what datetimes hold).
EPOCH_RANGE_S = (0.0, 253_402_300_799.0)


def parse_received(
    meter_ids: Sequence[object],
    stamps: Sequence[object],
    values: Sequence[object],
    qualities: Sequence[object],
    site: Site,
) -> Columns:
    """Parse readings as a live source received them (Python values) into :class:`Columns`.

    The counterpart of the column parsing in :func:`validate_readings` for
    small batches of decoded payloads: no pandas frame is built, so a batch of
    a hundred readings costs tens of microseconds to parse, not milliseconds.
    The rules are then the same (:func:`check_rows`).

    Parameters
    ----------
    meter_ids : sequence
        Meter id per reading.
    stamps : sequence
        ISO-8601 text (naive: wall clock of the site's timezone) or seconds
        since the Unix epoch [s] (int or float) per reading; anything else is
        parsed as its text.
    values : sequence
        Numbers [meter unit] (``None`` = missing).
    qualities : sequence
        Quality flags (``None`` = good).
    site : Site

    Returns
    -------
    Columns

    Examples
    --------
    >>> from bitgaram.site import parse_site
    >>> site = parse_site({"site": {"id": "p", "name": "P"},
    ...                    "meters": [{"id": "m", "kind": "load", "unit": "kWh"}]})
    >>> cols = parse_received(["m", "x"], [0, "2024-01-01T00:00Z"], [1.5, 2.0], [0, None], site)
    >>> cols.codes.tolist(), [str(t) for t in cols.utc]
    ([0, -1], ['1970-01-01T00:00:00.000000', '2024-01-01T00:00:00.000000'])
    """
    n = len(meter_ids)
    index = site_tables(site).codes
    codes = np.fromiter((index.get(m, -1) for m in meter_ids), dtype=np.int64, count=n)  # type: ignore[call-overload]
    utc, status = _received_stamps(stamps, site.site.timezone)
    try:
        vals = np.asarray(values, dtype="float64").reshape(n)
    except (TypeError, ValueError):
        vals = pd.Series(list(values), dtype="float64").to_numpy(dtype="float64", na_value=np.nan)
    q = np.fromiter(
        (float(Quality.GOOD) if x is None else x for x in qualities), dtype="float64", count=n
    )  # type: ignore[call-overload]
    none = np.zeros(n, dtype=bool)
    return Columns(codes, utc, status, vals, none, none, q, None)


def _received_stamps(stamps: Sequence[object], timezone: str) -> tuple[np.ndarray, np.ndarray]:
    """Epoch numbers and ISO text, parsed as :func:`parse_timestamps` parses text."""
    n = len(stamps)
    epoch = np.fromiter((type(v) is int or type(v) is float for v in stamps), dtype=bool, count=n)
    utc = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    status = np.zeros(n, dtype=np.int8)
    if epoch.any():
        seconds = np.asarray([stamps[i] for i in np.flatnonzero(epoch).tolist()], dtype="float64")
        lo, hi = EPOCH_RANGE_S
        ok = np.isfinite(seconds) & (seconds >= lo) & (seconds <= hi)
        parsed = np.full(seconds.size, np.datetime64("NaT"), dtype="datetime64[us]")
        # Rounded to the microsecond (what the store keeps).
        parsed[ok] = np.round(seconds[ok] * 1e6).astype(np.int64).view("datetime64[us]")
        utc[epoch] = parsed
        status[epoch] = np.where(ok, 0, _CODE["bad_timestamp"])
    if not epoch.all():
        text_idx = np.flatnonzero(~epoch)
        texts = [v if isinstance(v, str) else None if v is None else str(v)
                 for v in (stamps[i] for i in text_idx.tolist())]  # fmt: skip
        t_utc, t_status = _strings_to_utc(pa.array(texts, pa.large_string()), ZoneInfo(timezone))
        utc[text_idx] = t_utc
        status[text_idx] = t_status
    return utc, status


def _raw_text(series: pd.Series) -> pd.Series:
    return series.astype("str").where(series.notna(), "")


def validate_readings(
    frame: pd.DataFrame,
    site: Site,
    source: str,
    *,
    rules: ValidationRules = DEFAULT_RULES,
    keep_records: bool = False,
) -> Validated:
    """Split a batch of raw readings into storable rows and quarantined rows.

    Parameters
    ----------
    frame : pandas.DataFrame
        Columns ``meter_id``, ``ts``, ``value`` and optionally ``quality``
        (int flag, blank = good), ``line`` (1-based line of the row in its
        source) and ``source`` (per-row source, overriding ``source``).
        ``ts`` may be text, naive datetimes (wall-clock time of the site
        timezone) or tz-aware datetimes; ``value`` text or numbers in the
        meter's unit.
    site : Site
        Gives the known meters, their units, limits and the timezone.
    source : str
        Where the batch came from (file path, topic, device), kept on bad rows.
    rules : ValidationRules
        Spike rule thresholds and the accepted timestamp window.
    keep_records : bool
        Also give every bad row its original record (column ``record``, JSON
        of its raw fields) and a ``fingerprint``, for ``bitgaram quarantine
        replay`` and idempotent re-imports.

    Returns
    -------
    Validated
        ``(good, bad)`` frames; every input row is in exactly one of them,
        except exact duplicates, which collapse into one good row.

    Raises
    ------
    DataError
        If a required column is missing.

    Examples
    --------
    >>> from bitgaram.site import parse_site
    >>> site = parse_site({"site": {"id": "p", "name": "P", "timezone": "Asia/Seoul"},
    ...                    "meters": [{"id": "m", "kind": "load", "unit": "kWh"}]})
    >>> raw = pd.DataFrame({"meter_id": ["m", "m", "x"],
    ...                     "ts": ["2024-01-01 09:00", "2024-01-01 10:00", "2024-01-01 09:00"],
    ...                     "value": ["1.5", "-2", "3"]})
    >>> good, bad = validate_readings(raw, site, "demo.csv")
    >>> good["ts"].iloc[0]
    Timestamp('2024-01-01 00:00:00+0000', tz='UTC')
    >>> list(bad["reason"].str.split(":").str[0])
    ['negative', 'unknown_meter']
    """
    missing_cols = [c for c in ("meter_id", "ts", "value") if c not in frame.columns]
    if missing_cols:
        raise DataError(
            f"{source}: readings need columns meter_id, ts, value; missing {missing_cols}"
        )
    n = len(frame)
    if n == 0:
        return Validated(empty_readings(), empty_quarantine())
    meter_index = meter_ids_index(site)
    utc, ts_status = parse_timestamps(frame["ts"], site.site.timezone)
    values, missing, non_numeric = parse_values(frame["value"])
    q_values: np.ndarray | None = None
    q_bad: np.ndarray | None = None
    if "quality" in frame.columns:
        q_values, q_missing, q_bad = parse_values(frame["quality"])
        q_values = np.where(q_missing, float(Quality.GOOD), q_values)
    columns = Columns(
        _meter_codes(frame["meter_id"], meter_index),
        utc,
        ts_status,
        values,
        missing,
        non_numeric,
        q_values,
        q_bad,
    )
    checked = check_rows(columns, site, rules)
    good = readings_frame(columns, checked, meter_index)
    bad = _quarantine_frame(frame, columns, checked, source, site, rules, keep_records)
    return Validated(good, bad)


class Columns(NamedTuple):
    """A batch of readings parsed into NumPy columns, one entry per row (see :func:`check_rows`).

    Attributes
    ----------
    codes : numpy.ndarray
        int64 position of the row's meter in ``site.meters``, -1 if unknown.
    utc : numpy.ndarray
        datetime64[us] UTC interval start (naive NumPy values), NaT where unparsed.
    ts_status : numpy.ndarray
        int8 reason code of the timestamp parse (0 = parsed; see :data:`REASONS`).
    values : numpy.ndarray
        float64 value [meter unit], NaN where missing or unparsable.
    missing, non_numeric : numpy.ndarray
        bool: the value is blank, or text that is not a number.
    quality : numpy.ndarray, optional
        float64 quality flag (a missing flag is :attr:`Quality.GOOD`); ``None``: all good.
    quality_bad : numpy.ndarray, optional
        bool: the flag is text that is not a number.
    """

    codes: np.ndarray
    utc: np.ndarray
    ts_status: np.ndarray
    values: np.ndarray
    missing: np.ndarray
    non_numeric: np.ndarray
    quality: np.ndarray | None = None
    quality_bad: np.ndarray | None = None


class Checked(NamedTuple):
    """Outcome of :func:`check_rows`.

    Attributes
    ----------
    reason : numpy.ndarray
        int8 reason code per row (0 = good; code ``k`` is ``REASONS[k - 1]``).
    good : numpy.ndarray
        Rows to store, sorted by (meter in site order, ts), keys unique.
    quality : numpy.ndarray
        int8 quality flag per row (0 where the flag was refused).
    thresholds : numpy.ndarray
        Spike threshold per meter [meter unit], +inf where the rule does not apply.
    window : tuple of pandas.Timestamp
        The accepted timestamp window the batch was checked against (UTC).
    """

    reason: np.ndarray
    good: np.ndarray
    quality: np.ndarray
    thresholds: np.ndarray
    window: tuple[pd.Timestamp, pd.Timestamp]


def meter_ids_index(site: Site) -> pd.Index:
    """The site's meter ids in site order (the codes of :attr:`Columns.codes`)."""
    return site_tables(site).ids


def check_rows(columns: Columns, site: Site, rules: ValidationRules = DEFAULT_RULES) -> Checked:
    """Apply the validation rules (the module docstring, in its order) to parsed columns.

    The one implementation of the rules: :func:`validate_readings` (files,
    frames) and the live collector's batches
    (:func:`bitgaram.collect.writer.prepare_batch`) only differ in how they
    parse their input into :class:`Columns`. Pure NumPy; no per-row Python.

    Parameters
    ----------
    columns : Columns
    site : Site
        Meters (order = codes), their limits and units.
    rules : ValidationRules

    Returns
    -------
    Checked
    """
    codes, utc = columns.codes, columns.utc
    n = codes.size
    meters = site.meters
    reason = np.where(codes < 0, _CODE["unknown_meter"], 0).astype(np.int8)
    window = rules.window()
    if not meters:  # nothing can be stored; every row names an unknown meter
        empty = np.zeros(0, dtype=np.int64)
        return Checked(reason, empty, np.zeros(n, dtype=np.int8), np.full(1, np.inf), window)

    def flag(mask: np.ndarray, name: str) -> None:
        reason[(reason == 0) & mask] = _CODE[name]

    free = reason == 0
    reason[free] = columns.ts_status[free]
    lo = np.datetime64(window[0].tz_convert(None).as_unit("us").to_datetime64())
    hi = np.datetime64(window[1].tz_convert(None).as_unit("us").to_datetime64())
    flag(~np.isnat(utc) & ((utc < lo) | (utc > hi)), "out_of_window")

    values = columns.values
    flag(columns.missing, "missing_value")
    flag(columns.non_numeric, "non_numeric")
    flag(~np.isfinite(values), "not_finite")

    if columns.quality is not None:
        allowed = np.isin(columns.quality, _QUALITIES)
        q_bad = np.zeros(n, dtype=bool) if columns.quality_bad is None else columns.quality_bad
        flag(q_bad | ~allowed, "bad_quality")
        quality = np.where(allowed, columns.quality, 0).astype(np.int8)
    else:
        quality = np.zeros(n, dtype=np.int8)

    safe = np.where(codes < 0, 0, codes)
    limits = site_tables(site).limits
    with np.errstate(invalid="ignore"):
        flag((values < 0) & ~limits.allows_negative[safe], "negative")
        flag(values > limits.max_value[safe], "above_max")
        flag((values < limits.low[safe]) | (values > limits.high[safe]), "out_of_bounds")

    # Rules 9-10 run on the rows still good, sorted by (meter, ts) so that each
    # meter's readings and each repeated key form contiguous runs.
    order = _sorted_by_key(np.flatnonzero(reason == 0), safe, utc)
    threshold = _spike_thresholds(safe[order], values[order], len(meters), rules)
    with np.errstate(invalid="ignore"):
        spike = np.abs(values[order]) > threshold[safe[order]]
    reason[order[spike]] = _CODE["spike"]
    good_idx = _drop_duplicates(order[~spike], safe, utc, values, quality, reason)
    return Checked(reason, good_idx, quality, threshold, window)


_QUALITIES = np.array([float(q) for q in Quality])


class _Limits(NamedTuple):
    allows_negative: np.ndarray
    max_value: np.ndarray
    low: np.ndarray
    high: np.ndarray


class SiteTables(NamedTuple):
    """What validation looks up per meter, built once per :class:`Site` object.

    Attributes
    ----------
    ids : pandas.Index
        Meter ids in site order (the codes of :attr:`Columns.codes`).
    codes : dict
        Meter id -> code.
    units : dict
        Meter id -> unit text.
    limits : _Limits
        Per-meter limits of rules 6-8, indexed by code.
    """

    ids: pd.Index
    codes: dict[str, int]
    units: dict[str, str]
    limits: _Limits


#: Sites are frozen: their tables are kept by object identity (a few sites per process).
_TABLES: dict[int, tuple[Site, SiteTables]] = {}


def site_tables(site: Site) -> SiteTables:
    """The per-meter tables of ``site`` (cached for the object; sites are immutable)."""
    hit = _TABLES.get(id(site))
    if hit is not None and hit[0] is site:
        return hit[1]
    tables = SiteTables(
        pd.Index([m.id for m in site.meters], dtype="str"),
        {m.id: i for i, m in enumerate(site.meters)},
        {m.id: str(m.unit) for m in site.meters},
        _meter_limits(site),
    )
    if len(_TABLES) >= 16:
        _TABLES.clear()
    _TABLES[id(site)] = (site, tables)
    return tables


def _meter_limits(site: Site) -> _Limits:
    """Per-meter limits of rules 6-8, indexed by meter code."""
    meters = site.meters
    bounds = [UNIT_BOUNDS.get(m.unit, (None, None)) for m in meters]
    return _Limits(
        np.array([m.allows_negative for m in meters], dtype=bool),
        np.array([np.nan if m.max_value is None else m.max_value for m in meters]),
        np.array([-np.inf if lo is None else lo for lo, _ in bounds]),
        np.array([np.inf if hi is None else hi for _, hi in bounds]),
    )


def readings_frame(columns: Columns, checked: Checked, meter_index: pd.Index) -> pd.DataFrame:
    """The rows :func:`check_rows` accepted, as :attr:`Validated.good`."""
    idx = checked.good
    if idx.size == 0:
        return empty_readings()
    return pd.DataFrame(
        {
            "meter_id": _ids_from_codes(columns.codes[idx], meter_index),
            "ts": pd.DatetimeIndex(columns.utc[idx]).tz_localize("UTC"),
            "value": columns.values[idx],
            "quality": checked.quality[idx],
        }
    )


def _ids_from_codes(codes: np.ndarray, ids: pd.Index) -> pd.Series:
    """Meter ids as a str Series, expanded in Arrow from their codes (no Python strings).

    Small batches (a live flush) take the ids from a Python list instead: the
    Arrow round trip has a fixed cost of a few hundred microseconds.
    """
    if codes.size <= _SMALL_BATCH:
        names = np.asarray(ids, dtype=object)
        return pd.Series(names[codes], dtype="str")
    expanded = pa.DictionaryArray.from_arrays(
        pa.array(codes.astype(np.int32)), pa.array(list(ids), pa.large_string())
    ).cast(pa.large_string())
    return pd.Series(expanded.to_pandas(types_mapper=_str_dtype), dtype="str")


def _str_dtype(dtype: pa.DataType) -> object:
    if pa.types.is_large_string(dtype) or pa.types.is_string(dtype):
        return pd.StringDtype("pyarrow", na_value=np.nan)
    return None


def _spike_thresholds(
    codes: np.ndarray, values: np.ndarray, n_meters: int, rules: ValidationRules
) -> np.ndarray:
    """Per-meter spike threshold [meter unit], +inf where the rule does not apply.

    ``codes`` must be grouped (each meter's rows contiguous).
    """
    threshold = np.full(max(n_meters, 1), np.inf)
    if codes.size == 0:
        return threshold
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], codes.size]
    lengths = ends - starts
    if lengths[0] >= rules.spike_min_count and bool(np.all(lengths == lengths[0])):
        # Every meter has the same number of readings (regular files): one 2-D quantile.
        grid = np.abs(values).reshape(len(starts), int(lengths[0]))
        grid = grid[:, :: max(1, int(lengths[0]) // _SPIKE_SAMPLE)]
        scales = np.quantile(grid, rules.spike_quantile, axis=1)
        usable = scales > 0
        threshold[codes[starts][usable]] = rules.spike_factor * scales[usable]
        return threshold
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        if end - start >= rules.spike_min_count:
            # A strided sample of at most ~_SPIKE_SAMPLE readings estimates the
            # quantile well enough for a rule about orders of magnitude.
            step = max(1, (end - start) // _SPIKE_SAMPLE)
            sample = np.abs(values[start:end:step])
            scale = float(np.quantile(sample, rules.spike_quantile))
            if scale > 0:
                threshold[codes[start]] = rules.spike_factor * scale
    return threshold


def _drop_duplicates(
    order: np.ndarray,
    codes: np.ndarray,
    utc: np.ndarray,
    values: np.ndarray,
    quality: np.ndarray,
    reason: np.ndarray,
) -> np.ndarray:
    """Rows of ``order`` (sorted by key, stable) without repeated keys.

    Keys repeated with different values or qualities are flagged in ``reason``
    (every copy); exact repeats keep their first copy.
    """
    if order.size < 2:
        return order
    m = codes[order]
    t = utc[order].view("int64")
    same = (m[1:] == m[:-1]) & (t[1:] == t[:-1])
    if not same.any():
        return order
    run_start = np.r_[True, ~same]
    run_id = np.cumsum(run_start) - 1
    first = order[run_start]
    v, q = values[order], quality[order]
    differs = (v != values[first][run_id]) | (q != quality[first][run_id])
    conflict = (np.bincount(run_id, weights=differs) > 0)[run_id]
    reason[order[conflict]] = _CODE["duplicate_conflict"]
    return order[run_start & ~conflict]


def _composite_key(codes: np.ndarray, stamps: np.ndarray) -> np.ndarray | None:
    """One int64 per (meter, ts) ordering like the pair; None if it would overflow."""
    if codes.size == 0:
        return np.zeros(0, dtype=np.int64)
    first = int(stamps.min())
    span = int(stamps.max()) - first + 1
    if span * (int(codes.max()) + 1) >= 2**62:
        return None
    return codes * span + (stamps - first)


def _sorted_by_key(idx: np.ndarray, codes: np.ndarray, utc: np.ndarray) -> np.ndarray:
    """``idx`` reordered by (meter in site order, ts), stable: the store's fastest write path."""
    if idx.size < 2:
        return idx
    sub_codes = codes[idx]
    stamps = utc[idx].view("int64")
    if sub_codes.max() < 2**15:
        # Files are usually time-ordered per meter: a stable radix sort on the small
        # meter code alone then sorts the pair, far faster than a 64-bit argsort.
        if bool(np.all(sub_codes[1:] >= sub_codes[:-1])):
            by_meter = None  # already grouped by meter (meter-major files)
        else:
            by_meter = np.argsort(sub_codes.astype(np.int16), kind="stable")
        if by_meter is not None and bool(np.all(stamps[1:] >= stamps[:-1])):
            return idx[by_meter]  # time-major input: each meter's run stays in time order
        m = sub_codes if by_meter is None else sub_codes[by_meter]
        t = stamps if by_meter is None else stamps[by_meter]
        if bool(np.all((m[1:] != m[:-1]) | (t[1:] >= t[:-1]))):
            return idx if by_meter is None else idx[by_meter]
    key = _composite_key(sub_codes, stamps)
    if key is None:
        return idx[np.lexsort((stamps, sub_codes))]
    if bool(np.all(key[1:] >= key[:-1])):
        return idx
    return idx[np.argsort(key, kind="stable")]


_MESSAGES = {
    "bad_timestamp": "not an ISO-8601 timestamp",
    "missing_value": "empty value",
    "non_numeric": "not a number",
    "not_finite": "NaN or infinite",
    "bad_quality": "quality must be 0 (good), 1 (estimated) or 2 (suspect)",
    "negative": "negative value on a meter that cannot be negative",
}


def _meter_limit(name: str, meter: Meter, threshold: float) -> str:
    """Explanation of a limit-based rejection for one meter."""
    if name == "above_max":
        return f"above max_value {meter.max_value:g} {meter.unit}"
    if name == "out_of_bounds":
        low, high = UNIT_BOUNDS[meter.unit]
        return f"outside the physical range {low}..{high} {meter.unit}"
    return f"above the spike threshold {threshold:.6g} {meter.unit}"


def explain_rows(
    bad_idx: np.ndarray, columns: Columns, checked: Checked, meter_text: Sequence[str], site: Site
) -> list[str]:
    """``code: explanation`` for every rejected row ``bad_idx`` (texts not yet made storable).

    Parameters
    ----------
    bad_idx : numpy.ndarray
        Rows with a reason (``checked.reason > 0``).
    columns, checked
        The batch and its :func:`check_rows` outcome.
    meter_text : sequence of str
        The meter id of each row of ``bad_idx`` as received.
    site : Site

    Returns
    -------
    list of str
    """
    reasons = checked.reason[bad_idx].tolist()
    meter_codes = columns.codes[bad_idx].tolist()
    tz = site.site.timezone
    lo, hi = checked.window
    fixed = {
        **_MESSAGES,
        "out_of_window": (
            f"timestamp outside the accepted window {lo.isoformat()} .. {hi.isoformat()}"
        ),
        "unknown_meter": f"no such meter in site {site.site.id!r}",
        "nonexistent_time": f"local time does not exist in {tz} (DST gap); give a UTC offset",
        "ambiguous_time": f"local time occurs twice in {tz} (DST fold); give a UTC offset",
    }
    conflict = _CODE["duplicate_conflict"]
    stamps = columns.utc[bad_idx].view("int64").tolist()
    copies = Counter(
        (m, t) for r, m, t in zip(reasons, meter_text, stamps, strict=True) if r == conflict
    )
    out = []
    for r, m, code, t in zip(reasons, meter_text, meter_codes, stamps, strict=True):
        name = REASONS[r - 1][0]
        if name in fixed:
            out.append(f"{name}: {fixed[name]}")
        elif r == conflict:
            out.append(f"{name}: same meter and time with different values ({copies[m, t]} copies)")
        else:
            limit = _meter_limit(name, site.meters[code], float(checked.thresholds[code]))
            out.append(f"{name}: {limit}")
    return out


def _quarantine_frame(
    frame: pd.DataFrame,
    columns: Columns,
    checked: Checked,
    source: str,
    site: Site,
    rules: ValidationRules,
    keep_records: bool = False,
) -> pd.DataFrame:
    """The rejected rows of ``frame`` as a quarantine frame (texts made storable)."""
    bad_idx = np.flatnonzero(checked.reason > 0)
    if bad_idx.size == 0:
        return empty_quarantine()
    rows = frame.iloc[bad_idx].reset_index(drop=True)
    fields = REASON_FIELDS[checked.reason[bad_idx] - 1]
    raw = pd.Series("", index=rows.index, dtype="str")
    for col in ("meter_id", "ts", "value", "quality"):
        pick = fields == col
        if col in rows.columns and pick.any():
            raw[pick] = _raw_text(rows[col][pick])
    meter_ids = _raw_text(rows["meter_id"]).tolist()
    if "line" in rows.columns:
        line = rows["line"].astype("Int64")
    else:
        line = pd.Series(pd.NA, index=rows.index, dtype="Int64")
    sources = _raw_text(rows["source"]).tolist() if "source" in rows.columns else None
    bad = pd.DataFrame(
        {
            "source": storable_texts(sources or [source] * len(rows)),
            "line": line,
            "meter_id": storable_texts(meter_ids),
            "ts": pd.Series(
                pd.DatetimeIndex(columns.utc[bad_idx]).tz_localize("UTC"), index=rows.index
            ),
            "field": pd.Series(fields, index=rows.index, dtype="str"),
            "raw": storable_texts(raw.tolist()),
            "reason": storable_texts(explain_rows(bad_idx, columns, checked, meter_ids, site)),
        }
    )
    if not keep_records:
        return bad
    present = [c for c in ("meter_id", "ts", "value", "quality") if c in rows.columns]
    texts = {c: _raw_text(rows[c]).tolist() for c in present}
    bad[RECORD] = [record_text({c: texts[c][i] for c in present}) for i in range(len(rows))]
    return with_fingerprints(bad)
