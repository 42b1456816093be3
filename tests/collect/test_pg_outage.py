"""Collector into PostgreSQL while the real server is stopped and started again.

The server is the shared one on 127.0.0.1:5432, controlled with
``pg_ctlcluster`` (needs root and a Debian-style cluster). The outage is kept
short (the server is restarted as soon as the collector has failed a write),
and the fixture always restarts it and waits until it accepts connections,
whatever the test did, because other tests use the same server.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mqtt_helpers import Publisher, forget_session, in_ci, readings, wait_until

from bitgaram.collect.mqtt import MqttSettings, MqttSource, reading_topic
from bitgaram.collect.writer import BatchWriter
from bitgaram.site import Site
from bitgaram.store import open_store
from bitgaram.store.postgres_store import PostgresStore

pytestmark = [pytest.mark.postgres, pytest.mark.mqtt]


class Cluster:
    """Stop and start the local PostgreSQL cluster (``pg_ctlcluster``)."""

    def __init__(self, admin_url: str, version: str, name: str = "main") -> None:
        self.admin_url = admin_url.split("?")[0]
        self.version = version
        self.name = name

    def _ctl(self, action: str) -> None:
        cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, action]
        if action == "stop":
            cmd += ["-m", "fast"]  # disconnect clients now, as a crash or restart would
        subprocess.run(cmd, check=True, timeout=120, capture_output=True)

    def accepts(self) -> bool:
        """Whether the server accepts a connection and answers a query."""
        try:
            with psycopg.connect(self.admin_url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def stop(self) -> None:
        """Stop the server (fast shutdown); returns once it is down."""
        self._ctl("stop")

    def start(self) -> None:
        """Start the server and wait until it accepts connections (60 s at most)."""
        if not self.accepts():
            self._ctl("start")
        assert wait_until(self.accepts, timeout=60, step=0.1), "PostgreSQL did not come back"


def _version(admin_url: str) -> str | None:
    """The cluster version if this machine can control the server at ``admin_url``."""
    conf = Path("/etc/postgresql")
    if os.geteuid() != 0 or shutil.which("pg_ctlcluster") is None or not conf.is_dir():
        return None
    if "127.0.0.1" not in admin_url and "localhost" not in admin_url:
        return None
    versions = sorted(p.name for p in conf.iterdir() if (p / "main").is_dir())
    return versions[-1] if len(versions) == 1 else None


@pytest.fixture
def cluster(postgres_server: str) -> Iterator[Cluster]:
    """Control of the local cluster; always running again after the test."""
    version = _version(postgres_server)
    if version is None:
        message = "cannot stop the PostgreSQL server here (needs root, pg_ctlcluster, one cluster)"
        if in_ci():
            pytest.fail(f"{message}; CI=true requires the outage test to run")
        pytest.skip(message)
    ctl = Cluster(postgres_server, version)
    try:
        yield ctl
    finally:
        ctl.start()


@pytest.fixture
def pg_url(postgres_server: str, run_id: str) -> Iterator[str]:
    """A PostgreSQL store URL in a schema of its own."""
    sep = "&" if "?" in postgres_server else "?"
    yield f"{postgres_server}{sep}schema=outage_{run_id}"
    with psycopg.connect(postgres_server.split("?")[0], autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS outage_{run_id} CASCADE".encode())


def test_mqtt_into_postgres_survives_a_server_stop_and_start(
    cluster: Cluster,
    pg_url: str,
    mqtt_server: tuple[str, int],
    run_id: str,
    site: Site,
) -> None:
    store = open_store(pg_url)
    assert isinstance(store, PostgresStore)
    store.save_site(site)
    settings = MqttSettings(*mqtt_server, client_id=f"bitgaram-test-{run_id}", session_expiry=60)
    pub = Publisher(*mqtt_server, client_id=f"bitgaram-test-pub-{run_id}")
    topic = reading_topic("bitgaram", site.site.id, "acme-load")
    messages = [list(readings(i * 20, 20)) for i in range(100)]
    expected = sum(r["value"] for m in messages for r in m)
    acked = 0
    stop_now = threading.Event()
    seen: dict[str, int] = {}

    async def scenario() -> BatchWriter:
        nonlocal acked
        # No reopen callback: the store reconnects by itself, the writer only retries.
        writer = BatchWriter(store, site, max_rows=100, max_delay=0.02, retry_initial=0.05,
                             retry_max=0.5)  # fmt: skip
        task = asyncio.create_task(writer.run())
        source = MqttSource(settings, site.site.id, writer)
        original_ack = source._ack

        def ack(*args: Any) -> None:
            nonlocal acked
            original_ack(*args)
            acked += 1
            if acked == 20:  # mid-stream: stop the server while the rest flows in
                stop_now.set()

        source._ack = ack  # type: ignore[method-assign]
        await source.start()
        try:
            for m in messages[:50]:
                pub.publish(topic, m)
            assert await asyncio.to_thread(stop_now.wait, 30), "no acks before the outage"
            await asyncio.to_thread(cluster.stop)
            seen["acked_when_down"] = acked
            for m in messages[50:]:  # published while the database is down
                pub.publish(topic, m)
            await asyncio.to_thread(pub.flush)
            failed = await asyncio.to_thread(
                wait_until, lambda: writer.stats.store_failures >= 2, 30
            )
            assert failed, "the writer never met the outage"
            seen["acked_during_outage"] = acked - seen["acked_when_down"]
            await asyncio.to_thread(cluster.start)
            done = await asyncio.to_thread(wait_until, lambda: acked >= 100, 60)
            assert done, f"only {acked} of 100 messages acknowledged after the restart"
        finally:
            # Up again before draining: the writer holds its batch until written.
            await asyncio.to_thread(cluster.start)
            await writer.close()
            await task
            await source.stop()
        return writer

    try:
        writer = asyncio.run(scenario())
    finally:
        pub.close()
        forget_session(*mqtt_server, settings.client_id)
    assert seen["acked_when_down"] < 100
    assert seen["acked_during_outage"] == 0  # nothing acknowledged that was not written
    assert writer.stats.store_failures >= 2
    assert writer.store is store and store.reconnects >= 1  # healed by itself
    frame = store.read_readings()
    assert len(frame) == 2000  # nothing lost, nothing doubled
    assert not frame.duplicated(["meter_id", "ts"]).any()
    assert float(frame["value"].sum()) == pytest.approx(expected)
    assert store.count_quarantine() == 0
    store.close()
