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
from bitgaram.api.testing import DR_EVENT_IDS, TENANT_IDS, populate, relabel, synthetic_park
from bitgaram.store import Store, open_store

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
    "event_id": DR_EVENT_IDS[0],
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


# -- two sites in one store: tenant ids repeat, principals are bound to their site ----------

#: The second site: same tenant ids, its own site, meter and asset ids, 3x the readings.
OTHER_SITE = "otherpark"
#: Strings only the second site's data contains.
OTHER_STRINGS = [OTHER_SITE, "b-acme", "b-park", "b-borealis"]


def _two_site_park(store_url: str) -> tuple[ApiPark, Store]:
    """An app over a store holding the test park and a second site with the same tenant ids."""
    store = open_store(store_url)
    settings = Settings(login_max_failures=0)
    tokens = token_store_for(store, settings)
    days = 10 if store_url == ":memory:" else 2
    first = synthetic_park(n_tenants=6, days=days)
    token = populate(store, tokens, first, bind_site=True)
    other = relabel(synthetic_park(n_tenants=6, days=days, seed=1), OTHER_SITE, "b-", scale=3.0)
    token |= {
        f"b-{k}": v
        for k, v in populate(store, tokens, other, user_prefix="b-", bind_site=True).items()
    }
    tokens.add_user("root", "operator")  # every site
    token["root"] = tokens.issue_token("root")
    tokens.add_user("legacy", "tenant_manager", OWN)  # limited to a tenant, bound to no site
    token["legacy"] = tokens.issue_token("legacy")
    return ApiPark(create_app(settings, store, tokens), store, tokens, first, token), store


@pytest.fixture(scope="module")
def two_sites() -> Iterator[ApiPark]:
    """The two-site app on an in-memory DuckDB store."""
    park, store = _two_site_park(":memory:")
    yield park
    store.close()


@pytest.fixture
def pg_two_sites(request: pytest.FixtureRequest) -> Iterator[ApiPark]:
    """The two-site app on PostgreSQL (its own schema, dropped afterwards)."""
    server: str = request.getfixturevalue("postgres_server")
    schema = "bg_api2_" + uuid.uuid4().hex[:12]
    park, store = _two_site_park(f"{server}?schema={schema}")
    try:
        yield park
    finally:
        store.close()
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE".encode())


def _site_sweep(park: ApiPark, single: ApiPark | None) -> None:
    """Every route, as site A's tenant roles: nothing of site B, and site B refused."""
    for user in (OWN, f"{OWN}-viewer"):
        client = park.client(user)
        for method, path in ROUTES:
            _check_foreign_request(client, method, path)
            url = _fill(path, OWN_VALUE)
            if method != "GET":
                continue
            mine = client.get(url)
            assert mine.status_code in (200, 403), f"{url}: {mine.text}"
            if mine.status_code == 200:
                leaked = [s for s in OTHER_STRINGS if s in mine.text]
                assert not leaked, f"{url} leaked site {OTHER_SITE}: {leaked}"
                if single is not None and not path.startswith(("/api/v1/auth", "/api/v1/sites")):
                    # the same request on a store holding site A alone: the same answer
                    alone = single.client(user).get(url)
                    assert mine.json() == alone.json(), f"{url} differs with a second site stored"
            elsewhere = client.get(url, params={"site_id": OTHER_SITE})
            if path.startswith(("/api/v1/health", "/api/v1/auth", "/api/v1/sites")):
                continue  # not scoped by ?site_id= (a site's own path names it)
            assert elsewhere.status_code == 404, f"{url}?site_id={OTHER_SITE}: {elsewhere.text}"
            assert set(elsewhere.json()) == {"error", "message"}


def test_tenant_of_one_site_reads_nothing_of_the_other(
    two_sites: ApiPark, api_park: ApiPark
) -> None:
    _site_sweep(two_sites, api_park)


@pytest.mark.postgres
def test_two_site_isolation_on_postgres(pg_two_sites: ApiPark) -> None:
    _site_sweep(pg_two_sites, None)


def test_sites_lists_what_the_caller_may_see(two_sites: ApiPark) -> None:
    root = two_sites.client("root").get("/api/v1/sites").json()
    assert [s["id"] for s in root["items"]] == [OTHER_SITE, "testpark"]
    assert root["total"] == 2
    own = two_sites.client(OWN).get("/api/v1/sites").json()
    assert [(s["id"], s["n_tenants"]) for s in own["items"]] == [("testpark", 1)]
    other = two_sites.client("b-acme").get("/api/v1/sites").json()
    assert [s["id"] for s in other["items"]] == [OTHER_SITE]
    assert two_sites.client(OWN).get(f"/api/v1/sites/{OTHER_SITE}").status_code == 404


def test_unbound_operator_names_the_site(two_sites: ApiPark) -> None:
    root = two_sites.client("root")
    response = root.get("/api/v1/tenants")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "site_required"
    assert OTHER_SITE in body["message"] and "testpark" in body["message"]
    assert "site_id" in body["message"]
    names = [
        t["name"]
        for t in root.get("/api/v1/tenants", params={"site_id": OTHER_SITE}).json()["items"]
    ]
    assert names and all(n.endswith(f"({OTHER_SITE})") for n in names)
    assert root.get("/api/v1/tenants", params={"site_id": "nowhere"}).status_code == 404


def test_same_tenant_id_on_two_sites_gets_its_own_figures(two_sites: ApiPark) -> None:
    # acme exists on both sites; site B's readings are 3x site A's
    path = f"/api/v1/tenants/{OWN}/energy"
    mine = two_sites.client(OWN).get(path, params={"limit": 10000}).json()
    theirs = two_sites.client("b-acme").get(path, params={"limit": 10000}).json()
    a = sum(p["kwh"] for p in mine["items"])
    b = sum(p["kwh"] for p in theirs["items"])
    assert a > 0 and b > 0
    assert b != pytest.approx(a)  # different data, not one sum over both sites
    root = two_sites.client("root")
    as_root = root.get(path, params={"limit": 10000, "site_id": "testpark"}).json()
    assert sum(p["kwh"] for p in as_root["items"]) == pytest.approx(a)


def test_tenant_user_bound_to_no_site_is_refused_once_there_are_two(two_sites: ApiPark) -> None:
    response = two_sites.client("legacy").get(f"/api/v1/tenants/{OWN}")
    assert response.status_code == 403
    assert "--site" in response.json()["message"]


def test_pushed_readings_go_to_the_named_site(two_sites: ApiPark) -> None:
    """The HTTP push validates each site's readings against that site (one writer per site)."""
    reading = [
        {
            "meter": "b-acme-load",
            "timestamp": "2025-06-01T00:00:00+00:00",
            "value": 2.5,
            "unit": "kWh",
        }
    ]
    with TestClient(two_sites.app) as client:
        client.headers["Authorization"] = f"Bearer {two_sites.token['root']}"
        unnamed = client.post("/api/v1/readings", json=reading)
        assert unnamed.status_code == 400 and unnamed.json()["error"] == "site_required"
        wrong = client.post("/api/v1/readings", json=reading, params={"site_id": "testpark"})
        assert wrong.status_code == 200 and wrong.json()["accepted"] == 0  # not a meter there
        right = client.post("/api/v1/readings", json=reading, params={"site_id": OTHER_SITE})
        assert right.status_code == 200 and right.json()["accepted"] == 1, right.text
        client.headers["Authorization"] = f"Bearer {two_sites.token[OWN]}"
        foreign = client.post("/api/v1/readings", json=reading)
        assert foreign.status_code == 403
