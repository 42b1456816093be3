"""`bitgaram run` as a process: MQTT in, control loop, API; a component killed; SIGTERM."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_helpers import (
    DRAIN_S,
    Publisher,
    RunningService,
    forget_session,
    park_messages,
    wait_until,
)
from typer.testing import CliRunner

from bitgaram.cli import app
from bitgaram.cli import store as _store_commands  # noqa: F401
from bitgaram.errors import StoreError
from bitgaram.service.run import SHUTDOWN_GRACE_S
from bitgaram.store import open_store

pytestmark = pytest.mark.mqtt


@pytest.fixture
def service(tmp_path: Path, mqtt_server: tuple[str, int]) -> Iterator[RunningService]:
    host, port = mqtt_server
    svc = RunningService(tmp_path, "s" + uuid.uuid4().hex[:10], host, port)
    yield svc
    svc.kill()
    forget_session(host, port, f"bitgaram-svc-{svc.site_id}")


def _topic(svc: RunningService, meter: str) -> str:
    return f"{svc.prefix}/{svc.site_id}/{meter}/reading"


def test_run_collects_controls_serves_restarts_and_drains(
    service: RunningService, mqtt_server: tuple[str, int]
) -> None:
    service.start()
    pub = Publisher(*mqtt_server, client_id=f"bgsvc-pub-{service.site_id}")
    now = time.time()
    try:
        first = park_messages(0, 60, now)
        for meter, payload in first:
            pub.publish(_topic(service, meter), payload)
        pub.publish(_topic(service, "a-load"), b"{]")  # bad JSON: 1 row quarantined
        pub.publish(_topic(service, "ghost"), first[0][1])  # unknown meter: 1 row
        pub.flush()
        sent = len(first)
        assert wait_until(
            lambda: (
                service.metric("bitgaram_readings_accepted_total", source="mqtt") >= sent
                and service.metric("bitgaram_readings_quarantined_total", source="mqtt") >= 2
            )
        ), service.output()
        m = service.metrics()
        assert m[("bitgaram_readings_accepted_total", (("source", "mqtt"),))] == sent
        assert m[("bitgaram_readings_quarantined_total", (("source", "mqtt"),))] == 2
        assert m[("bitgaram_readings_received_total", (("source", "mqtt"),))] == sent + 2
        assert m[("bitgaram_collect_flush_seconds_count", ())] >= 1
        assert ("bitgaram_collect_queue_depth", ()) in m

        # Reads while the service owns the file: a clear message naming the service.
        held = CliRunner().invoke(
            app, ["query", "--meter", "a-load", "--store", str(service.store)]
        )
        assert isinstance(held.exception, StoreError), held.output
        assert "owned by `bitgaram run`" in str(held.exception) and service.api in str(
            held.exception
        )

        # The API: counted by route template; a failed login counted too.
        assert httpx.get(service.api + "/api/v1/health", timeout=5).status_code == 200
        bad = {"username": "admin", "password": "wrong"}
        answer = httpx.post(service.api + "/api/v1/auth/login", json=bad, timeout=10)
        assert answer.status_code == 401
        assert service.metric("bitgaram_api_login_failures_total") == 1
        route = {"method": "GET", "route": "/api/v1/health", "status": "200"}
        assert service.metric("bitgaram_api_requests_total", **route) == 1

        # Kill the collector: the supervisor restarts it; the broker keeps what it missed.
        killed = httpx.post(service.admin + "/components/collect/restart", timeout=5)
        assert killed.status_code == 202
        second = park_messages(60, 60, now)
        for meter, payload in second:
            pub.publish(_topic(service, meter), payload)
        pub.flush()
        assert wait_until(lambda: service.components()["collect"]["starts"] == 2)
        assert wait_until(service.ready, timeout=30)
        total = sent + len(second)
        assert wait_until(
            lambda: service.metric("bitgaram_readings_accepted_total", source="mqtt") >= total
        ), service.output()
        assert service.metric("bitgaram_readings_accepted_total", source="mqtt") == total
        assert service.metric("bitgaram_component_restarts_total", component="collect") == 1

        # The control loop ticks every 2 s on recent data: it plans (solves), journals.
        # The first plan fits the forecaster first: give it time on a busy 2-core machine.
        assert wait_until(
            lambda: service.metric("bitgaram_control_solve_seconds_count") >= 1, timeout=120
        ), service.output()
        assert service.metric("bitgaram_control_ticks_total") >= 1
    finally:
        pub.close()
    code, seconds = service.terminate()
    assert code == 0, service.output()  # 1: the drain overran (the log holds every stack)
    # SIGTERM to exit within 10 s: the drain (4 s in the test's site file) plus the grace
    # after which the deadline ends the process come to 8 s.
    assert DRAIN_S + SHUTDOWN_GRACE_S < 10
    assert seconds < 10, service.output()
    events = service.events()
    overran = [e for e in events if e["event"] == "shutdown overran its deadline; exiting"]
    assert all(e["store_closed"] for e in overran), overran
    assert events and all(e.get("site") == service.site_id for e in events)
    assert any(e["event"] == "component failed; restarting" for e in events)
    assert any(e["event"] == "setpoint published" and e.get("tenant") == "a" for e in events)
    assert "password:" not in service.output() and "bg_" not in service.output()
    with open_store(service.store) as store:
        assert store.count_readings() == total  # nothing accepted was lost
        assert store.count_quarantine() == 2
    assert not (service.folder / "park.duckdb.service.json").exists()
