"""A message redelivered after its quarantine was committed is not quarantined twice.

The collector is "killed" after the batch holding the message committed and
before the message was acknowledged: the broker redelivers it to the next
collector (same persistent session), which stores nothing new.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mqtt_helpers import Publisher, forget_session, readings, wait_until

from bitgaram.collect.mqtt import MqttSettings, MqttSource, reading_topic
from bitgaram.collect.writer import BatchWriter
from bitgaram.site import Site
from bitgaram.store import Store, open_store

pytestmark = pytest.mark.mqtt


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path, run_id: str) -> Iterator[str]:
    """A store of each backend (PostgreSQL in a schema dropped afterwards)."""
    if request.param == "duckdb":
        yield str(tmp_path / "collect.duckdb")
        return
    server: str = request.getfixturevalue("postgres_server")
    yield f"{server}?schema=redeliver_{run_id}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS redeliver_{run_id} CASCADE".encode())


async def _run_collector(
    settings: MqttSettings, site: Site, store: Store, *, acknowledge: bool
) -> MqttSource:
    """Run until one message's batch committed; acknowledge it or "crash" first."""
    writer = BatchWriter(store, site, max_delay=0.02)
    task = asyncio.create_task(writer.run())
    source = MqttSource(settings, site.site.id, writer)
    committed: list[Any] = []
    original_ack = source._ack

    def ack(*args: Any) -> None:
        committed.append(args)
        if acknowledge:
            original_ack(*args)

    source._ack = ack  # type: ignore[method-assign]
    await source.start()
    try:
        assert await asyncio.to_thread(wait_until, lambda: bool(committed), 15)
    finally:
        # Without the ack the disconnect leaves the message in the broker's session.
        await writer.close()
        await task
        await source.stop()
    return source


def test_redelivered_message_is_not_quarantined_twice(
    store_url: str, mqtt_server: tuple[str, int], run_id: str, site: Site
) -> None:
    settings = MqttSettings(*mqtt_server, client_id=f"bitgaram-test-{run_id}", session_expiry=60)
    topic = reading_topic("bitgaram", site.site.id, "acme-load")
    good = list(readings(0, 3))
    bad = [
        {"timestamp": "2024-05-01T00:00Z", "value": 1, "unit": "W"},  # bad unit
        {"timestamp": "yesterday", "value": 1, "unit": "kWh"},  # bad timestamp
    ]
    store = open_store(store_url)
    store.save_site(site)
    # Subscribe once so the broker holds the session before anything is published.
    pub = Publisher(*mqtt_server, client_id=f"bitgaram-test-pub-{run_id}")
    try:

        async def crash_after_commit() -> MqttSource:
            writer = BatchWriter(store, site, max_delay=0.02)
            source = MqttSource(settings, site.site.id, writer)
            await source.start()
            await source.stop()
            pub.publish(topic, good + bad)
            pub.flush()
            return await _run_collector(settings, site, store, acknowledge=False)

        first = asyncio.run(crash_after_commit())
        assert first.messages == 1
        assert (store.count_readings(), store.count_quarantine()) == (3, 2)
        second = asyncio.run(_run_collector(settings, site, store, acknowledge=True))
    finally:
        pub.close()
        forget_session(*mqtt_server, settings.client_id)
    assert second.messages == 1  # the broker did redeliver it...
    assert store.count_readings() == 3  # ...and nothing was stored twice
    assert store.count_quarantine() == 2
    reasons = sorted(store.list_quarantine()["reason"].str.split(":").str[0])
    assert reasons == ["bad_timestamp", "bad_unit"]
    store.close()
