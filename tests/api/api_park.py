"""The synthetic six-tenant park served by the app, in a real (in-memory) DuckDB store.

Shared by the API tests and the dashboard tests (their conftest files expose
the fixtures).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bitgaram.api import Settings, create_app
from bitgaram.api.app import token_store_for
from bitgaram.api.auth import TokenStore
from bitgaram.api.testing import SyntheticPark, populate, synthetic_park
from bitgaram.store import Store, open_store


@dataclass(frozen=True)
class ApiPark:
    """An app serving the synthetic park, with a token per user."""

    app: FastAPI
    store: Store
    tokens: TokenStore
    park: SyntheticPark
    token: dict[str, str]

    def client(self, user: str | None = None) -> TestClient:
        """A test client, authenticated as ``user`` when given."""
        client = TestClient(self.app, raise_server_exceptions=False)
        if user is not None:
            client.headers["Authorization"] = f"Bearer {self.token[user]}"
        return client


@pytest.fixture(scope="session")
def api_park() -> Iterator[ApiPark]:
    """The app over a six-tenant park (10 days of 15-minute data), shared by the API tests."""
    # No failure limit here: every test shares this app and one client address, so
    # deliberate bad tokens of one test would block the next; test_ratelimit.py has its own.
    settings = Settings(login_max_failures=0)
    store = open_store(":memory:")
    tokens = token_store_for(store, settings)
    park = synthetic_park(n_tenants=6, days=10)
    token = populate(store, tokens, park)
    app = create_app(settings, store, tokens)
    yield ApiPark(app, store, tokens, park, token)
    store.close()


@pytest.fixture
def operator(api_park: ApiPark) -> TestClient:
    """Client of the park operator."""
    return api_park.client("operator")


@pytest.fixture
def acme(api_park: ApiPark) -> TestClient:
    """Client of the manager of tenant ``acme``."""
    return api_park.client("acme")
