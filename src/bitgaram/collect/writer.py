"""Batching writer: live readings in, one store transaction per batch out.

Sources (MQTT, Modbus, HTTP) hand :class:`Submission` objects to a
:class:`BatchWriter`. The writer keeps them in a bounded queue (a full queue
makes :meth:`BatchWriter.submit` wait, which is the backpressure that reaches
the broker or the HTTP client), gathers them into batches by size or age,
validates each batch once (vectorised, the rules of the file import:
:func:`bitgaram.collect.validate.check_rows`, see :func:`prepare_batch`), and
writes it with :meth:`bitgaram.store.base.Store.write_readings` in one
transaction. Only after that transaction committed does it call each
submission's ``on_done`` callback, which is where MQTT messages are acknowledged
to the broker. When the store fails, the batch is held and retried with
exponential backoff (reopening the store, if given a way to; the PostgreSQL
store also reconnects by itself); it is never dropped. Validation of the
next batch overlaps the write of the current one.

A batch the store refuses while the store itself answers (a value it cannot
hold slipped past validation) is not an outage: the writer splits it in
halves until the refused rows are isolated, writes the rest and quarantines
those rows with reason ``store_refused`` (see :meth:`BatchWriter._write_split`),
so one bad row never blocks the rows behind it. On :meth:`BatchWriter.close`
a batch whose write keeps failing is given up after ``close_timeout``
seconds: it stays unacknowledged (MQTT redelivers it on the next start,
HTTP clients get 503) and the process can stop promptly.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from bitgaram.collect.validate import (
    DEFAULT_RULES,
    FIELD_LIMIT,
    REASON_FIELDS,
    RECORD_LIMIT,
    ValidationRules,
    check_rows,
    explain_rows,
    meter_ids_index,
    parse_received,
    readings_frame,
    reason_code,
    record_text,
    site_tables,
    storable_text,
    storable_texts,
)
from bitgaram.site import Site
from bitgaram.store.base import (
    FINGERPRINT,
    QUARANTINE_COLUMNS,
    RECORD,
    Store,
    WriteReport,
)

log = logging.getLogger(__name__)


class RawReading(NamedTuple):
    """One reading as received, before validation (types not yet checked)."""

    meter_id: str
    timestamp: Any
    value: Any
    unit: Any
    quality: Any = None
    #: Position in its message or request (defaults to the position in the submission).
    line: int | None = None


class Reject(NamedTuple):
    """Input refused before validation (bad JSON, wrong shape); quarantined as is."""

    line: int
    meter_id: str | None
    field: str
    raw: str
    reason: str
    #: The whole item as received (bounded JSON text), kept for inspection and replay.
    record: str | None = None


@dataclass(frozen=True)
class Rejection:
    """Why one reading of a submission was quarantined."""

    line: int
    meter_id: str | None
    field: str
    reason: str


@dataclass(frozen=True)
class SubmissionResult:
    """Outcome of one submission once its batch is committed.

    Attributes
    ----------
    accepted : int
        Readings that passed validation and are stored (new or already stored).
    quarantined : int
        Readings written to the quarantine table.
    rejections : tuple of Rejection
        The reason for every quarantined reading, in input order.
    """

    accepted: int
    quarantined: int
    rejections: tuple[Rejection, ...] = ()
    #: False when the writer gave the batch up at shutdown: nothing of it is stored.
    committed: bool = True


@dataclass(frozen=True)
class Submission:
    """Readings from one message, poll or request, and what to do once stored.

    Attributes
    ----------
    source : str
        Where they came from, e.g. ``"mqtt:bitgaram/park/m1/reading"``; kept
        with every quarantined row.
    rows : sequence of RawReading
        Readings to validate and store; ``line`` of a reading is its position.
    rejects : sequence of Reject
        Input already refused by the decoder; quarantined with the batch.
    on_done : callable, optional
        Called (in the event loop) after the batch holding this submission was
        committed; MQTT acknowledges the message here.
    key : str, optional
        Identity of the message the submission came in (e.g. a digest of
        topic and payload, :func:`message_key`). Its quarantined rows are
        fingerprinted with it, so the same message delivered again is not
        quarantined twice. ``None``: rows are quarantined on every delivery.
    """

    source: str
    rows: Sequence[RawReading] = ()
    rejects: Sequence[Reject] = ()
    on_done: Callable[[SubmissionResult], None] | None = None
    key: str | None = None


def message_key(*parts: bytes | str) -> str:
    """A stable identity of a message: BLAKE2b digest (128 bit, hex) of its parts."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


@dataclass
class SourceStats:
    """Running counters of one source kind (``mqtt``, ``modbus``, ``http``)."""

    received: int = 0
    accepted: int = 0
    quarantined: int = 0
    last_reading_ts: float | None = None
    last_received_at: float | None = None


@dataclass(frozen=True)
class GapEvent:
    """Readings of one meter missing between two stored ones (an outage upstream).

    Attributes
    ----------
    meter_id : str
    after, before : float
        Timestamps of the stored readings around the gap [s since the epoch].
    missing : int
        Intervals of the meter's resolution with no reading.
    """

    meter_id: str
    after: float
    before: float
    missing: int

    def describe(self) -> str:
        """One line for the log and ``collect status``."""
        start = pd.Timestamp(self.after, unit="s", tz="UTC")
        end = pd.Timestamp(self.before, unit="s", tz="UTC")
        return (
            f"{self.meter_id}: {self.missing} readings missing between {start:%Y-%m-%d %H:%M} and "
            f"{end:%Y-%m-%d %H:%M} UTC (meter, network or broker outage; a broker drops "
            "readings beyond max_queued_messages while the collector is away)"
        )


