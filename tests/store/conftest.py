"""Fixtures of the store tests: one fresh store per backend.

The PostgreSQL store lives in a random schema dropped at teardown, so parallel
runs on the same server never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bitgaram.config import Settings
from bitgaram.site import Site, parse_site
from bitgaram.store import Store, open_store

SITE = {
    "site": {"id": "park", "name": "Test park", "timezone": "Asia/Seoul"},
    "tenants": [
        {"id": "acme", "name": "ACME Motors"},
        {"id": "bolt", "name": "Bolt Foods", "sector": "food"},
    ],
    "meters": [
        {"id": "acme-load", "tenant": "acme", "kind": "load", "unit": "kWh", "resolution": "15min"},
        {
            "id": "acme-load2",
            "tenant": "acme",
            "kind": "load",
            "unit": "kWh",
            "resolution": "15min",
        },
        {"id": "bolt-load", "tenant": "bolt", "kind": "load", "unit": "kWh", "resolution": "15min"},
        {"id": "acme-pv", "tenant": "acme", "kind": "pv", "unit": "kW", "resolution": "15min"},
        {"id": "bolt-pv", "tenant": "bolt", "kind": "pv", "unit": "kW", "resolution": "15min"},
        {"id": "main-load", "kind": "load", "unit": "kWh", "resolution": "15min"},
        {"id": "price", "kind": "price", "unit": "KRW/kWh", "resolution": "1h"},
    ],
    "assets": [
        {
            "type": "battery",
            "id": "acme-ess",
            "tenant": "acme",
            "capacity_kwh": 500,
            "power_kw": 250,
        },
        {"type": "pv", "id": "bolt-pv-array", "tenant": "bolt", "kwp": 300, "meter": "bolt-pv"},
    ],
}


@pytest.fixture
def site() -> Site:
    """A two-tenant park with energy, power and price meters."""
    return parse_site(SITE)


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a fresh PostgreSQL schema, dropped after the test."""
    server: str = request.getfixturevalue("postgres_server")
    try:
        psycopg.connect(server, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL at {server} refuses connections: {exc}"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{message}; CI=true requires it")
        pytest.skip(message)
    schema = "bg_test_" + uuid.uuid4().hex[:12]
    yield f"{server}?schema={schema}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE".encode())


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty store of each backend."""
    if request.param == "duckdb":
        return str(tmp_path / "bitgaram.duckdb")
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A fresh, migrated store of each backend."""
    with open_store(store_url, Settings()) as opened:
        yield opened
