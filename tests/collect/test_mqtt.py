"""MQTT subscriber against the real Mosquitto broker: delivery, quarantine, sessions, redelivery."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from collect_doubles import MemoryStore
from mqtt_helpers import (
    PrivateBroker,
    Publisher,
    forget_session,
    readings,
    wait_until,
)

from bitgaram.collect.mqtt import MqttSettings, MqttSource, parse_topic, reading_topic
from bitgaram.collect.writer import BatchWriter
from bitgaram.site import Site

pytestmark = pytest.mark.mqtt


@pytest.fixture
def mqtt(mqtt_server: tuple[str, int], run_id: str) -> Iterator[MqttSettings]:
    host, port = mqtt_server
    settings = MqttSettings(
        host=host, port=port, client_id=f"bitgaram-test-{run_id}", session_expiry=300
    )
    yield settings
    forget_session(host, port, settings.client_id)


@pytest.fixture
def publisher(mqtt_server: tuple[str, int], run_id: str) -> Iterator[Publisher]:
    pub = Publisher(*mqtt_server, client_id=f"bitgaram-test-pub-{run_id}")
    yield pub
    pub.close()


@asynccontextmanager
async def collector(
    settings: MqttSettings, site: Site, store: Any, **writer_kw: Any
) -> AsyncIterator[MqttSource]:
    writer = BatchWriter(store, site, max_delay=0.02, **writer_kw)
    task = asyncio.create_task(writer.run())
    source = MqttSource(settings, site.site.id, writer)
    await source.start()
    try:
        yield source
    finally:
        await writer.close()
        await task
        await source.stop()


def test_topic_scheme_round_trips() -> None:
    topic = reading_topic("bitgaram", "park", "m-1")
    assert topic == "bitgaram/park/m-1/reading"
    assert parse_topic(topic, "bitgaram", "park") == "m-1"
    assert parse_topic("bitgaram/other/m-1/reading", "bitgaram", "park") is None
    assert parse_topic("bitgaram/park/m-1/status", "bitgaram", "park") is None
    assert parse_topic("bitgaram/park//reading", "bitgaram", "park") is None


def test_published_readings_are_stored(
    mqtt: MqttSettings, publisher: Publisher, site: Site, memory_store: MemoryStore
) -> None:
    topic = reading_topic("bitgaram", site.site.id, "acme-load")

    async def scenario() -> None:
        async with collector(mqtt, site, memory_store):
            for r in readings(0, 40):
                publisher.publish(topic, r)
            publisher.publish(topic, list(readings(40, 60)))  # the batch form
            publisher.flush()
            ok = await asyncio.to_thread(wait_until, lambda: memory_store.count_readings() >= 100)
            assert ok

    asyncio.run(scenario())
    assert memory_store.count_readings() == 100
    ts = pd.Timestamp(1_714_521_600 + 60 * 7, unit="s", tz="UTC")
    assert memory_store.rows[("acme-load", ts)] == ((7 % 89) / 4, 0)


def test_bad_messages_are_quarantined_and_good_ones_flow(
    mqtt: MqttSettings, publisher: Publisher, site: Site, memory_store: MemoryStore
) -> None:
    sid = site.site.id
    load = reading_topic("bitgaram", sid, "acme-load")
    temp = reading_topic("bitgaram", sid, "air-temp")
    good = list(readings(0, 30))
    bad: list[tuple[str, Any, str]] = [
        (load, b"{not json", "bad_json"),
        (load, {"timestamp": "2024-05-01T00:00Z", "value": "12", "unit": "kWh"}, "wrong_type"),
        (load, {"timestamp": "2024-05-01T00:00Z", "unit": "kWh"}, "missing_field"),
        (load, {"timestamp": "yesterday", "value": 1, "unit": "kWh"}, "bad_timestamp"),
        (load, {"timestamp": "2024-05-01T00:00Z", "value": 1, "unit": "W"}, "bad_unit"),
        (load, {"timestamp": "2024-05-01T00:00Z", "value": 5000, "unit": "kWh"}, "above_max"),
        (temp, {"timestamp": "2024-05-01T00:00Z", "value": 400, "unit": "degC"}, "out_of_bounds"),
        (reading_topic("bitgaram", sid, "ghost"), good[0], "unknown_meter"),
    ]

    async def scenario() -> None:
        async with collector(mqtt, site, memory_store):
            for i, r in enumerate(good):
                publisher.publish(load, r)
                if i < len(bad):
                    publisher.publish(bad[i][0], bad[i][1])
            publisher.flush()
            ok = await asyncio.to_thread(
                wait_until,
                lambda: (
                    memory_store.count_readings() >= 30 and len(memory_store.quarantine) >= len(bad)
                ),
            )
            assert ok

    asyncio.run(scenario())
    assert memory_store.count_readings() == len(good)
    q = pd.DataFrame(memory_store.quarantine)
    assert len(q) == len(bad)
    codes = sorted(q["reason"].str.split(":").str[0])
    assert codes == sorted(code for _, _, code in bad)
    # Each row names the topic it came from.
    assert set(q["source"]) == {f"mqtt:{t}" for t, _, _ in bad}


def test_readings_published_while_down_arrive_on_restart(
    mqtt: MqttSettings, publisher: Publisher, site: Site, memory_store: MemoryStore
) -> None:
    topic = reading_topic("bitgaram", site.site.id, "acme-pv")

    async def first_run() -> None:
        async with collector(mqtt, site, memory_store):
            publisher.publish(topic, list(readings(0, 10, unit="kW")))
            publisher.flush()
            assert await asyncio.to_thread(wait_until, lambda: memory_store.count_readings() == 10)

    async def second_run() -> None:
        async with collector(mqtt, site, memory_store):
            assert await asyncio.to_thread(wait_until, lambda: memory_store.count_readings() == 60)

    asyncio.run(first_run())
    for r in readings(10, 50, unit="kW"):  # the collector is down
        publisher.publish(topic, r)
    publisher.flush()
    asyncio.run(second_run())
    assert memory_store.count_readings() == 60


def test_unacknowledged_messages_are_redelivered_exactly_once(
    mqtt: MqttSettings, publisher: Publisher, site: Site
) -> None:
    """A collector whose store never commits acknowledges nothing; the next one gets it all."""
    topic = reading_topic("bitgaram", site.site.id, "acme-load")
    stored = MemoryStore()
    gate = threading.Event()

    class NeverCommits:
        url = "stuck://"
        attempts = 0

        def write_readings(self, readings: pd.DataFrame, **kw: Any) -> Any:
            self.attempts += 1
            gate.wait(0.05)
            raise ConnectionError("database is down")

    stuck = NeverCommits()

    async def doomed_run() -> None:
        writer = BatchWriter(stuck, site, max_delay=0.02, retry_initial=0.01, retry_max=0.05)  # type: ignore[arg-type]
        task = asyncio.create_task(writer.run())
        source = MqttSource(mqtt, site.site.id, writer)
        await source.start()
        for i in range(20):
            publisher.publish(topic, list(readings(i * 5, 5)))
        publisher.flush()
        assert await asyncio.to_thread(wait_until, lambda: source.messages == 20)
        assert await asyncio.to_thread(wait_until, lambda: stuck.attempts >= 3)
        # Crash: connection gone without acknowledging; the writer is abandoned.
        await source.stop()
        task.cancel()

    async def recovery_run() -> None:
        async with collector(mqtt, site, stored):
            assert await asyncio.to_thread(wait_until, lambda: stored.count_readings() >= 100)
            await asyncio.sleep(0.2)  # any extra redelivery would arrive now

    asyncio.run(doomed_run())
    asyncio.run(recovery_run())
    assert stored.count_readings() == 100
    assert stored.quarantine == []


def test_reconnects_and_resubscribes_after_a_broker_restart(
    tmp_path: Path, site: Site, memory_store: MemoryStore, run_id: str
) -> None:
    """A private broker, killed and restarted: the collector comes back by itself."""
    broker = PrivateBroker(tmp_path)
    port = broker.port
    settings = MqttSettings(host="127.0.0.1", port=port, client_id=f"bitgaram-test-{run_id}")
    topic = reading_topic("bitgaram", site.site.id, "acme-load")
    broker.start()
    try:

        async def scenario() -> None:
            async with collector(settings, site, memory_store) as source:
                pub = Publisher("127.0.0.1", port, client_id=f"pub-{run_id}")
                pub.publish(topic, list(readings(0, 10)))
                pub.close()
                assert await asyncio.to_thread(
                    wait_until, lambda: memory_store.count_readings() == 10
                )
                broker.kill()
                assert await asyncio.to_thread(wait_until, lambda: not source.connected.is_set())
                broker.start()
                assert await asyncio.to_thread(source.subscribed.wait, 15)
                pub = Publisher("127.0.0.1", port, client_id=f"pub2-{run_id}")
                pub.publish(topic, list(readings(10, 10)))
                pub.close()
                assert await asyncio.to_thread(
                    wait_until, lambda: memory_store.count_readings() == 20
                )

        asyncio.run(scenario())
    finally:
        broker.kill()
