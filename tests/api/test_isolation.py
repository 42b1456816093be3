"""Tenant isolation, swept over every route of the app.

The routes are read from the app's OpenAPI schema, so a route added later is covered
without editing this file; a route with a path parameter this file does not
know fails :func:`test_every_path_parameter_is_known` until it is mapped.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import duckdb
import psycopg
import pytest
from api_park import ApiPark
from fastapi.testclient import TestClient

from bitgaram.api import Settings, create_app
from bitgaram.api.app import token_store_for
from bitgaram.api.auth import TokenStore
from bitgaram.api.testing import TENANT_IDS, populate, synthetic_park
from bitgaram.store import open_store

OWN = "acme"
OTHERS = [t for t in TENANT_IDS if t != OWN]

#: Path parameter -> value naming another tenant's resource.
FOREIGN_VALUE = {"tenant_id": "borealis", "meter_id": "borealis-load", "asset_id": "borealis-ess"}
#: Path parameter -> value naming a resource the caller may see.
OWN_VALUE = {
    "tenant_id": OWN,
    "meter_id": f"{OWN}-load",
    "asset_id": f"{OWN}-ess",
    "site_id": "testpark",
}

#: The same park's other tenants: their ids (also prefixes of their meter ids) and names.
FOREIGN_STRINGS = [*OTHERS, *(t.title() + " Co." for t in OTHERS)]


def _routes() -> list[tuple[str, str]]:
    """(method, path) of every operation in the OpenAPI schema of a freshly built app."""
    store = open_store(":memory:")
    try:
        app = create_app(Settings(), store, TokenStore(duckdb.connect(":memory:")))
        paths = app.openapi()["paths"]
        return sorted((m.upper(), p) for p, ops in paths.items() for m in ops)
    finally:
        store.close()


ROUTES = _routes()
_PARAM = re.compile(r"{([^}]+)}")


def _fill(path: str, values: dict[str, str]) -> str:
    return _PARAM.sub(lambda m: values[m.group(1)], path)


def _foreign_in(text: str) -> list[str]:
    return [s for s in FOREIGN_STRINGS if s in text]


def _reading_for(meter: str) -> list[dict[str, object]]:
    return [{"meter": meter, "timestamp": "2025-05-31T00:00:00+00:00", "value": 1.0, "unit": "kWh"}]


def test_routes_are_discovered() -> None:
    paths = {p for _, p in ROUTES}
    assert "/api/v1/tenants/{tenant_id}" in paths
    assert "/api/v1/meters/{meter_id}/readings" in paths
    assert "/api/v1/park/overview" in paths
    assert "/api/v1/assets/{asset_id}/setpoints" in paths
    assert "/api/v1/assets/{asset_id}/schedule" in paths


def test_every_path_parameter_is_known() -> None:
    for _, path in ROUTES:
        for name in _PARAM.findall(path):
            assert name in OWN_VALUE, f"{path}: map {name!r} in FOREIGN_VALUE/OWN_VALUE"


@pytest.mark.parametrize("user", [OWN, f"{OWN}-viewer"])
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_tenant_cannot_reach_other_tenants_data(
    api_park: ApiPark, user: str, method: str, path: str
) -> None:
    _check_foreign_request(api_park.client(user), method, path)


def _check_foreign_request(client: TestClient, method: str, path: str) -> None:
    """A tenant's request naming another tenant's resource: 403/404 and no data."""
    params = _PARAM.findall(path)
    foreign_params = [p for p in params if p in FOREIGN_VALUE]
    url = _fill(path, {**OWN_VALUE, **FOREIGN_VALUE})
    response = client.request(method, url, json=_reading_for("borealis-load"))
    if foreign_params or (method == "POST" and path.endswith("/readings")):
        assert response.status_code in (403, 404), response.text
        assert set(response.json()) == {"error", "message"}
    elif response.status_code < 300 and response.content:
        assert not _foreign_in(response.text), f"{url} leaked {_foreign_in(response.text)}"
    else:
        assert response.status_code in (204, 401, 403, 404, 422), response.text


@pytest.fixture
def pg_park(request: pytest.FixtureRequest) -> Iterator[ApiPark]:
    """The same app over PostgreSQL (two days of data, its own schema, dropped afterwards)."""
    server: str = request.getfixturevalue("postgres_server")
    schema = "bg_api_" + uuid.uuid4().hex[:12]
    store = open_store(f"{server}?schema={schema}")
    try:
        settings = Settings(login_max_failures=0)
        tokens = token_store_for(store, settings)
        park = synthetic_park(n_tenants=6, days=2)
        token = populate(store, tokens, park)
        yield ApiPark(create_app(settings, store, tokens), store, tokens, park, token)
    finally:
        store.close()
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE".encode())


@pytest.mark.postgres
def test_isolation_holds_on_postgres(pg_park: ApiPark) -> None:
    """The sweep above, on the PostgreSQL store (one test: every route, both tenant roles)."""
    for user in (OWN, f"{OWN}-viewer"):
        client = pg_park.client(user)
        for method, path in ROUTES:
            _check_foreign_request(client, method, path)
    own = pg_park.client(OWN)
    operator = pg_park.client("operator")
    for _, path in [r for r in ROUTES if r[0] == "GET"]:
        mine = own.get(_fill(path, OWN_VALUE))
        assert mine.status_code in (200, 403), f"{path}: {mine.text}"
        if mine.status_code == 200:
            assert not _foreign_in(mine.text), f"{path} leaked {_foreign_in(mine.text)}"
        everyone = operator.get(_fill(path, {**OWN_VALUE, **FOREIGN_VALUE}))
        assert everyone.status_code == 200, f"{path}: {everyone.text}"


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if r[0] == "GET"])
def test_own_data_never_mentions_other_tenants(api_park: ApiPark, method: str, path: str) -> None:
    response = api_park.client(OWN).get(_fill(path, OWN_VALUE))
    assert response.status_code in (200, 403), response.text
    if response.status_code == 200:
        assert not _foreign_in(response.text), _foreign_in(response.text)


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if r[0] == "GET"])
def test_operator_reaches_every_tenant(api_park: ApiPark, method: str, path: str) -> None:
    response = api_park.client("operator").get(_fill(path, {**OWN_VALUE, **FOREIGN_VALUE}))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_anonymous_requests_are_refused(api_park: ApiPark, method: str, path: str) -> None:
    if path in ("/api/v1/health", "/api/v1/auth/login"):
        pytest.skip("public by design")
    response = api_park.client().request(method, _fill(path, OWN_VALUE))
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert response.headers["www-authenticate"] == "Bearer"


def test_tenant_lists_show_only_own_tenant(api_park: ApiPark) -> None:
    client = api_park.client(OWN)
    tenants = client.get("/api/v1/tenants").json()
    assert [t["id"] for t in tenants["items"]] == [OWN]
    meters = client.get("/api/v1/meters", params={"limit": 1000}).json()["items"]
    assert {m["tenant"] for m in meters} <= {OWN, None}
    assert {m["kind"] for m in meters if m["tenant"] is None} <= {
        "price",
        "carbon_intensity",
        "weather",
    }
    assert client.get("/api/v1/meters", params={"tenant": "borealis"}).status_code == 404


@pytest.mark.parametrize("view", ["summary", "benchmark", "bills", "re100"])
def test_cached_views_are_checked_before_the_cache(api_park: ApiPark, view: str) -> None:
    url = f"/api/v1/tenants/borealis/{view}"
    assert api_park.client("operator").get(url).status_code == 200  # now cached
    response = api_park.client(OWN).get(url)
    assert response.status_code == 404
    assert "Borealis" not in response.text
    overview = api_park.client(OWN).get("/api/v1/park/overview")
    assert api_park.client("operator").get("/api/v1/park/overview").status_code == 200
    assert overview.status_code == 403
