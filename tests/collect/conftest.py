"""Fixtures of the live-collection tests: a unique run id, a small site, an in-memory store."""

from __future__ import annotations

import uuid

import pytest
from collect_doubles import MemoryStore, site_dict

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
def memory_store() -> MemoryStore:
    """An empty in-memory store."""
    return MemoryStore()
