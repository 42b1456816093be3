"""The service on PostgreSQL, in-process: HTTP push collector and API; other commands alongside."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from service_helpers import free_port

from bitgaram.service.config import load_service_site
from bitgaram.service.run import Service
from bitgaram.store import open_store

SITE = """\
[site]
id = "pgpark"
name = "PostgreSQL park"
timezone = "America/Los_Angeles"

[[tenants]]
id = "a"
name = "A"

[[meters]]
id = "a-load"
tenant = "a"
kind = "load"
unit = "kWh"
resolution = "1h"

[collect.mqtt]
enabled = false

[collect.http]
enabled = true
port = {push}

[service.admin]
port = {admin}

[service.api]
port = {api}
"""


@pytest.fixture
def pg_url(postgres_server: str) -> Iterator[str]:
    schema = "svc_" + uuid.uuid4().hex[:10]
    yield f"{postgres_server}?schema={schema}"
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_service_on_postgres_collects_serves_and_lets_others_read(
    tmp_path: Path, pg_url: str
) -> None:
    push, admin, api = free_port(), free_port(), free_port()
    site = tmp_path / "park.toml"
    site.write_text(SITE.format(push=push, admin=admin, api=api), encoding="utf-8")
    service = Service(load_service_site(site), pg_url)
    # The autumn DST change in Los Angeles: 01:00 local twice, as two distinct UTC hours.
    body = [
        {"meter": "a-load", "timestamp": "2026-11-01T01:00-07:00", "value": 1.0, "unit": "kWh"},
        {"meter": "a-load", "timestamp": "2026-11-01T01:00-08:00", "value": 2.0, "unit": "kWh"},
        {"meter": "a-load", "timestamp": "2026-11-01T02:00-08:00", "value": "x", "unit": "kWh"},
    ]

    async def scenario() -> tuple[int, dict[str, object], int]:
        task = asyncio.create_task(service.run())
        async with httpx.AsyncClient(timeout=10) as client:
            for _ in range(600):
                await asyncio.sleep(0.05)
                try:
                    if (await client.get(f"http://127.0.0.1:{admin}/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            answer = (
                await client.post(f"http://127.0.0.1:{push}/api/v1/readings", json=body)
            ).json()
            # Another process-like reader on the same database while the service runs.
            others = await asyncio.to_thread(_count, pg_url)
            health = (await client.get(f"http://127.0.0.1:{api}/api/v1/health")).status_code
            # The API's own push route, with the first-start admin's token from its 0600 file.
            secrets = (tmp_path / ".bitgaram-admin-pgpark.txt").read_text()
            token = secrets.split("api_token: ")[1].split()[0]
            late = {
                "meter": "a-load",
                "timestamp": "2026-11-01T12:00Z",
                "value": 4.0,
                "unit": "kWh",
            }
            pushed = await client.post(
                f"http://127.0.0.1:{api}/api/v1/readings",
                json=[late],
                headers={"Authorization": f"Bearer {token}"},
            )
            assert pushed.status_code == 200, pushed.text
            metrics = (await client.get(f"http://127.0.0.1:{admin}/metrics")).text
            assert 'bitgaram_readings_accepted_total{source="http"} 3.0' in metrics
        service.stop.set()
        await task
        return health, answer, others

    health, answer, others = asyncio.run(scenario())
    assert health == 200
    assert answer["accepted"] == 2 and answer["quarantined"] == 1  # the bad value quarantined
    assert others == 2
    with open_store(pg_url) as store:
        stored = store.read_readings(["a-load"])
    assert list(stored["value"]) == [1.0, 2.0, 4.0]
    assert stored["ts"].diff().dropna().dt.total_seconds().tolist() == [3600.0, 3 * 3600.0]


def _count(url: str) -> int:
    with open_store(url, migrate=False) as store:
        return store.count_readings()
