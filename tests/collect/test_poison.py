"""Issue 19: one poison value must never stop collection, on either store backend.

Every test runs on DuckDB and on PostgreSQL (the backend that refused NUL bytes
and stalled the whole collector on them).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mqtt_helpers import Publisher, forget_session, readings, wait_until

from bitgaram.collect.http import create_app
from bitgaram.collect.mqtt import MqttSettings, MqttSource, broker_requirements, reading_topic
from bitgaram.collect.validate import ValidationRules, validate_readings
from bitgaram.collect.writer import BatchWriter, RawReading, Submission, SubmissionResult
from bitgaram.errors import StoreError
from bitgaram.site import Site
from bitgaram.store import Store
from bitgaram.store.base import WriteReport

NUL_UNIT = "kWh\u0000"


@pytest.fixture
def store(backend_store: Store) -> Store:
    """The test site in a store of each backend (see conftest)."""
    return backend_store


def _item(i: int, **over: Any) -> dict[str, Any]:
    base = {
        "meter": "acme-load",
        "timestamp": f"2025-06-01T00:{i:02d}:00+00:00",
        "value": float(i),
        "unit": "kWh",
    }
    return {**base, **over}


def test_nul_byte_pushed_over_http_is_quarantined_and_later_pushes_work(store: Store) -> None:
    app = create_app(store.load_site(), store, commit_timeout=10.0, max_delay=0.01)
    with TestClient(app) as client:
        poison = client.post("/api/v1/readings", json=[_item(0, unit=NUL_UNIT)])
        assert poison.status_code == 200, poison.text
        assert poison.json()["quarantined"] == 1
        assert poison.json()["rejected"][0]["reason"].startswith("bad_unit")
        for i in range(1, 11):
            later = client.post("/api/v1/readings", json=[_item(i)])
            assert later.status_code == 200, later.text
            assert later.json()["accepted"] == 1
    assert store.count_readings("acme-load") == 10
    bad = store.list_quarantine()
    assert len(bad) == 1
    assert bad["raw"].iloc[0] == "kWh\\x00"  # escaped: the store can hold it, a person can read it


def test_control_characters_and_overlong_fields_are_escaped_and_cut(store: Store) -> None:
    site = store.load_site()
    frame = pd.DataFrame(
        {
            "meter_id": ["acme-\u0000load", "m" * 50_000, "acme-load"],
            "ts": ["2025-06-01 09:00", "2025-06-01 09:00", "2025-06-01 09:\u000100"],
            "value": ["1", "2", "3"],
        }
    )
    good, bad = validate_readings(frame, site, "poison.csv")
    assert good.empty and len(bad) == 3
    store.write_readings(good, quarantine=bad)
    stored = store.list_quarantine()
    assert stored["meter_id"].str.len().max() < 1100  # a 50,000-character id is cut
    assert "acme-\\x00load" in set(stored["meter_id"])
    assert all("\x00" not in t and "\x01" not in t for t in stored["raw"])


@pytest.mark.parametrize(
    "stamp",
    [253_402_297_200, "9999-12-31T23:00:00+00:00", "0001-01-01T00:00:00+00:00", 0],
)
def test_timestamps_outside_the_window_are_quarantined(store: Store, stamp: object) -> None:
    app = create_app(store.load_site(), store, commit_timeout=10.0, max_delay=0.01)
    with TestClient(app) as client:
        answer = client.post("/api/v1/readings", json=[_item(0, timestamp=stamp), _item(1)])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["quarantined"]) == (1, 1)
    assert body["rejected"][0]["reason"].startswith("out_of_window")
    assert store.count_readings() == 1
    stored = store.read_readings(["acme-load"])
    assert stored["ts"].dt.year.tolist() == [2025]


def test_the_window_is_configurable() -> None:
    rules = ValidationRules(
        earliest=pd.Timestamp("2020-01-01T00:00Z"),
        ahead=pd.Timedelta(hours=1),
        now=pd.Timestamp("2025-01-01T00:00Z"),
    )
    lo, hi = rules.window()
    assert (lo, hi) == (pd.Timestamp("2020-01-01T00:00Z"), pd.Timestamp("2025-01-01T01:00Z"))


class RefusingStore:
    """A real store that refuses, like a constraint would, any batch holding a marked value.

    The store itself stays up (``schema_version`` answers), so the writer must
    treat the refusal as the data's fault, not an outage.
    """

    def __init__(self, inner: Store, poison_value: float) -> None:
        self.inner = inner
        self.url = inner.url
        self.poison_value = poison_value
        self.refusals = 0

    def write_readings(self, readings: pd.DataFrame, **kwargs: Any) -> WriteReport:
        if (readings["value"] == self.poison_value).any():
            self.refusals += 1
            raise StoreError(f"value {self.poison_value} violates a constraint")
        return self.inner.write_readings(readings, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _run_writer(writer: BatchWriter, subs: list[Submission], timeout: float = 20.0) -> None:
    async def scenario() -> None:
        task = asyncio.create_task(writer.run())
        for sub in subs:
            await writer.submit(sub)
        await asyncio.wait_for(writer.close(), timeout)
        await task

    asyncio.run(scenario())


def test_a_batch_the_store_refuses_is_split_and_only_the_poison_is_quarantined(
    store: Store,
) -> None:
    refusing = RefusingStore(store, poison_value=666.0)
    site = store.load_site()
    writer = BatchWriter(refusing, site, max_rows=1000, max_delay=0.05)  # type: ignore[arg-type]
    results: list[SubmissionResult] = []
    rows = [
        RawReading("acme-load", f"2025-06-01T{i // 60:02d}:{i % 60:02d}:00+00:00", v, "kWh")
        for i, v in enumerate([float(i % 7) if i != 37 else 666.0 for i in range(100)])
    ]
    _run_writer(writer, [Submission("http:test", rows, on_done=results.append, key="k1")])
    assert store.count_readings() == 99
    bad = store.list_quarantine()
    assert len(bad) == 1
    assert bad["reason"].iloc[0].startswith("store_refused")
    assert "666" in bad["raw"].iloc[0]
    assert results and results[0].committed
    assert writer.stats.store_refused == 1
    assert refusing.refusals <= 2 + 2 * 7  # a retry, then one bisection path: log2(100) levels


def test_a_quarantine_row_the_store_cannot_hold_is_kept_in_ascii(store: Store) -> None:
    site = store.load_site()
    writer = BatchWriter(store, site)
    quarantine = pd.DataFrame(
        {
            "source": ["x"],
            "line": pd.array([1], dtype="Int64"),
            "meter_id": ["acme-load"],
            "ts": pd.Series([None], dtype="datetime64[us, UTC]"),
            "field": ["unit"],
            "raw": ["degC\x00"],
            "reason": ["bad_unit: test"],
        }
    )
    empty = pd.DataFrame({"meter_id": [], "ts": [], "value": [], "quality": []})
    empty = empty.astype({"ts": "datetime64[us, UTC]", "quality": "int8", "meter_id": "str"})
    report = writer._write_split(empty, quarantine)
    assert report.quarantined == 1
    assert store.count_quarantine() == 1


class DownStore:
    """A store whose server is gone: every call fails, including the health probe."""

    url = "down://"

    def write_readings(self, *args: Any, **kwargs: Any) -> WriteReport:
        raise StoreError("connection refused")

    def schema_version(self) -> int:
        raise StoreError("connection refused")

    def close(self) -> None:
        pass


def test_close_is_prompt_while_writes_keep_failing(site: Site) -> None:
    writer = BatchWriter(
        DownStore(),  # type: ignore[arg-type]
        site,
        max_delay=0.01,
        retry_initial=0.05,
        retry_max=5.0,
        close_timeout=1.0,
    )
    results: list[SubmissionResult] = []

    async def scenario() -> float:
        task = asyncio.create_task(writer.run())
        row = RawReading("acme-load", "2025-06-01T00:00:00+00:00", 1.0, "kWh")
        await writer.submit(Submission("mqtt:x", [row], on_done=results.append))
        await asyncio.sleep(1.5)  # the write is failing, in backoff
        started = time.monotonic()
        await writer.close()
        await task
        return time.monotonic() - started

    took = asyncio.run(scenario())
    assert took < 2.5
    assert [r.committed for r in results] == [False]  # left unacknowledged: redelivered later
    assert writer.stats.abandoned == 1


@pytest.mark.mqtt
def test_nul_byte_over_mqtt_does_not_stall_the_collector(
    store: Store, mqtt_server: tuple[str, int], run_id: str
) -> None:
    site = store.load_site()
    settings = MqttSettings(*mqtt_server, client_id=f"bitgaram-poison-{run_id}", session_expiry=60)
    pub = Publisher(*mqtt_server, client_id=f"bitgaram-poison-pub-{run_id}")
    topic = reading_topic("bitgaram", site.site.id, "acme-load")

    async def scenario() -> BatchWriter:
        writer = BatchWriter(store, site, max_rows=50, max_delay=0.02)
        task = asyncio.create_task(writer.run())
        source = MqttSource(settings, site.site.id, writer)
        await source.start()
        poison = {"timestamp": 1_714_521_600, "value": 1.0, "unit": "kWh\u0000"}
        pub.publish(topic, json.dumps(poison))
        for item in readings(1, 10):
            pub.publish(topic, [item])
        pub.flush()
        done = await asyncio.to_thread(
            wait_until, lambda: store.count_readings("acme-load") == 10, 15.0
        )
        assert done, f"stored {store.count_readings('acme-load')} of 10"
        source.pause()
        await writer.close()
        await task
        await source.stop()
        return writer

    try:
        writer = asyncio.run(scenario())
    finally:
        pub.close()
        forget_session(*mqtt_server, settings.client_id)
    assert store.count_quarantine() == 1
    assert writer.stats.store_failures == 0


def test_a_gap_after_an_outage_is_detected_per_meter(store: Store) -> None:
    site = store.load_site()  # acme-load reports every minute
    first = [
        RawReading("acme-load", f"2025-06-01T00:{i:02d}:00+00:00", 1.0, "kWh") for i in range(5)
    ]
    _run_writer(BatchWriter(store, site, max_delay=0.01), [Submission("mqtt:a", first)])
    # a new collector process (nothing in memory): the history comes from the store
    writer = BatchWriter(store, site, max_delay=0.01)
    later = [
        RawReading("acme-load", f"2025-06-01T00:{i:02d}:00+00:00", 1.0, "kWh")
        for i in (15, 16, 17, 30)
    ]
    _run_writer(writer, [Submission("mqtt:a", later)])
    gaps = [(g.meter_id, g.missing) for g in writer.stats.gaps]
    assert gaps == [("acme-load", 10), ("acme-load", 12)]
    assert writer.stats.missing_readings == 22
    assert "max_queued_messages" in writer.stats.gaps[0].describe()
    # readings redelivered out of order (older than the newest) raise nothing
    again = BatchWriter(store, site, max_delay=0.01)
    _run_writer(again, [Submission("mqtt:a", first)])
    assert again.stats.gaps == []


@pytest.mark.mqtt
def test_the_collector_reports_what_the_broker_kept(
    site: Site, memory_store: Any, mqtt_server: tuple[str, int], run_id: str
) -> None:
    settings = MqttSettings(*mqtt_server, client_id=f"bitgaram-sess-{run_id}", session_expiry=60)

    async def connect_once() -> MqttSource:
        writer = BatchWriter(memory_store, site)
        task = asyncio.create_task(writer.run())
        source = MqttSource(settings, site.site.id, writer)
        await source.start()
        source.pause()
        await writer.close()
        await task
        await source.stop()
        return source

    try:
        first = asyncio.run(connect_once())
        second = asyncio.run(connect_once())
    finally:
        forget_session(*mqtt_server, settings.client_id)
    assert first.session_present is False and second.session_present is True
    assert second.granted_session_expiry == 60
    assert second.warnings == []
    lines = broker_requirements(meters=500, interval_s=60, outage_s=3600, session_expiry_s=86400)
    assert "max_queued_messages 30000" in lines and "persistence true" in lines