#: Gap events kept in :attr:`WriterStats.gaps` (the newest).
MAX_GAP_EVENTS = 100

#: Readings in the first batch after a start, before any batch was timed: a broker
#: redelivers its whole backlog at once, and the first commit should still come
#: within about one flush interval (:func:`batch_rows` sizes the later ones).
FIRST_BATCH_ROWS = 250
#: Fewest readings the time budget cuts a batch to, as a share of ``max_rows``
#: (and at least :data:`MIN_BATCH_ROWS`): where a transaction's fixed cost alone
#: exceeds the budget, smaller batches would only slow the catch-up, never
#: below a tenth of the rate of full batches.
MIN_BATCH_SHARE = 0.1
MIN_BATCH_ROWS = 100
#: Batches whose timings size the next one (the newest).
TIMED_BATCHES = 32
#: Batches whose commit lags set the lead (the newest; see :func:`commit_lead`).
#: The lead covers the longest of them: a new batch whose lag is like theirs
#: exceeds the longest of N with probability 1 / (N + 1), here about 1 %.
LAGGED_BATCHES = 100
#: Added to the lead, as a share of the flush interval: the time from a reading's
#: publication to its arrival at the writer (broker, client thread, event loop),
#: which the writer cannot time but which counts towards a reading's wait.
LEAD_MARGIN_SHARE = 0.1
#: The largest lead, as a share of the flush interval: a batch always gathers for
#: at least the rest of the interval (a quarter), or batches would shrink to one
#: message each on a store too slow to keep to the interval. (Half, the earlier
#: bound, left one commit gap in ten above the interval in the poison soak at a
#: load of 5-6 on 2 cores, where recent lags exceed it; a quarter, one in twenty.)
LEAD_MAX_SHARE = 0.75
#: How long after a commit the next batch's first submission may arrive and still
#: have its interval counted from that commit, as a share of the flush interval (see
#: :func:`batch_anchor`): the time a broker takes to send further messages once the
#: acknowledgements of a batch reopened its window (a few milliseconds locally).
ARRIVAL_ALLOWANCE_SHARE = 0.1
#: A backlog that flush-interval-sized batches would take longer than this to
#: clear (a sustained input faster than they are written, not a restart's
#: redelivery) makes the batches grow instead [s].
CATCH_UP_S = 2.0


def batch_rows(timings: Sequence[tuple[int, float]], budget: float, max_rows: int) -> int:
    """Readings the next batch may hold so that it is validated and written within ``budget``.

    The cost per reading is taken over recent batches (their seconds over
    their readings, so each batch's fixed cost is spread over its rows; a
    batch sized from it takes at most ``budget``, and repeated sizing
    converges on the largest batch that fits). Bounded below by
    ``max(MIN_BATCH_ROWS, MIN_BATCH_SHARE * max_rows)`` so that a backlog
    keeps draining where one transaction alone takes longer than the budget,
    and above by ``max_rows``.

    Parameters
    ----------
    timings : sequence of (int, float)
        Readings of recent batches and the seconds each took to validate and
        write [s]; empty before the first batch.
    budget : float
        Time one batch may take [s] (the writer's flush interval).
    max_rows : int
        The configured largest batch.

    Returns
    -------
    int
        Readings for the next batch; :data:`FIRST_BATCH_ROWS` (at most
        ``max_rows``) before any batch was timed.

    Examples
    --------
    >>> batch_rows([], 0.05, 5000)
    250
    >>> batch_rows([(1000, 0.02), (3000, 0.04)], 0.05, 5000)  # 15 us per reading
    3333
    >>> batch_rows([(100, 0.08), (100, 0.07)], 0.05, 5000)  # one commit exceeds the budget
    500
    >>> batch_rows([(1000, 0.005)], 0.05, 5000)  # fast store: full batches
    5000
    """
    if not timings:
        return min(FIRST_BATCH_ROWS, max_rows)
    rows = sum(r for r, _ in timings)
    seconds = sum(t for _, t in timings)
    floor = min(max(MIN_BATCH_ROWS, int(MIN_BATCH_SHARE * max_rows)), max_rows)
    if seconds <= 0:
        return max_rows
    # Clipped as a float: a vanishing time (a subnormal number of seconds) gives inf.
    return int(np.clip(budget * rows / seconds, floor, max_rows))


def commit_lead(lags: Sequence[float], max_delay: float) -> float:
    """How long before its due time a batch must close to commit in time [s].

    A batch is due ``max_delay`` after its first submission arrived, or
    after the previous commit if it arrived just after it (:func:`batch_anchor`). Its
    commit lag, from the time it closed (or was due to close, if the loop woke
    late) to its commit, is its validation, the wait for the previous batch's
    write, its own write and the scheduling delays between them. Closing each
    batch the longest of the recent lags (:data:`LAGGED_BATCHES`), plus
    :data:`LEAD_MARGIN_SHARE` of the interval for the delivery to the writer,
    before its due time commits all but about one batch in a hundred within
    the interval, so that while readings keep arriving two commits are at most
    ``max_delay`` apart (a median lead would let every other batch overrun, a
    95th percentile one batch in twenty).
    Before any batch was timed (after a start, when a broker redelivers its
    backlog at once) the lead is the whole interval: the first batch takes
    what is waiting and is written at once, since no lag is known to plan a
    later close by. Otherwise the lead never exceeds :data:`LEAD_MAX_SHARE`
    of the interval.

    Parameters
    ----------
    lags : sequence of float
        Commit lags of recent batches [s]; empty before the first commit.
    max_delay : float
        The flush interval [s].

    Returns
    -------
    float
        The lead [s], between 0 and ``LEAD_MAX_SHARE * max_delay``, or
        ``max_delay`` without lags.

    Examples
    --------
    >>> commit_lead([], 0.05)  # nothing timed yet: write what is waiting at once
    0.05
    >>> round(commit_lead([0.004] * 99 + [0.012], 0.05), 4)  # the slowest one counts
    0.017
    >>> round(commit_lead([0.1, 0.2], 0.05), 4)  # a store too slow for the interval
    0.0375
    """
    if len(lags) == 0:
        return max_delay
    most = LEAD_MAX_SHARE * max_delay
    return float(min(max(max(lags), 0.0) + LEAD_MARGIN_SHARE * max_delay, most))


