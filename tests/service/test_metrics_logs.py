"""Metrics exported from the batch writers and the API; JSON log lines without secrets."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pandas as pd
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bitgaram.api import Settings, create_app
from bitgaram.collect.writer import BatchWriter, RawReading, Submission
from bitgaram.service.components import instrument_api, route_template
from bitgaram.service.logs import configure_logging, get_logger, redact_text
from bitgaram.service.metrics import ServiceMetrics
from bitgaram.site import parse_site
from bitgaram.store import open_store

SITE = {
    "site": {"id": "m", "name": "M", "timezone": "Asia/Seoul"},
    "tenants": [{"id": "t", "name": "T"}],
    "meters": [{"id": "t-load", "tenant": "t", "kind": "load", "unit": "kWh"}],
}


def _samples(metrics: ServiceMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_reading_counters_survive_a_new_writer_and_flushes_are_timed() -> None:
    site = parse_site(SITE)
    metrics = ServiceMetrics()
    store = open_store(":memory:")
    store.save_site(site)

    async def one_writer(start: int, bad: int) -> BatchWriter:
        writer = BatchWriter(store, site, max_delay=0.01)
        metrics.writers.attach(writer)
        writer.on_flush = lambda rows, s: metrics.flush_seconds.observe(s)
        task = asyncio.create_task(writer.run())
        ts = pd.Timestamp("2024-01-01", tz="UTC")
        rows = [
            RawReading("t-load", (ts + pd.Timedelta(hours=start + i)).isoformat(), 1.0, "kWh")
            for i in range(10)
        ]
        rows += [RawReading("t-load", "not a time", 1.0, "kWh")] * bad
        await writer.submit(Submission("mqtt:x", rows))
        await writer.close()
        await task
        return writer

    first = asyncio.run(one_writer(0, 2))
    m = _samples(metrics)
    assert m[("bitgaram_readings_received_total", (("source", "mqtt"),))] == 12
    assert m[("bitgaram_readings_accepted_total", (("source", "mqtt"),))] == 10
    assert m[("bitgaram_readings_quarantined_total", (("source", "mqtt"),))] == 2
    assert m[("bitgaram_collect_queue_depth", ())] == 0
    assert m[("bitgaram_collect_flush_seconds_count", ())] == 1
    assert ("bitgaram_collect_lag_seconds", (("source", "mqtt"),)) in m
    metrics.writers.retire(first)  # a restarted collector: the next writer adds on
    asyncio.run(one_writer(100, 0))
    m = _samples(metrics)
    assert m[("bitgaram_readings_accepted_total", (("source", "mqtt"),))] == 20
    assert m[("bitgaram_collect_flush_seconds_count", ())] == 2
    assert store.count_readings() == 20
    store.close()


def test_api_requests_are_counted_by_route_template_and_failed_logins() -> None:
    store = open_store(":memory:")
    store.save_site(parse_site(SITE))
    app = create_app(Settings(), store)
    metrics = ServiceMetrics()
    instrument_api(app, metrics)
    app.state.tokens.add_user("ops", "operator", password="right-password")
    with TestClient(app) as client:
        assert client.get("/api/v1/health").status_code == 200
        assert (
            client.post(
                "/api/v1/auth/login", json={"username": "ops", "password": "wrong"}
            ).status_code
            == 401
        )
        assert client.get("/no/such/page").status_code == 404
    m = _samples(metrics)
    health = (("method", "GET"), ("route", "/api/v1/health"), ("status", "200"))
    assert m[("bitgaram_api_requests_total", health)] == 1
    assert m[("bitgaram_api_login_failures_total", ())] == 1
    lost = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert m[("bitgaram_api_requests_total", lost)] == 1
    assert (
        m[("bitgaram_api_request_seconds_count", (("method", "GET"), ("route", "/api/v1/health")))]
        == 1
    )
    store.close()


def test_route_template_replaces_path_parameters() -> None:
    scope = {
        "path": "/api/v1/meters/m-1/readings",
        "endpoint": len,
        "path_params": {"meter_id": "m-1"},
    }
    assert route_template(scope) == "/api/v1/meters/{meter_id}/readings"


def test_log_lines_are_json_with_site_and_ids_and_no_secrets() -> None:
    out = io.StringIO()
    configure_logging(site_id="park", stream=out)
    try:
        logging.getLogger("bitgaram.test").warning(
            "connect to postgresql://bg:hunter2@db/park with bg_ab12_s3cr3tvalue",
            extra={"meter": "m-1", "tenant": "t"},
        )
        get_logger("bitgaram.test").info("setpoint", asset="ess", password="hunter2")
    finally:
        logging.getLogger().handlers.clear()
        logging.captureWarnings(False)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert first["site"] == "park" and first["meter"] == "m-1" and first["tenant"] == "t"
    assert first["level"] == "warning" and "timestamp" in first
    assert "hunter2" not in out.getvalue() and "s3cr3t" not in out.getvalue()
    assert second["asset"] == "ess" and second["password"] == "***"


def test_redact_text_masks_tokens_and_url_passwords() -> None:
    assert redact_text("bg_x1_abc-DEF and https://u:p@h/") == "bg_*** and https://u:***@h/"
