"""Batching writer: live readings in, one store transaction per batch out.

Sources (MQTT, Modbus, HTTP) hand :class:`Submission` objects to a
:class:`BatchWriter`. The writer keeps them in a bounded queue (a full queue
makes :meth:`BatchWriter.submit` wait, which is the backpressure that reaches
the broker or the HTTP client), gathers them into batches by size or age,
validates each batch once (vectorised, :func:`bitgaram.collect.validate.validate_readings`),
and writes it with :meth:`bitgaram.store.base.Store.write_readings` in one
transaction. Only after that transaction committed does it call each
submission's ``on_done`` callback, which is where MQTT messages are acknowledged
to the broker. When the store fails, the batch is held and retried with
exponential backoff (reopening the store, if given a way to; the PostgreSQL
store also reconnects by itself); it is never dropped. Validation of the
next batch overlaps the write of the current one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from bitgaram.collect.validate import validate_readings
from bitgaram.site import Site
from bitgaram.store.base import FINGERPRINT, QUARANTINE_COLUMNS, READING_COLUMNS, Store, WriteReport

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


@dataclass
class WriterStats:
    """Running counters of a :class:`BatchWriter` (read by ``collect status``)."""

    batches: int = 0
    rows_written: int = 0
    store_failures: int = 0
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


def prepare_batch(subs: Sequence[Submission], site: Site) -> PreparedBatch:
    """Validate a batch of submissions into a readings and a quarantine frame.

    Pure: no I/O. The rules are those of the file import
    (:func:`~bitgaram.collect.validate.validate_readings`, run once on the
    whole batch), plus one that only live payloads need: the ``unit`` sent
    with a reading must be the meter's unit (reason ``bad_unit``). Every row
    carries a batch-wide line number through validation so that a rejected
    row is traced back to its submission, source and position in it.

    Parameters
    ----------
    subs : sequence of Submission
    site : Site
        Meters, units, bounds and timezone the readings are checked against.

    Returns
    -------
    PreparedBatch
    """
    rows = [r for s in subs for r in s.rows]
    n = len(rows)
    owners = np.repeat(np.arange(len(subs)), [len(s.rows) for s in subs])
    # One transposition in C instead of a Python pass per column.
    meter_ids, stamps, values, units_raw, qualities, lines = (
        tuple(zip(*rows, strict=True)) if rows else ((),) * 6
    )
    within = np.concatenate(
        [np.arange(1, len(s.rows) + 1) for s in subs] or [np.zeros(0, dtype=np.int64)]
    )
    given = pd.array(lines, dtype="Int64")
    positions = np.where(pd.isna(given), within, given.fillna(0)).astype(np.int64)
    sources = np.asarray([s.source for s in subs] or [""], dtype=object)
    frame = pd.DataFrame(
        {
            "meter_id": pd.Series(meter_ids, dtype=object),
            "ts": _timestamps(stamps),
            "value": pd.Series(values, dtype="float64"),
            "quality": pd.Series(qualities, dtype="Int8").fillna(0).astype("int8"),
            "line": np.arange(n, dtype=np.int64),
        }
    )
    units = pd.Series(units_raw, dtype=object)
    expected = frame["meter_id"].map({m.id: str(m.unit) for m in site.meters})
    bad_unit = (expected.notna() & (units != expected)).to_numpy(dtype=bool)

    parts: list[pd.DataFrame] = []
    if bad_unit.any():
        wrong = frame.loc[bad_unit]
        parts.append(
            pd.DataFrame(
                {
                    "source": "collect",
                    "line": wrong["line"].to_numpy(),
                    "meter_id": wrong["meter_id"].to_numpy(),
                    "ts": None,
                    "field": "unit",
                    "raw": units[bad_unit].astype(str).to_numpy(),
                    "reason": "bad_unit: the meter reports in " + expected[bad_unit].astype(str),
                }
            )
        )
        frame = frame.loc[~bad_unit]
    if len(frame):
        good, checked_bad = validate_readings(frame.reset_index(drop=True), site, "collect")
        parts.append(checked_bad.loc[:, list(QUARANTINE_COLUMNS)])
    else:
        good = pd.DataFrame(columns=list(READING_COLUMNS))

    # Map the batch-wide line back to (submission, position in it).
    bad = pd.concat(parts, ignore_index=True) if parts else None
    owner = np.zeros(0, dtype=np.int64)
    if bad is not None and len(bad):
        g = pd.to_numeric(bad["line"], errors="coerce").fillna(-1).to_numpy(dtype=np.int64)
        g = np.clip(g, 0, max(n - 1, 0))
        owner = owners[g]
        bad = bad.assign(source=sources[owner], line=positions[g])
    pre = pd.DataFrame(
        [
            (s.source, r.line, r.meter_id, None, r.field, r.raw, r.reason)
            for s in subs
            for r in s.rejects
        ],
        columns=list(QUARANTINE_COLUMNS),
        dtype=object,
    )
    pre_owner = np.repeat(np.arange(len(subs)), [len(s.rejects) for s in subs])
    frames = [d for d in (pre, bad) if d is not None and len(d)]
    quarantine = pd.concat(frames, ignore_index=True) if frames else pre
    quarantine = quarantine.astype({"line": "Int64"})
    quarantine["ts"] = pd.to_datetime(quarantine["ts"], utc=True).astype("datetime64[us, UTC]")
    all_owner = np.concatenate([pre_owner, owner])
    keys = [s.key for s in subs]
    quarantine[FINGERPRINT] = [
        None if keys[o] is None else message_key(keys[o], str(line), str(f), str(reason))
        for o, line, f, reason in zip(
            all_owner, quarantine["line"], quarantine["field"], quarantine["reason"], strict=True
        )
    ]

    rejected_rows = np.bincount(owner, minlength=len(subs))
    order = np.argsort(all_owner, kind="stable")
    bounds = np.searchsorted(all_owner[order], np.arange(len(subs) + 1))
    results: list[SubmissionResult] = []
    for i, sub in enumerate(subs):
        q = quarantine.iloc[order[bounds[i] : bounds[i + 1]]]
        rej = tuple(
            Rejection(int(line), None if pd.isna(m) else str(m), str(f), str(reason))
            for line, m, f, reason in zip(
                q["line"], q["meter_id"], q["field"], q["reason"], strict=True
            )
        )
        results.append(SubmissionResult(len(sub.rows) - int(rejected_rows[i]), len(rej), rej))
    return PreparedBatch(
        readings=good.loc[:, list(READING_COLUMNS)].reset_index(drop=True),
        quarantine=quarantine,
        results=results,
    )


def _timestamps(values: Sequence[Any]) -> pd.Series:
    """Timestamps as received: ISO text, or epoch seconds [s] turned into UTC datetimes."""
    kinds = set(map(type, values))
    if kinds <= {str}:
        return pd.Series(values, dtype=object)
    numeric = np.fromiter((type(v) is not str for v in values), dtype=bool, count=len(values))
    if not numeric.any():
        return pd.Series(values, dtype=object)
    if numeric.all():
        seconds = np.asarray(values, dtype="float64")
        return pd.Series(pd.to_datetime(seconds, unit="s", utc=True)).astype("datetime64[us, UTC]")
    # Mixed: write the epoch ones as ISO text (rare; the validator parses text).
    out = pd.Series(values, dtype=object)
    epoch = pd.to_datetime(np.asarray(out[numeric], dtype="float64"), unit="s", utc=True)
    out[numeric] = [t.isoformat() for t in epoch]
    return out


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
        Flush a non-empty batch at the latest this long after its first
        submission arrived [s].
    queue_size : int
        Submissions held before :meth:`submit` waits (backpressure).
    retry_initial, retry_max : float
        Backoff between failed store writes, doubling from ``retry_initial``
        up to ``retry_max`` [s]. The batch is retried until it is written.
    reopen : callable, optional
        Opens a fresh store. After a failed write the writer closes the store
        and reopens it with this before retrying, so a dropped database
        connection (server restart, ``pg_terminate_backend``) heals by itself.

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
        self._broken = False
        self.stats = WriterStats()
        self._queue: asyncio.Queue[Submission | None] = asyncio.Queue(maxsize=queue_size)
        self._closed = False
        self._stopped = asyncio.Event()

    @property
    def pending(self) -> int:
        """Submissions waiting in the queue."""
        return self._queue.qsize()

    async def submit(self, sub: Submission) -> None:
        """Queue a submission; waits while the queue is full (backpressure)."""
        if self._closed:
            raise RuntimeError("writer is closed")
        now = time.time()
        st = self.stats.source(sub.source)
        st.received += len(sub.rows) + len(sub.rejects)
        st.last_received_at = now
        await self._queue.put(sub)

    async def close(self) -> None:
        """Flush everything queued, then stop :meth:`run`."""
        if not self._closed:
            self._closed = True
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
                first = await self._queue.get()
                if first is None:
                    break
                batch = [first]
                n = len(first.rows) + len(first.rejects)
                deadline = time.monotonic() + self.max_delay
                while n < self.max_rows:
                    try:
                        item = self._queue.get_nowait()
                    except asyncio.QueueEmpty:
                        timeout = deadline - time.monotonic()
                        if timeout <= 0:
                            break
                        try:
                            item = await asyncio.wait_for(self._queue.get(), timeout)
                        except TimeoutError:
                            break
                    if item is None:
                        done = True
                        break
                    batch.append(item)
                    n += len(item.rows) + len(item.rejects)
                started = time.monotonic()
                prepared = await asyncio.to_thread(prepare_batch, batch, self.site)
                if writing is not None:
                    await writing
                writing = asyncio.create_task(self._flush(batch, prepared, started))
            if writing is not None:
                await writing
        finally:
            self._stopped.set()

    async def _flush(
        self, batch: list[Submission], prepared: PreparedBatch, started: float
    ) -> None:
        report = await self._write_with_retry(prepared)
        self.stats.batches += 1
        self.stats.rows_written += report.inserted
        self.stats.last_flush_at = time.time()
        self.stats.last_flush_seconds = time.monotonic() - started
        self._account(batch, prepared)
        for sub, result in zip(batch, prepared.results, strict=True):
            if sub.on_done is not None:
                try:
                    sub.on_done(result)
                except Exception:  # a failing callback must not stop the writer
                    log.exception("on_done callback of %s failed", sub.source)

    async def _write_with_retry(self, prepared: PreparedBatch) -> WriteReport:
        delay = self.retry_initial
        while True:
            try:
                if self._broken and self.reopen is not None:
                    await asyncio.to_thread(self._reopen)
                return await asyncio.to_thread(
                    self.store.write_readings,
                    prepared.readings,
                    # None, not an empty frame: normalising one costs ~1 ms.
                    quarantine=prepared.quarantine if len(prepared.quarantine) else None,
                    source="collect",
                )
            except Exception as exc:
                # Hold the batch (its messages stay unacknowledged) and retry:
                # a store outage must never lose an accepted reading. The batch
                # is one transaction, so a failed attempt left nothing behind,
                # and a retry of an attempt that did commit is an idempotent no-op.
                self._broken = True
                self.stats.store_failures += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("store write failed (%s); retrying in %.2f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)

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
