"""Fixtures of the live-collection tests: a unique run id, a small site, an in-memory store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from collect_doubles import MemoryStore, site_dict

from bitgaram.site import Site, parse_site
from bitgaram.store import Store, open_store


@pytest.fixture
def run_id() -> str:
    """A unique id per test: topics, client ids and site ids never collide on the shared broker."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def site(run_id: str) -> Site:
    """A three-meter site with a unique id."""
    return parse_site(site_dict(run_id))


@pytest.fixture
def memory_store() -> MemoryStore:
    """An empty in-memory store."""
    return MemoryStore()


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_store(request: pytest.FixtureRequest, tmp_path: Path, site: Site) -> Iterator[Store]:
    """A migrated store of each backend (DuckDB file, PostgreSQL schema) holding ``site``."""
    if request.param == "duckdb":
        opened = open_store(str(tmp_path / "collect.duckdb"))
        opened.save_site(site)
        yield opened
        opened.close()
        return
    server: str = request.getfixturevalue("postgres_server")
    schema = "bg_collect_" + uuid.uuid4().hex[:10]
    opened = open_store(f"{server}?schema={schema}")
    opened.save_site(site)
    yield opened
    opened.close()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE".encode())
