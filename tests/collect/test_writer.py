"""The batching writer: batches, acknowledgements after commit, backpressure, outages."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from collect_doubles import FlakyStore, MemoryStore, site_dict
from hypothesis import given, settings
from hypothesis import strategies as st

from bitgaram.collect import writer as writer_module
from bitgaram.collect.validate import ValidationRules
from bitgaram.collect.writer import (
    FIRST_BATCH_ROWS,
    LEAD_MARGIN_SHARE,
    LEAD_MAX_SHARE,
    BatchWriter,
    RawReading,
    Reject,
    Submission,
    SubmissionResult,
    batch_rows,
    commit_lead,
    prepare_batch,
)
from bitgaram.site import Site, parse_site
from bitgaram.store.base import FINGERPRINT

T0 = pd.Timestamp("2024-05-01T00:00Z")


def reading(i: int, meter: str = "acme-load", value: float | None = None) -> RawReading:
    ts = (T0 + pd.Timedelta(minutes=i)).isoformat()
    return RawReading(meter, ts, float(i % 97) if value is None else value, "kWh", 0)


async def _run(writer: BatchWriter, subs: list[Submission]) -> None:
    task = asyncio.create_task(writer.run())
    for sub in subs:
        await writer.submit(sub)
    await writer.close()
    await task


def test_batches_by_size_and_acks_after_commit(site: Site, memory_store: MemoryStore) -> None:
    acked: list[tuple[int, int]] = []

    def ack(i: int) -> Any:
        # The reading must already be in the store when its message is acknowledged.
        def done(result: SubmissionResult) -> None:
            assert memory_store.count_readings() >= (i + 1) * 10
            acked.append((i, result.accepted))

        return done

    subs = [
        Submission(f"mqtt:m{i}", [reading(i * 10 + k) for k in range(10)], (), ack(i))
        for i in range(25)
    ]
    writer = BatchWriter(memory_store, site, max_rows=100, max_delay=5.0)
    asyncio.run(_run(writer, subs))
    assert memory_store.count_readings() == 250
    assert [a for a, _ in acked] == list(range(25))  # in order, each once
    assert all(n == 10 for _, n in acked)
    # 250 rows in batches of at most 100 readings: three transactions.
    assert memory_store.calls == 3 == writer.stats.batches


def test_flushes_by_time(site: Site, memory_store: MemoryStore) -> None:
    async def scenario() -> float:
        writer = BatchWriter(memory_store, site, max_rows=10_000, max_delay=0.05)
        task = asyncio.create_task(writer.run())
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        start = loop.time()
        await writer.submit(Submission("http", [reading(1)], (), lambda r: done.set()))
        await asyncio.wait_for(done.wait(), 2.0)
        elapsed = loop.time() - start
        await writer.close()
        await task
        return elapsed

    elapsed = asyncio.run(scenario())
    assert memory_store.count_readings() == 1
    assert elapsed < 1.0


def test_backpressure_blocks_submit_while_store_is_stuck(site: Site) -> None:
    gate = threading.Event()
    inner = MemoryStore()

    class Stuck:
        url = "stuck://"

        def write_readings(self, readings: pd.DataFrame, **kw: Any) -> Any:
            gate.wait(5)
            return inner.write_readings(readings, **kw)

    async def scenario() -> tuple[int, int]:
        writer = BatchWriter(Stuck(), site, max_rows=1, max_delay=0.01, queue_size=2)  # type: ignore[arg-type]
        task = asyncio.create_task(writer.run())
        accepted = 0
        for i in range(10):
            try:
                await asyncio.wait_for(writer.submit(Submission("http", [reading(i)])), 0.2)
            except TimeoutError:
                break
            accepted += 1
        # One batch in the stuck write, one validated and waiting for it, two
        # queued: the fifth submit must wait.
        blocked_at = accepted
        gate.set()
        for i in range(accepted, 10):
            await writer.submit(Submission("http", [reading(i)]))
        await writer.close()
        await task
        return blocked_at, inner.count_readings()

    blocked_at, stored = asyncio.run(scenario())
    assert blocked_at == 4
    assert stored == 10


def _append(acks: list[int], i: int, result: SubmissionResult) -> None:
    acks.append(i)


def _outage(
    site: Site, after_commit: bool
) -> tuple[MemoryStore, FlakyStore, list[int], BatchWriter]:
    inner = MemoryStore()
    flaky = FlakyStore(inner, failures=3, after_commit=after_commit)
    acks: list[int] = []
    subs = [
        Submission(
            "mqtt:x", [reading(i * 5 + k) for k in range(5)], (), lambda r, i=i: acks.append(i)
        )
        for i in range(40)
    ]
    writer = BatchWriter(flaky, site, max_rows=50, max_delay=0.01, retry_initial=0.01)  # type: ignore[arg-type]
    asyncio.run(_run(writer, subs))
    return inner, flaky, acks, writer


def test_store_outage_holds_the_batch_until_written(site: Site) -> None:
    inner, flaky, acks, writer = _outage(site, after_commit=False)
    assert flaky.failed == 3 == writer.stats.store_failures
    assert inner.count_readings() == 200
    assert sorted(acks) == list(range(40))  # every message acknowledged exactly once
    assert inner.quarantine == []


def test_outage_after_commit_does_not_double(site: Site) -> None:
    inner, _, acks, _ = _outage(site, after_commit=True)
    # The retried batch was already committed: idempotent writes, no conflict, no double.
    assert inner.count_readings() == 200
    assert inner.quarantine == []
    assert sorted(acks) == list(range(40))


def test_bad_unit_and_pre_rejects_are_traced_to_their_submission(site: Site) -> None:
    subs = [
        Submission("mqtt:a", [reading(0), RawReading("acme-load", T0.isoformat(), 1.0, "W", 0, 2)]),
        Submission("mqtt:b", [], [Reject(0, "acme-load", "payload", "{", "bad_json: x")]),
        Submission("mqtt:c", [reading(3, meter="nope")]),
    ]
    prepared = prepare_batch(subs, site)
    assert [r.accepted for r in prepared.results] == [1, 0, 0]
    assert prepared.results[0].rejections[0].reason.startswith("bad_unit")
    assert prepared.results[0].rejections[0].line == 2
    assert prepared.results[2].rejections[0].reason.startswith("unknown_meter")
    q = prepared.quarantine.sort_values("source")
    assert list(q["source"]) == ["mqtt:a", "mqtt:b", "mqtt:c"]


_item = st.tuples(
    st.sampled_from(["acme-load", "acme-pv", "nope"]),
    st.sampled_from(["kWh", "kW", "W"]),
    st.one_of(st.floats(-10, 5000, allow_nan=False), st.just(float("nan"))),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(_item, max_size=6), min_size=1, max_size=6))
def test_every_row_is_accepted_or_quarantined(batches: list[list[Any]]) -> None:
    site = parse_site(site_dict("hypothesis"))
    subs = []
    k = 0
    for i, items in enumerate(batches):
        rows = []
        for meter, unit, value in items:
            rows.append(RawReading(meter, (T0 + pd.Timedelta(minutes=k)).isoformat(), value, unit))
            k += 1  # unique timestamps: no duplicates to collapse
        subs.append(Submission(f"http:{i}", rows))
    prepared = prepare_batch(subs, site)
    for sub, result in zip(subs, prepared.results, strict=True):
        assert result.accepted + result.quarantined == len(sub.rows)
        assert all(r.line >= 1 for r in result.rejections)
    assert len(prepared.readings) == sum(r.accepted for r in prepared.results)
    assert len(prepared.quarantine) == sum(r.quarantined for r in prepared.results)
    meter_units = {m.id: str(m.unit) for m in site.meters}
    stored = set(prepared.readings["meter_id"])
    assert stored <= set(meter_units)


class SlowStore(MemoryStore):
    """A store whose writes take a fixed time plus a time per reading, like a real one."""

    def __init__(self, fixed: float, per_row: float) -> None:
        super().__init__()
        self.fixed, self.per_row = fixed, per_row
        self.batches: list[int] = []
        self.latest_calls: list[list[str]] = []

    def write_readings(self, readings: pd.DataFrame, **kwargs: Any) -> Any:
        time.sleep(self.fixed + self.per_row * len(readings))
        self.batches.append(len(readings))
        return super().write_readings(readings, **kwargs)

    def latest_per_meter(self, meter_ids: list[str]) -> dict[str, pd.Timestamp]:
        self.latest_calls.append(list(meter_ids))
        found: dict[str, pd.Timestamp] = {}
        for m, ts in self.rows:
            if m in meter_ids:
                found[m] = max(found.get(m, ts), ts)
        return found


def test_a_backlog_is_written_in_batches_that_fit_the_flush_interval(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 3,000 readings queued before the writer starts: a broker redelivering
    # what it kept while the collector was down. A store taking 0.2 ms per
    # reading fits at most 250 readings in a 0.05 s flush interval (above the
    # floor of a tenth of max_rows).
    store = SlowStore(fixed=0.002, per_row=0.0002)
    # the backlog clears in well under a second; a machine slow enough to need
    # the 2 s catch-up horizon must not make this test fail
    monkeypatch.setattr(writer_module, "CATCH_UP_S", 30.0)
    per_message = 10
    acked: list[int] = []
    subs = [
        Submission(
            f"mqtt:m{i}",
            [reading(i * per_message + k) for k in range(per_message)],
            (),
            lambda r, i=i: acked.append(i),
        )
        for i in range(300)
    ]
    max_delay = 0.05
    writer = BatchWriter(store, site, max_rows=2000, max_delay=max_delay, queue_size=1000)

    async def scenario() -> None:
        for sub in subs:  # all queued before the writer runs
            await writer.submit(sub)
        task = asyncio.create_task(writer.run())
        await writer.close()
        await task

    asyncio.run(scenario())
    assert store.count_readings() == 3000
    assert acked == list(range(300))  # each message acknowledged once, in order
    fits = max_delay / store.per_row
    # a batch grows by whole messages, so it may pass its limit by one message
    assert store.batches[0] < FIRST_BATCH_ROWS + per_message
    assert max(store.batches) < fits + per_message
    assert len(store.batches) >= 3000 / (fits + per_message)
    # (the old writer took the backlog max_rows at a time: batches of 2,000)


def test_batch_rows_fit_the_budget_and_keep_a_backlog_draining() -> None:
    budget, max_rows = 0.05, 5000
    assert batch_rows([], budget, max_rows) == FIRST_BATCH_ROWS
    assert batch_rows([], budget, 10) == 10  # never above max_rows
    for per_row in (2e-5, 5e-5, 1e-4):  # seconds per reading of recent batches
        timings = [(n, n * per_row) for n in (300, 800, 1500)]
        rows = batch_rows(timings, budget, max_rows)
        assert rows * per_row <= budget < (rows + 1) * per_row
    fast = batch_rows([(1000, 0.001)], budget, max_rows)
    slow = batch_rows([(100, 0.5)], budget, max_rows)  # one commit alone exceeds the budget
    assert fast == max_rows
    # a floor (a tenth of max_rows) keeps a slow store draining a backlog
    assert slow == max_rows // 10
    assert batch_rows([(100, 0.5)], budget, 300) == 100


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 10_000), st.floats(0, 5)), max_size=40),
    st.floats(0.001, 5),
    st.integers(1, 100_000),
)
def test_batch_rows_stay_within_their_bounds(
    timings: list[tuple[int, float]], budget: float, max_rows: int
) -> None:
    rows = batch_rows(timings, budget, max_rows)
    assert 1 <= rows <= max_rows
    if timings:
        assert rows >= min(100, max_rows)
        slower = batch_rows([(n, 2 * t + 0.01) for n, t in timings], budget, max_rows)
        assert slower <= rows  # a slower store never gets larger batches


def test_warm_up_looks_up_every_meter_once_before_the_first_batch(site: Site) -> None:
    store = SlowStore(fixed=0.0, per_row=0.0)
    # acme-load's newest stored reading is minute 0; minute 5 follows a gap of 4
    store.write_readings(
        pd.DataFrame({"meter_id": ["acme-load"], "ts": [T0], "value": [1.0], "quality": [0]})
    )
    writer = BatchWriter(store, site, max_delay=0.01)
    asyncio.run(writer.warm_up())
    assert store.latest_calls == [[m.id for m in site.meters]]
    asyncio.run(_run(writer, [Submission("mqtt:a", [reading(5), reading(5, "acme-pv")])]))
    assert len(store.latest_calls) == 1  # the first batch asked nothing more
    assert [(g.meter_id, g.missing) for g in writer.stats.gaps] == [("acme-load", 4)]


def test_a_backlog_too_long_to_clear_grows_the_batches_to_keep_up(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A producer that keeps the queue full (input faster than flush-interval-sized
    # batches are written): the writer must not fall ever further behind, so its
    # batches grow up to max_rows. The catch-up horizon is cut from 2 s to 0.05 s
    # so that a 3,000-reading queue is already "too long to clear".
    monkeypatch.setattr(writer_module, "CATCH_UP_S", 0.05)
    store = SlowStore(fixed=0.01, per_row=0.0001)  # 400 readings fit in 0.05 s
    per_message, max_rows = 10, 2000
    writer = BatchWriter(store, site, max_rows=max_rows, max_delay=0.05, queue_size=300)
    subs = [
        Submission(f"mqtt:m{i}", [reading(i * per_message + k) for k in range(per_message)])
        for i in range(1000)
    ]
    asyncio.run(_run(writer, subs))  # submits as fast as the full queue takes them
    assert store.count_readings() == 10_000
    assert store.batches[0] < FIRST_BATCH_ROWS + per_message
    assert max(store.batches) == max_rows


def test_a_refused_reading_keeps_its_fingerprint_when_the_window_has_moved(site: Site) -> None:
    # the same message delivered again a moment later (after a kill -9)
    far = RawReading("acme-load", 253_402_297_200, 1.0, "kWh")
    sub = Submission("mqtt:a", [far, reading(1)], key="message-1")
    now = pd.Timestamp("2026-01-01T00:00Z")
    prints, reasons = [], []
    for later in (0, 7):
        rules = ValidationRules(now=now + pd.Timedelta(seconds=later))
        q = prepare_batch([sub], site, rules).quarantine
        prints.append(q[FINGERPRINT].iloc[0])
        reasons.append(q["reason"].iloc[0])
    assert reasons[0] != reasons[1]  # the text names the moving end of the window
    assert reasons[0].startswith("out_of_window")
    assert prints[0] == prints[1]


class CommitClock(SlowStore):
    """A :class:`SlowStore` that notes when each write committed [monotonic s]."""

    def __init__(self, fixed: float) -> None:
        super().__init__(fixed=fixed, per_row=0.0)
        self.committed: list[float] = []

    def write_readings(self, readings: pd.DataFrame, **kwargs: Any) -> Any:
        report = super().write_readings(readings, **kwargs)
        self.committed.append(time.monotonic())
        return report


def test_commits_come_at_most_one_flush_interval_apart_while_readings_arrive(site: Site) -> None:
    # A store taking 40 ms per batch and a reading every 10 ms: a batch timed
    # from when the writer took its first submission (not when it arrived), and
    # closed a full max_delay after it, committed every max_delay + 40 ms.
    store = CommitClock(fixed=0.04)
    max_delay = 0.15

    async def scenario() -> None:
        writer = BatchWriter(store, site, max_rows=5000, max_delay=max_delay)
        task = asyncio.create_task(writer.run())
        for i in range(150):
            await writer.submit(Submission("mqtt:a", [reading(i)]))
            await asyncio.sleep(0.01)
        await writer.close()
        await task

    asyncio.run(scenario())
    assert store.count_readings() == 150
    done = store.committed[2:-1]  # the first batches are timed before any lead is known
    gaps = sorted(b - a for a, b in itertools.pairwise(done))
    median = gaps[len(gaps) // 2]
    assert median <= max_delay, gaps


class TailStore(CommitClock):
    """Writes taking ``fast`` seconds, and ``slow`` for every ``every``-th from the second."""

    def __init__(self, fast: float, slow: float, every: int) -> None:
        super().__init__(fixed=0.0)
        self.fast, self.slow, self.every = fast, slow, every

    def write_readings(self, readings: pd.DataFrame, **kwargs: Any) -> Any:
        time.sleep(self.slow if len(self.committed) % self.every == 1 else self.fast)
        return super().write_readings(readings, **kwargs)


def test_commit_lead_covers_the_slow_tail_of_recent_batches() -> None:
    max_delay = 0.05
    assert commit_lead([], max_delay) == max_delay  # nothing timed: write what waits at once
    lags = [0.004] * 99 + [0.014]  # one batch in a hundred was slow
    lead = commit_lead(lags, max_delay)
    # one like it commits within the interval (a median lead, 4 ms, or a 95th
    # percentile one would not)
    assert lead >= max(lags) > float(np.quantile(lags, 0.95))
    assert lead <= LEAD_MAX_SHARE * max_delay
    # a store too slow for the interval: the batch still gathers for a quarter of it
    assert commit_lead([0.2, 0.3], max_delay) == LEAD_MAX_SHARE * max_delay
    rng = np.random.default_rng(7)
    for _ in range(50):
        some = list(rng.exponential(0.01, rng.integers(1, 40)))
        slower = [2 * x for x in some]
        assert commit_lead(some, max_delay) <= commit_lead(slower, max_delay)


def test_slow_batches_still_commit_within_one_flush_interval_of_the_previous(
    site: Site,
) -> None:
    # Readings every 10 ms; every third write takes 120 ms instead of 20 ms. With
    # the lead taken from the median batch (20 ms) each slow batch committed about
    # 0.49 s after the previous commit, past the 0.4 s interval; the lead now
    # covers the slow batches once one has been seen.
    store = TailStore(fast=0.02, slow=0.12, every=3)
    max_delay = 0.4

    async def scenario() -> None:
        writer = BatchWriter(store, site, max_rows=5000, max_delay=max_delay)
        task = asyncio.create_task(writer.run())
        for i in range(400):
            await writer.submit(Submission("mqtt:a", [reading(i)]))
            await asyncio.sleep(0.01)
        await writer.close()
        await task

    asyncio.run(scenario())
    assert store.count_readings() == 400
    done = store.committed[2:-1]  # from the first commit after the first slow batch
    gaps = [b - a for a, b in itertools.pairwise(done)]
    assert len(gaps) >= 6
    assert max(gaps) <= max_delay, gaps


def test_the_first_batch_after_a_start_takes_what_waits_and_commits_at_once(site: Site) -> None:
    # A broker redelivering 12 messages the moment the collector subscribes: fewer
    # readings than a first batch may hold, so the old writer waited the whole
    # interval (0.5 s) for more before its first commit.
    store = CommitClock(fixed=0.01)
    max_delay = 0.5
    subs = [Submission(f"mqtt:m{i}", [reading(i * 10 + k) for k in range(10)]) for i in range(12)]
    writer = BatchWriter(store, site, max_rows=5000, max_delay=max_delay)

    async def scenario() -> float:
        for sub in subs:
            await writer.submit(sub)
        started = time.monotonic()
        task = asyncio.create_task(writer.run())
        await asyncio.sleep(1.5 * max_delay)  # no more arrive; a close() would flush at once
        await writer.close()
        await task
        return started

    started = asyncio.run(scenario())
    assert store.count_readings() == 120
    assert store.committed[0] - started < max_delay / 2
    assert store.batches[0] == 120  # everything waiting went into the first batch


def test_messages_are_acknowledged_before_the_batch_bookkeeping(
    site: Site, memory_store: MemoryStore
) -> None:
    # a broker sends no more while its window of unacknowledged messages is full
    order: list[tuple[str, int]] = []
    writer = BatchWriter(memory_store, site, max_delay=0.01)
    writer.on_flush = lambda rows, seconds: order.append(("flush", writer.stats.batches))
    sub = Submission(
        "mqtt:a", [reading(1)], (), lambda r: order.append(("ack", writer.stats.batches))
    )
    asyncio.run(_run(writer, [sub]))
    assert order == [("ack", 0), ("flush", 1)]


def test_a_batch_delivered_just_after_a_commit_commits_within_one_interval_of_it(
    site: Site,
) -> None:
    # A broker with a window of 5 unacknowledged messages and a backlog behind it:
    # the acks of one batch free the window and the next 5 messages reach the writer
    # `delivery` later, more than the lead's margin (a tenth of the interval). A batch
    # timed from its first arrival committed `delivery` plus the interval less the
    # lead plus its lag after the previous commit (about 0.42 s here); anchored at the
    # previous commit, about 0.38 s.
    store = CommitClock(fixed=0.02)
    max_delay, delivery, window, rounds = 0.4, 0.06, 5, 10
    assert LEAD_MARGIN_SHARE * max_delay < delivery <= 2 * LEAD_MARGIN_SHARE * max_delay

    async def scenario() -> None:
        writer = BatchWriter(store, site, max_rows=5000, max_delay=max_delay)
        task = asyncio.create_task(writer.run())
        acked = asyncio.Event()
        pending = [0]

        def ack(result: SubmissionResult) -> None:
            pending[0] -= 1
            if pending[0] == 0:
                acked.set()

        for r in range(rounds):
            acked.clear()
            pending[0] = window
            for k in range(window):
                await writer.submit(Submission("mqtt:a", [reading(r * window + k)], (), ack))
            await acked.wait()
            await asyncio.sleep(delivery)
        await writer.close()
        await task

    asyncio.run(scenario())
    assert store.count_readings() == window * rounds
    assert store.batches == [window] * rounds  # one batch per window
    gaps = [b - a for a, b in itertools.pairwise(store.committed[1:])]  # lead known from then
    assert max(gaps) <= max_delay, gaps


class WriteLog(MemoryStore):
    """Writes taking ``fast`` seconds, and ``slow`` for the ``slow_at``-th; each one logged."""

    def __init__(self, fast: float, slow: float, slow_at: int) -> None:
        super().__init__()
        self.fast, self.slow, self.slow_at = fast, slow, slow_at
        #: (start, commit) [monotonic s] and the readings' timestamps of every write.
        self.writes: list[tuple[float, float, set[pd.Timestamp]]] = []

    def write_readings(self, readings: pd.DataFrame, **kwargs: Any) -> Any:
        start = time.monotonic()
        time.sleep(self.slow if len(self.writes) == self.slow_at else self.fast)
        report = super().write_readings(readings, **kwargs)
        stamps = set(pd.DatetimeIndex(readings["ts"]))
        self.writes.append((start, time.monotonic(), stamps))
        return report


def test_a_batch_due_while_the_previous_write_runs_gathers_until_that_write_is_done(
    site: Site,
) -> None:
    # A reading every 10 ms, a 0.05 s interval, and one write taking 0.4 s. The batch
    # gathering meanwhile comes due long before that write ends; closing it then would
    # only make it wait, so it keeps gathering: every reading submitted during the slow
    # write goes into the very next write (closed at its due time, it held the first
    # few only, and the rest followed in a further transaction).
    store = WriteLog(fast=0.005, slow=0.4, slow_at=3)
    max_delay = 0.05
    submitted: dict[pd.Timestamp, float] = {}

    async def scenario() -> None:
        writer = BatchWriter(store, site, max_rows=5000, max_delay=max_delay)
        task = asyncio.create_task(writer.run())
        for i in range(100):
            row = reading(i)
            submitted[pd.Timestamp(row.timestamp)] = time.monotonic()
            await writer.submit(Submission("mqtt:a", [row]))
            await asyncio.sleep(0.01)
        await writer.close()
        await task

    asyncio.run(scenario())
    assert store.count_readings() == 100
    start, commit, _ = store.writes[store.slow_at]
    during = {ts for ts, at in submitted.items() if start <= at <= commit - 0.02}
    assert len(during) >= 10  # the slow write did overlap the arrivals
    _, _, following = store.writes[store.slow_at + 1]
    assert during <= following, sorted(during - following)