def batch_anchor(arrived: float, last_commit: float | None, max_delay: float) -> float:
    """When a batch's flush interval starts: its first arrival, or the previous commit [s].

    A batch is due ``max_delay`` after its anchor (less the lead,
    :func:`commit_lead`). Counted from the first arrival alone, a continuous
    flow overran the interval: a broker holds messages back while its window
    of unacknowledged ones is full (Mosquitto: 20), so after a commit the
    acknowledgements reopen the window and the next messages arrive a few
    milliseconds later; two commits were then that delay more than the
    interval less the lead plus the lag apart. The anchor is therefore the
    later of the previous commit and the first arrival less an allowance for
    that delivery (:data:`ARRIVAL_ALLOWANCE_SHARE` of the interval): in a
    continuous flow the next commit comes at most ``max_delay`` after the
    previous one (if its lag is within the lead), and after an idle spell the
    interval still counts from the arrival (the allowance only closes the
    batch a little earlier).

    Parameters
    ----------
    arrived : float
        When the batch's first submission arrived [monotonic s].
    last_commit : float or None
        When the previous batch committed [monotonic s]; None before the first.
    max_delay : float
        The flush interval [s].

    Returns
    -------
    float
        The anchor [monotonic s], at most ``arrived`` and at least
        ``arrived - ARRIVAL_ALLOWANCE_SHARE * max_delay``.

    Examples
    --------
    >>> batch_anchor(10.003, 10.0, 0.05)  # delivered 3 ms after the commit: from the commit
    10.0
    >>> round(batch_anchor(12.0, 10.0, 0.05), 3)  # after an idle spell: from the arrival
    11.995
    """
    allowed = arrived - ARRIVAL_ALLOWANCE_SHARE * max_delay
    if last_commit is None:
        return arrived
    return float(min(arrived, max(last_commit, allowed)))


@dataclass
class WriterStats:
    """Running counters of a :class:`BatchWriter` (read by ``collect status``)."""

    batches: int = 0
    rows_written: int = 0
    store_failures: int = 0
    #: Rows the store refused and that were quarantined instead (``store_refused``).
    store_refused: int = 0
    #: Submissions given up unwritten at shutdown (left unacknowledged).
    abandoned: int = 0
    #: Meters' missing readings detected after the fact (newest last).
    gaps: list[GapEvent] = field(default_factory=list)
    #: Readings missing over all gap events [intervals].
    missing_readings: int = 0
    last_flush_at: float | None = None
    last_flush_seconds: float | None = None
    last_error: str | None = None
    sources: dict[str, SourceStats] = field(default_factory=dict)
    reasons: Counter[str] = field(default_factory=Counter)

    def source(self, name: str) -> SourceStats:
        """Counters of one source kind (created on first use)."""
        kind = name.split(":", 1)[0]
        if kind not in self.sources:
            self.sources[kind] = SourceStats()
        return self.sources[kind]


@dataclass(frozen=True)
class PreparedBatch:
    """A validated batch, ready for one store transaction.

    Attributes
    ----------
    readings : pandas.DataFrame
        Accepted readings (:data:`READING_COLUMNS`).
    quarantine : pandas.DataFrame
        Rejected input (:data:`QUARANTINE_COLUMNS` and ``fingerprint``),
        with each row's own source and its line inside its submission; the
        fingerprint is set for submissions with a ``key``.
    results : list of SubmissionResult
        One per submission, in order.
    """

    readings: pd.DataFrame
    quarantine: pd.DataFrame
    results: list[SubmissionResult]


