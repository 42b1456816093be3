"""Collector into the real PostgreSQL: a backend connection killed while readings flow."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from mqtt_helpers import Publisher, forget_session, readings, wait_until

from bitgaram.collect.mqtt import MqttSettings, MqttSource, reading_topic
from bitgaram.collect.writer import BatchWriter, SubmissionResult
from bitgaram.site import Site
from bitgaram.store import open_store
from bitgaram.store.base import Store

pytestmark = [pytest.mark.postgres, pytest.mark.mqtt]


@pytest.fixture
def pg_url(postgres_server: str, run_id: str) -> Iterator[str]:
    """A PostgreSQL store URL in a schema of its own, with a findable application name."""
    sep = "&" if "?" in postgres_server else "?"
    url = f"{postgres_server}{sep}schema=collect_{run_id}&application_name=bitgaram-{run_id}"
    yield url
    with psycopg.connect(postgres_server.split("?")[0], autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS collect_{run_id} CASCADE")


def _terminate(admin_url: str, run_id: str) -> int:
    """Kill the store's backend connection(s), as a server restart or a network cut would."""
    with psycopg.connect(admin_url.split("?")[0], autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (f"bitgaram-{run_id}",),
        ).fetchall()
    return len(rows)


def test_mqtt_into_postgres_survives_a_killed_connection(
    pg_url: str,
    postgres_server: str,
    mqtt_server: tuple[str, int],
    run_id: str,
    site: Site,
) -> None:
    store: Store = open_store(pg_url)
    store.save_site(site)
    settings = MqttSettings(*mqtt_server, client_id=f"bitgaram-test-{run_id}", session_expiry=60)
    pub = Publisher(*mqtt_server, client_id=f"bitgaram-test-pub-{run_id}")
    topic = reading_topic("bitgaram", site.site.id, "acme-load")
    messages = [list(readings(i * 20, 20)) for i in range(100)]
    expected = sum(r["value"] for m in messages for r in m)
    killed: list[int] = []
    acked = 0

    def reopen() -> Store:
        return open_store(pg_url, migrate=False)

    async def scenario() -> BatchWriter:
        nonlocal acked
        writer = BatchWriter(store, site, max_rows=200, max_delay=0.02, retry_initial=0.05,
                             reopen=reopen)  # fmt: skip
        task = asyncio.create_task(writer.run())
        source = MqttSource(settings, site.site.id, writer)
        original_ack = source._ack

        def ack(*args: Any) -> None:
            nonlocal acked
            original_ack(*args)
            acked += 1
            if acked == 30 and not killed:  # mid-stream
                killed.append(_terminate(postgres_server, run_id))

        source._ack = ack  # type: ignore[method-assign]
        await source.start()
        for m in messages:
            pub.publish(topic, m)
        await asyncio.to_thread(pub.flush)
        ok = await asyncio.to_thread(wait_until, lambda: acked >= 100, 30)
        await writer.close()
        await task
        await source.stop()
        assert ok, f"only {acked} messages acknowledged"
        return writer

    try:
        writer = asyncio.run(scenario())
    finally:
        pub.close()
        forget_session(*mqtt_server, settings.client_id)
    assert killed == [1]
    assert writer.stats.store_failures >= 1
    with open_store(pg_url, migrate=False) as check:
        frame = check.read_readings()
        assert len(frame) == 2000  # nothing lost, nothing doubled
        assert float(frame["value"].sum()) == pytest.approx(expected)
        assert len(check.list_quarantine()) == 0
    writer.store.close()


def test_writer_result_counts_match_postgres(pg_url: str, site: Site) -> None:
    """HTTP-style submissions: per-submission results agree with what PostgreSQL holds."""
    from bitgaram.collect.writer import RawReading, Submission

    store = open_store(pg_url)
    store.save_site(site)
    results: list[SubmissionResult] = []
    subs = [
        Submission(
            f"http:{i}",
            [
                RawReading("acme-load", f"2024-05-01T00:{m:02d}:00Z", float(m), "kWh")
                for m in range(60)
            ]
            + [RawReading("acme-load", "2024-05-01T01:00:00Z", -1.0, "kWh")],
            (),
            results.append,
        )
        for i in range(3)  # the same readings three times: idempotent
    ]

    async def scenario() -> None:
        writer = BatchWriter(store, site, max_rows=61, max_delay=0.02)
        task = asyncio.create_task(writer.run())
        for sub in subs:
            await writer.submit(sub)
        await writer.close()
        await task

    asyncio.run(scenario())
    assert [(r.accepted, r.quarantined) for r in results] == [(60, 1)] * 3
    assert store.count_readings() == 60
    assert len(store.list_quarantine()) == 3
    store.close()
