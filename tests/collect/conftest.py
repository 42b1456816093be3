"""Fixtures of the live-collection tests: a small site, stores, fault-injecting wrappers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from collect_doubles import SITE_TOML, MemoryStore, site_dict

from bitgaram.site import Site, parse_site


@pytest.fixture
def run_id() -> str:
    """A unique id per test: topics, client ids and site ids never collide on the shared broker."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def site(run_id: str) -> Site:
    """A three-meter site with a unique id."""
    return parse_site(site_dict(run_id))


@pytest.fixture
def site_file(tmp_path: Path, run_id: str) -> Path:
    """The same site as a TOML file."""
    path = tmp_path / "site.toml"
    path.write_text(SITE_TOML.format(site_id=run_id), encoding="utf-8")
    return path


@pytest.fixture
def memory_store() -> MemoryStore:
    """An empty in-memory store."""
    return MemoryStore()


def duckdb_url(tmp_path: Path) -> str:
    """URL of a fresh DuckDB file store under ``tmp_path``."""
    return f"duckdb:///{tmp_path / 'collect.duckdb'}"


@pytest.fixture
def real_store(tmp_path: Path, site: Site) -> Iterator[Any]:
    """A real store (DuckDB file) with the site saved; skipped until the backend exists."""
    try:
        from bitgaram.store import open_store  # type: ignore[attr-defined]
    except ImportError:
        pytest.skip("bitgaram.store.open_store is not available yet")
    store = open_store(duckdb_url(tmp_path))
    store.migrate()
    store.save_site(site)
    yield store
    store.close()