def prepare_batch(
    subs: Sequence[Submission], site: Site, rules: ValidationRules = DEFAULT_RULES
) -> PreparedBatch:
    """Validate a batch of submissions into a readings and a quarantine frame.

    Pure: no I/O. The rules are those of the file import
    (:func:`~bitgaram.collect.validate.check_rows`, the same code
    :func:`~bitgaram.collect.validate.validate_readings` runs, on the whole
    batch at once), plus one that only live payloads need: the ``unit`` sent
    with a reading must be the meter's unit (reason ``bad_unit``). The
    readings are parsed straight from the submissions into NumPy columns
    (:func:`~bitgaram.collect.validate.parse_received`) and the quarantine
    rows are assembled as plain lists: a batch of a hundred readings, the
    size a flush interval gathers, pays no per-call pandas cost but for the
    two frames it returns.

    Parameters
    ----------
    subs : sequence of Submission
    site : Site
        Meters, units, bounds and timezone the readings are checked against.
    rules : ValidationRules
        Spike thresholds and the accepted timestamp window.

    Returns
    -------
    PreparedBatch
    """
    rows = [r for s in subs for r in s.rows]
    owners = [i for i, s in enumerate(subs) for _ in s.rows]
    positions = [
        k if r.line is None else r.line for s in subs for k, r in enumerate(s.rows, start=1)
    ]
    meter_ids, stamps, values, units, qualities, _ = (
        tuple(zip(*rows, strict=True)) if rows else ((),) * 6
    )
    unit_of = site_tables(site).units
    bad_unit = [
        i
        for i, (m, u) in enumerate(zip(meter_ids, units, strict=True))
        if m in unit_of and u != unit_of[m]
    ]
    kept = list(range(len(rows)))
    if bad_unit:
        refused = set(bad_unit)
        kept = [i for i in kept if i not in refused]

        def pick(column: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(column[i] for i in kept)

        meter_ids, stamps, values, qualities = map(pick, (meter_ids, stamps, values, qualities))
    columns = parse_received(meter_ids, stamps, values, qualities, site)
    checked = check_rows(columns, site, rules)
    readings = readings_frame(columns, checked, meter_ids_index(site))

    q = _QuarantineRows()
    for o, sub in enumerate(subs):
        for r in sub.rejects:
            q.add(o, sub.source, r.line, r.meter_id, r.field, r.raw, r.reason, r.record)
    for i in bad_unit:
        row = rows[i]
        reason = f"bad_unit: the meter reports in {unit_of[row.meter_id]}"
        q.add(owners[i], subs[owners[i]].source, positions[i], str(row.meter_id), "unit",
              str(row.unit), reason, _record_of(row))  # fmt: skip
    bad = np.flatnonzero(checked.reason > 0)
    if bad.size:
        texts = [str(m) for m in (meter_ids[j] for j in bad.tolist())]
        explained = explain_rows(bad, columns, checked, texts, site)
        fields = REASON_FIELDS[checked.reason[bad] - 1].tolist()
        for j, meter, f, why in zip(bad.tolist(), texts, fields, explained, strict=True):
            i = kept[j]
            raw = {"meter_id": meter, "ts": stamps[j], "value": columns.values[j].item(),
                   "quality": qualities[j]}[f]  # fmt: skip
            q.add(owners[i], subs[owners[i]].source, positions[i], meter, f, str(raw), why,
                  _record_of(rows[i]), columns.utc[j])  # fmt: skip
    return PreparedBatch(readings, *q.finish(subs))


class _QuarantineRows:
    """Quarantine rows of a batch gathered as lists, made storable and framed once."""

    def __init__(self) -> None:
        self.owner: list[int] = []
        self.cols: dict[str, list[Any]] = {c: [] for c in (*QUARANTINE_COLUMNS, RECORD)}
        self.stamps: list[np.datetime64] = []

    def add(self, owner: int, source: str, line: int, meter: str | None, field: str, raw: str,
            reason: str, record: str | None, ts: np.datetime64 | None = None) -> None:  # fmt: skip
        self.owner.append(owner)
        row = (source, line, meter, None, field, raw, reason, record)
        for values, value in zip(self.cols.values(), row, strict=True):
            values.append(value)
        self.stamps.append(np.datetime64("NaT", "us") if ts is None else ts)

    def finish(self, subs: Sequence[Submission]) -> tuple[pd.DataFrame, list[SubmissionResult]]:
        """The quarantine frame (with fingerprints) and one result per submission."""
        if not self.owner:
            return _EMPTY_QUARANTINE.copy(), [SubmissionResult(len(s.rows), 0) for s in subs]
        c = self.cols
        text = {
            name: storable_texts(c[name], RECORD_LIMIT if name == RECORD else FIELD_LIMIT)
            for name in ("source", "meter_id", "field", "raw", "reason", RECORD)
        }
        lines = [int(x) for x in c["line"]]
        keys = [s.key for s in subs]
        fields, reasons = text["field"].tolist(), text["reason"].tolist()
        prints = np.empty(len(lines), dtype=object)
        # the reason's code, not its text: out_of_window names the moving end of the window
        prints[:] = [
            None if (key := keys[o]) is None
            else message_key(key, str(ln), str(f), reason_code(why))
            for o, ln, f, why in zip(self.owner, lines, fields, reasons, strict=True)
        ]  # fmt: skip
        frame = _quarantine_frame(
            text, pd.array(lines, dtype="Int64"), np.array(self.stamps, dtype="datetime64[us]"),
            prints,
        )  # fmt: skip
        per_owner: list[list[Rejection]] = [[] for _ in subs]
        meters = text["meter_id"].tolist()
        for o, ln, m, f, why in zip(self.owner, lines, meters, fields, reasons, strict=True):
            per_owner[o].append(Rejection(ln, m, f, why))
        # Exact duplicates collapse into one stored reading and count as accepted.
        results = [
            SubmissionResult(len(s.rows) - (len(rej) - len(s.rejects)), len(rej), tuple(rej))
            for s, rej in zip(subs, per_owner, strict=True)
        ]
        return frame, results


def _quarantine_frame(
    text: dict[str, np.ndarray], lines: Any, stamps: np.ndarray, prints: np.ndarray
) -> pd.DataFrame:
    """The quarantine frame of a batch from its columns (object arrays keep None as None)."""
    return pd.DataFrame(
        {
            "source": text["source"],
            "line": lines,
            "meter_id": text["meter_id"],
            "ts": pd.DatetimeIndex(stamps).tz_localize("UTC"),
            "field": text["field"],
            "raw": text["raw"],
            "reason": text["reason"],
            RECORD: text[RECORD],
            FINGERPRINT: prints,
        },
        copy=False,
    )


def _no_text() -> np.ndarray:
    return np.empty(0, dtype=object)


#: The quarantine frame of a batch without rejections (copied, never handed out itself).
_EMPTY_QUARANTINE = _quarantine_frame(
    {c: _no_text() for c in ("source", "meter_id", "field", "raw", "reason", RECORD)},
    pd.array([], dtype="Int64"),
    np.empty(0, dtype="datetime64[us]"),
    _no_text(),
)


def _record_of(row: RawReading) -> str:
    """A received reading as the record kept with its quarantine row (replayable JSON)."""
    return record_text(
        {
            "meter_id": row.meter_id,
            "timestamp": row.timestamp,
            "value": row.value,
            "unit": row.unit,
            "quality": row.quality,
        }
    )


def _warm_up_submission(site: Site, rules: ValidationRules) -> Submission:
    """A made-up submission for every validation path: a reading per meter, a bad unit, a reject."""
    _, latest = rules.window()
    ts = float((latest - rules.ahead - pd.Timedelta(days=1)).floor("D").timestamp())
    rows = [RawReading(m.id, ts, 0.0, str(m.unit), 0) for m in site.meters]
    if site.meters:
        rows.append(RawReading(site.meters[0].id, ts + 1.0, 0.0, "?", 0))
    return Submission("warm-up", rows, [Reject(0, None, "payload", "", "warm-up")])


class _GaveUp(Exception):
    """A failing write was given up at shutdown."""


def _ascii(text: object) -> str:
    return ascii(str(text))[1:-1]


def _refused(reading: pd.DataFrame, exc: Exception) -> pd.DataFrame:
    """A reading the store refused, as a quarantine row (``store_refused``)."""
    row = reading.iloc[0]
    record = {
        "meter_id": str(row["meter_id"]),
        "ts": str(row["ts"]),
        "value": float(row["value"]),
        "quality": int(row["quality"]),
    }
    message = storable_text(f"store_refused: {type(exc).__name__}: {exc}")
    frame = pd.DataFrame(
        {
            "source": ["collect"],
            "line": pd.array([None], dtype="Int64"),
            "meter_id": [storable_text(row["meter_id"])],
            "ts": pd.Series([None], dtype="datetime64[us, UTC]"),
            "field": ["row"],
            "raw": [storable_text(record)],
            "reason": [message],
        }
    )
    frame[RECORD] = [record_text(record)]
    frame[FINGERPRINT] = [message_key("store_refused", *map(str, record.values()))]
    return frame


class BatchWriter:
    """Gather submissions into batches and write each in one store transaction.

    Parameters
    ----------
    store : Store
        Where readings go.
    site : Site
        The site readings are validated against.
    max_rows : int
        Flush once a batch holds this many readings.
    max_delay : float
        The flush interval: a non-empty batch is committed about this long
        after its first submission arrived (or after the previous commit, if
        it arrived just after it, see :func:`batch_anchor`), at the latest (it is closed
        earlier by the longest of the recent batches' times from close to
        commit, see :meth:`commit_lead`), so readings arriving steadily are
        committed at most this far apart [s].
    queue_size : int
        Submissions held before :meth:`submit` waits (backpressure).
    retry_initial, retry_max : float
        Backoff between failed store writes, doubling from ``retry_initial``
        up to ``retry_max`` [s]. The batch is retried until it is written.
    reopen : callable, optional
        Opens a fresh store. After a failed write the writer closes the store
        and reopens it with this before retrying, so a dropped database
        connection (server restart, ``pg_terminate_backend``) heals by itself.
    rules : ValidationRules
        Validation thresholds and the accepted timestamp window.
    close_timeout : float
        After :meth:`close`, how long a failing write is still retried before
        its batch is given up (left unacknowledged) [s].

    Examples
    --------
    >>> async def main(store, site):  # doctest: +SKIP
    ...     writer = BatchWriter(store, site)
    ...     task = asyncio.create_task(writer.run())
    ...     row = RawReading("m1", "2024-01-01T00:00Z", 1.0, "kWh")
    ...     await writer.submit(Submission("http", [row]))
    ...     await writer.close()
    """

    def __init__(
        self,
        store: Store,
        site: Site,
        *,
        max_rows: int = 5000,
        max_delay: float = 0.1,
        queue_size: int = 1000,
        retry_initial: float = 0.05,
        retry_max: float = 5.0,
        reopen: Callable[[], Store] | None = None,
        rules: ValidationRules = DEFAULT_RULES,
        close_timeout: float = 3.0,
    ) -> None:
        if max_rows < 1 or max_delay <= 0 or queue_size < 1:
            raise ValueError("max_rows and queue_size must be >= 1 and max_delay > 0")
        self.store = store
        self.site = site
        self.max_rows = max_rows
        self.max_delay = max_delay
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.reopen = reopen
        self.rules = rules
        self.close_timeout = close_timeout
        self._closing = asyncio.Event()
        self._resolution = {m.id: float(m.resolution_seconds) for m in site.meters}
        self._last_ts: dict[str, float] = {}
        self._seeded: set[str] = set()
        #: (readings, seconds to validate and write) of the newest batches.
        self._timings: deque[tuple[int, float]] = deque(maxlen=TIMED_BATCHES)
        #: Commit lags of the newest batches (see :func:`commit_lead`) [s].
        self._lags: deque[float] = deque(maxlen=LAGGED_BATCHES)
        #: When the newest batch committed [monotonic s]; None before the first.
        self._last_commit: float | None = None
        #: Readings queued or waiting to be (the backlog).
        self._queued_rows = 0
        #: Batch size forced by a backlog too long to clear soon (0: none).
        self._catch_up_rows = 0
        self._give_up_at = float("inf")
        self._broken = False
        self.stats = WriterStats()
        #: Submissions with the time they arrived [monotonic s]; None closes the writer.
        self._queue: asyncio.Queue[tuple[Submission, float] | None] = asyncio.Queue(
            maxsize=queue_size
        )
        self._closed = False
        self._stopped = asyncio.Event()
        #: Called after every committed batch with ``(rows, seconds)``: the batch's readings
        #: and its time from gathering to commit [s] (the service's flush-latency metric).
        self.on_flush: Callable[[int, float], None] | None = None

    @property
    def pending(self) -> int:
        """Submissions waiting in the queue."""
        return self._queue.qsize()

    def batch_limit(self) -> int:
        """Readings the next batch may hold (see :func:`batch_rows`).

        A batch is closed once it holds this many readings or ``max_delay``
        after its anchor (its first submission's arrival or the previous
        commit, :func:`batch_anchor`), less the lead (:meth:`commit_lead`), and
        while the previous write still runs, not before it is done.
        Sized so that validating and writing it takes
        about ``max_delay``: a backlog (a broker redelivering what queued while
        the collector was down) is stored in a stream of commits about one
        flush interval apart, not in one long transaction, and the first batch
        after a start is small. But
        a backlog that would take longer than :data:`CATCH_UP_S` to clear at
        the pace of recent batches (input arriving faster than such batches
        are written) doubles the size from batch to batch, up to ``max_rows``,
        until the writer has caught up: keeping up comes before short commit
        intervals.
        """
        return max(batch_rows(self._timings, self.max_delay, self.max_rows), self._catch_up_rows)

    def commit_lead(self) -> float:
        """How much earlier than ``max_delay`` after its first submission a batch is closed [s].

        See :func:`commit_lead`: the longest of the recent batches' commit
        lags plus a margin, at most three quarters of ``max_delay`` (all of it
        before the first commit: the first batch takes what is waiting). Closing a batch
        that much early makes ``max_delay`` the longest a reading waits to be
        committed, and so the longest time between two commits while readings
        keep arriving, not ``max_delay`` plus the batch's cost.
        """
        return commit_lead(self._lags, self.max_delay)

    def _anchor(self, arrived: float) -> float:
        """When the interval of a batch whose first submission arrived at ``arrived`` starts [s].

        See :func:`batch_anchor`: the previous commit, if the batch's first
        submission arrived at most :data:`ARRIVAL_ALLOWANCE_SHARE` of the
        interval after it (monotonic seconds).
        """
        return batch_anchor(arrived, self._last_commit, self.max_delay)

    def _track_backlog(self, rows: int, limit: int) -> None:
        """After gathering a batch: grow the batches while the backlog is too long to clear."""
        waiting = self._queued_rows
        if waiting == 0 or rows < limit:  # the batch closed on time: caught up
            self._catch_up_rows = 0
            return
        done = sum(n for n, _ in self._timings)
        seconds = sum(t for _, t in self._timings)
        if done and waiting * seconds / done > CATCH_UP_S:  # time to clear it at this pace
            self._catch_up_rows = min(self.max_rows, 2 * max(limit, self._catch_up_rows))

    async def warm_up(self) -> None:
        """Do the per-start work before the sources are started.

        Looks up the newest stored reading of every meter of the site (one
        statement; gap detection needs it) and validates a small made-up batch
        (discarded) so that the first batch of a broker's backlog meets warm
        code paths. Never raises: a store that does not answer yet is the
        writer's retry loop's business.
        """
        meters = [m.id for m in self.site.meters]
        try:
            await asyncio.to_thread(self._seed_last_seen, meters)
            sample = _warm_up_submission(self.site, self.rules)
            await asyncio.to_thread(prepare_batch, [sample], self.site, self.rules)
        except Exception:  # pragma: no cover - a warm-up must never stop the collector
            log.exception("collector warm-up failed; continuing")

    async def submit(self, sub: Submission) -> None:
        """Queue a submission; waits while the queue is full (backpressure)."""
        if self._closed:
            raise RuntimeError("writer is closed")
        now = time.time()
        st = self.stats.source(sub.source)
        st.received += len(sub.rows) + len(sub.rejects)
        st.last_received_at = now
        self._queued_rows += len(sub.rows) + len(sub.rejects)
        await self._queue.put((sub, time.monotonic()))

    async def close(self) -> None:
        """Flush everything queued, then stop :meth:`run`."""
        if not self._closed:
            self._closed = True
            self._give_up_at = time.monotonic() + self.close_timeout
            self._closing.set()
            await self._queue.put(None)
        await self._stopped.wait()

    async def run(self) -> None:
        """Consume the queue until :meth:`close`; one transaction per batch.

        Two stages overlap: while batch *k* is being written (the store works
        in its own thread or server process), batch *k+1* is gathered and
        validated. Writes stay strictly in order and one at a time, and each
        batch is acknowledged only after its own commit.
        """
        writing: asyncio.Task[None] | None = None
        try:
            done = False
            while not done:
                head = await self._queue.get()
                if head is None:
                    break
                first, arrived = head
                batch = [first]
                n = len(first.rows) + len(first.rejects)
                self._queued_rows -= n
                deadline = self._anchor(arrived) + self.max_delay - self.commit_lead()
                limit = self.batch_limit()
                held = False  # gathered past its due time while the previous write ran
                while n < limit:
                    try:
                        queued = self._queue.get_nowait()
                    except asyncio.QueueEmpty:
                        timeout = deadline - time.monotonic()
                        if timeout <= 0:
                            if writing is None or writing.done():
                                break
                            # Closing now gains nothing: the batch would wait for the previous
                            # write anyway. Keep gathering until that write is done (a burst
                            # then comes in fewer, larger transactions).
                            held = True
                            getter = asyncio.ensure_future(self._queue.get())
                            await asyncio.wait({getter, writing}, return_when="FIRST_COMPLETED")
                            if not getter.done():
                                getter.cancel()
                                break
                            queued = getter.result()
                        else:
                            try:
                                queued = await asyncio.wait_for(self._queue.get(), timeout)
                            except TimeoutError:
                                continue  # due now: closed, or held if the previous write runs
                    if queued is None:
                        done = True
                        break
                    item = queued[0]
                    batch.append(item)
                    n += len(item.rows) + len(item.rejects)
                    self._queued_rows -= len(item.rows) + len(item.rejects)
                self._track_backlog(n, limit)
                started = time.monotonic()
                # the lag counts from when the batch was due to close if the loop woke late
                # (from its close if it was held for the previous write)
                closed = started if held else min(started, deadline)
                prepared = await asyncio.to_thread(prepare_batch, batch, self.site, self.rules)
                validated = time.monotonic() - started
                if writing is not None:
                    await writing
                writing = asyncio.create_task(
                    self._flush(batch, prepared, started, (n, validated), closed)
                )
            if writing is not None:
                await writing
        finally:
            self._abandon_queued()
            self._stopped.set()

    def _abandon_queued(self) -> None:
        """Tell the submissions still queued that they were not stored (at shutdown)."""
        while True:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if item is not None:
                self._give_up([item[0]])

    def _give_up(self, batch: Sequence[Submission]) -> None:
        self.stats.abandoned += len(batch)
        for sub in batch:
            if sub.on_done is not None:
                try:
                    sub.on_done(SubmissionResult(0, 0, (), committed=False))
                except Exception:
                    log.exception("on_done callback of %s failed", sub.source)

    async def _flush(
        self,
        batch: list[Submission],
        prepared: PreparedBatch,
        started: float,
        validated: tuple[int, float] = (0, 0.0),
        closed: float | None = None,
    ) -> None:
        meters = sorted(map(str, prepared.readings["meter_id"].unique()))
        if not self._seeded.issuperset(meters):  # a thread hop only for a look-up to make
            await asyncio.to_thread(self._seed_last_seen, meters)
        failures = self.stats.store_failures
        try:
            report, seconds = await self._write_with_retry(prepared)
        except _GaveUp:
            log.warning("shutting down: %d submissions left unwritten and unacknowledged",
                        len(batch))  # fmt: skip
            self._give_up(batch)
            return
        self._last_commit = time.monotonic()
        rows, validating = validated
        if rows and self.stats.store_failures == failures:
            # Only clean writes size later batches (a retried or split one says nothing),
            # and not the first after a start: it holds whatever was waiting, however few,
            # on a cold connection, and its cost per reading would shrink the next batches
            # and make a broker's backlog look too long to clear (see _track_backlog).
            if self.stats.batches > 0:
                self._timings.append((rows, validating + seconds))
            self._lags.append(time.monotonic() - (started if closed is None else closed))
        # Acknowledge first: a broker holds back further messages while its window of
        # unacknowledged ones is full, so bookkeeping before the acks would delay them.
        for sub, result in zip(batch, prepared.results, strict=True):
            if sub.on_done is not None:
                try:
                    sub.on_done(result)
                except Exception:  # a failing callback must not stop the writer
                    log.exception("on_done callback of %s failed", sub.source)
        self.stats.batches += 1
        self.stats.rows_written += report.inserted
        self.stats.last_flush_at = time.time()
        self.stats.last_flush_seconds = time.monotonic() - started
        self._account(batch, prepared)
        self._detect_gaps(prepared.readings)
        if self.on_flush is not None:
            try:
                self.on_flush(len(prepared.readings), self.stats.last_flush_seconds)
            except Exception:  # instrumentation must never stop the writer
                log.exception("on_flush hook failed")

    async def _write_with_retry(self, prepared: PreparedBatch) -> tuple[WriteReport, float]:
        """Write a batch until it is stored; the report and the last attempt's time [s]."""
        delay = self.retry_initial
        readings = prepared.readings
        quarantine = prepared.quarantine if len(prepared.quarantine) else None
        while True:
            try:
                if self._broken and self.reopen is not None:
                    await asyncio.to_thread(self._reopen)
                start = time.monotonic()
                report = await asyncio.to_thread(self._write_split, readings, quarantine)
                return report, time.monotonic() - start
            except Exception as exc:
                # Hold the batch (its messages stay unacknowledged) and retry:
                # a store outage must never lose an accepted reading. Each write
                # is one transaction, so a failed attempt left nothing behind,
                # and a retry of an attempt that did commit is an idempotent no-op.
                self._broken = True
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                if time.monotonic() >= self._give_up_at:
                    raise _GaveUp from exc
                log.warning("store write failed (%s); retrying in %.2f s", exc, delay)
                pause = min(delay, max(0.0, self._give_up_at - time.monotonic()))
                with contextlib.suppress(TimeoutError):
                    # A close() cuts the pause short: shutdown never waits out a backoff.
                    await asyncio.wait_for(self._closing.wait(), pause)
                if self._closing.is_set() and time.monotonic() >= self._give_up_at:
                    raise _GaveUp from exc
                delay = min(delay * 2, self.retry_max)

    def _store_answers(self) -> bool:
        """Whether the store answers a trivial query (it is up: a refusal is the data's)."""
        try:
            self.store.schema_version()
        except Exception:
            return False
        return True

    def _write_split(
        self, readings: pd.DataFrame, quarantine: pd.DataFrame | None, top: bool = True
    ) -> WriteReport:
        """Write a batch; if the store refuses it while answering, bisect it (thread).

        A refused batch is tried once more whole (a dropped connection that the
        store re-established by itself looks the same at first), then split in
        halves (readings and quarantine rows apart), each written on its own,
        down to single rows; a single refused reading is quarantined as
        ``store_refused`` with the store's message, and a single refused
        quarantine row is stored with its text reduced to ASCII. Raises when
        the store does not answer (an outage: the caller backs off and retries).
        """
        try:
            return self.store.write_readings(readings, quarantine=quarantine, source="collect")
        except Exception as first:
            self.stats.store_failures += 1
            if not self._store_answers():
                raise
            error: Exception = first
        if top:
            try:
                return self.store.write_readings(readings, quarantine=quarantine, source="collect")
            except Exception as again:
                if not self._store_answers():
                    raise
                error = again
        n_q = 0 if quarantine is None else len(quarantine)
        if len(readings) + n_q > 1:
            log.warning("store refused a batch of %d rows (%s); splitting it",
                        len(readings) + n_q, error)  # fmt: skip
        return self._split(readings, quarantine, error)

    def _split(
        self, readings: pd.DataFrame, quarantine: pd.DataFrame | None, exc: Exception
    ) -> WriteReport:
        n_q = 0 if quarantine is None else len(quarantine)
        empty = readings.iloc[:0]
        if len(readings) and n_q:
            return self._write_split(readings, None, False) + self._write_split(
                empty, quarantine, False
            )
        if len(readings) > 1:
            mid = len(readings) // 2
            return self._write_split(readings.iloc[:mid], None, False) + self._write_split(
                readings.iloc[mid:], None, False
            )
        if quarantine is not None and n_q > 1:
            mid = n_q // 2
            return self._write_split(empty, quarantine.iloc[:mid], False) + self._write_split(
                empty, quarantine.iloc[mid:], False
            )
        if len(readings) == 1:
            self.stats.store_refused += 1
            return self.store.write_readings(empty, quarantine=_refused(readings, exc))
        assert quarantine is not None
        ascii_only = quarantine.assign(
            **{
                c: quarantine[c].map(_ascii, na_action="ignore")
                for c in ("source", "meter_id", "field", "raw", "reason")
                if c in quarantine.columns
            }
        )
        return self.store.write_readings(empty, quarantine=ascii_only)

    def _seed_last_seen(self, meters: Sequence[str]) -> None:
        """Remember the newest stored reading of meters seen for the first time (thread)."""
        latest = getattr(self.store, "latest_per_meter", None)
        new = [m for m in meters if m not in self._seeded]
        if latest is None or not new:
            return
        try:
            found = latest(new)  # one statement for all of them
        except Exception:  # no history is no reason to hold a batch
            return
        self._seeded.update(new)
        for meter, ts in found.items():
            if str(meter) not in self._last_ts:
                self._last_ts[str(meter)] = pd.Timestamp(ts).timestamp()

    def _detect_gaps(self, readings: pd.DataFrame) -> None:
        """Record meters whose readings jump forward by more than 1.5 intervals."""
        if not len(readings):
            return
        seconds = pd.DatetimeIndex(readings["ts"]).as_unit("us").asi8 / 1e6
        for meter, idx in readings.groupby("meter_id").indices.items():
            step = self._resolution.get(str(meter))
            if not step:
                continue
            stamps = np.sort(seconds[idx])
            last = self._last_ts.get(str(meter))
            chain = stamps if last is None else np.r_[last, stamps[stamps > last]]
            jumps = np.flatnonzero(np.diff(chain) > 1.5 * step)
            for j in jumps.tolist():
                missing = int(np.rint((chain[j + 1] - chain[j]) / step)) - 1
                event = GapEvent(str(meter), float(chain[j]), float(chain[j + 1]), missing)
                self.stats.gaps.append(event)
                self.stats.missing_readings += missing
                log.warning("gap: %s", event.describe())
            del self.stats.gaps[:-MAX_GAP_EVENTS]
            self._last_ts[str(meter)] = max(float(stamps[-1]), last or float("-inf"))

    def _reopen(self) -> None:
        assert self.reopen is not None
        with contextlib.suppress(Exception):
            self.store.close()
        self.store = self.reopen()
        self._broken = False
        log.info("store reopened: %s", self.store.url)

    def _account(self, batch: list[Submission], prepared: PreparedBatch) -> None:
        for sub, result in zip(batch, prepared.results, strict=True):
            st = self.stats.source(sub.source)
            st.accepted += result.accepted
            st.quarantined += result.quarantined
            for r in result.rejections:
                self.stats.reasons[f"{sub.source.split(':', 1)[0]}: {r.reason}"] += 1
        if len(prepared.readings):
            last = pd.Timestamp(prepared.readings["ts"].max())
            for kind in {s.source.split(":", 1)[0] for s in batch}:
                st = self.stats.sources[kind]
                value = last.timestamp()
                st.last_reading_ts = max(st.last_reading_ts or value, value)
