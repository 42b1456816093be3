"""Users, tokens (hashed at rest), roles and the browser login."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from api_park import ApiPark

from bitgaram.api.auth import Principal, Role, TokenStore
from bitgaram.api.errors import NotAuthenticatedError, PermissionDeniedError
from bitgaram.api.scope import TenantScope
from bitgaram.errors import ConfigError


@pytest.fixture
def tokens() -> TokenStore:
    store = TokenStore(sqlite3.connect(":memory:", check_same_thread=False))
    store.migrate()
    store.migrate()  # idempotent
    store.add_user("op", Role.OPERATOR)
    store.add_user("acme-mgr", Role.TENANT_MANAGER, "acme", password="s3cret")
    return store


def test_token_round_trip_and_not_stored_in_clear(tokens: TokenStore) -> None:
    token = tokens.issue_token("acme-mgr")
    principal = tokens.authenticate(token)
    assert principal == Principal("acme-mgr", Role.TENANT_MANAGER, "acme", principal.token_id)
    secret = token.split("_", 2)[2]
    dump = "\n".join(tokens._con.iterdump())  # type: ignore[attr-defined]
    assert secret not in dump
    assert principal.token_id in dump  # only the id is kept in clear


def test_same_secret_hashes_differently_per_salt(tokens: TokenStore) -> None:
    tokens.issue_token("op")
    tokens.issue_token("op")
    hashes = [r[0] for r in tokens._query("SELECT hash FROM api_tokens")]
    salts = [r[0] for r in tokens._query("SELECT salt FROM api_tokens")]
    assert len(set(hashes)) == len(set(salts)) == 2


@pytest.mark.parametrize(
    "bad",
    ["", "nonsense", "bg__x", "bg_0000000000000000_notthesecret", "xx_a_b"],
)
def test_bad_tokens_are_refused(tokens: TokenStore, bad: str) -> None:
    tokens.issue_token("op")
    with pytest.raises(NotAuthenticatedError):
        tokens.authenticate(bad)


def test_wrong_secret_for_a_real_id_is_refused(tokens: TokenStore) -> None:
    token = tokens.issue_token("op")
    prefix, token_id, _ = token.split("_", 2)
    with pytest.raises(NotAuthenticatedError):
        tokens.authenticate(f"{prefix}_{token_id}_{'A' * 43}")


def test_revoked_token_stops_working_even_when_cached(tokens: TokenStore) -> None:
    token = tokens.issue_token("op")
    principal = tokens.authenticate(token)  # now cached
    tokens.revoke(principal.token_id)
    with pytest.raises(NotAuthenticatedError):
        tokens.authenticate(token)


def test_expired_token_is_refused(tokens: TokenStore) -> None:
    token = tokens.issue_token("op", ttl=timedelta(seconds=-1))
    with pytest.raises(NotAuthenticatedError, match="expired"):
        tokens.authenticate(token)


def test_login_checks_password(tokens: TokenStore) -> None:
    token = tokens.login("acme-mgr", "s3cret", timedelta(hours=1))
    assert tokens.authenticate(token).user == "acme-mgr"
    for user, password in [("acme-mgr", "wrong"), ("op", "anything"), ("ghost", "s3cret")]:
        with pytest.raises(NotAuthenticatedError, match="wrong user name or password"):
            tokens.login(user, password, timedelta(hours=1))


@pytest.mark.parametrize(
    ("role", "tenant"),
    [(Role.OPERATOR, "acme"), (Role.TENANT_MANAGER, None)],
)
def test_role_and_tenant_must_fit(tokens: TokenStore, role: Role, tenant: str | None) -> None:
    with pytest.raises(ConfigError):
        tokens.add_user("someone", role, tenant)


def test_duplicate_user_is_refused(tokens: TokenStore) -> None:
    with pytest.raises(ConfigError, match="already exists"):
        tokens.add_user("op", Role.OPERATOR)


def test_viewer_is_read_only(api_park: ApiPark) -> None:
    scope = TenantScope(Principal("v", Role.VIEWER, "acme", "t"), api_park.park.site)
    with pytest.raises(PermissionDeniedError):
        scope.require_write()
    assert scope.writable_meter_ids() == frozenset()
    manager = TenantScope(Principal("m", Role.TENANT_MANAGER, "acme", "t"), api_park.park.site)
    assert manager.writable_meter_ids() == {"acme-load", "acme-pv"}


def test_park_viewer_sees_the_park_but_cannot_write(api_park: ApiPark) -> None:
    client = api_park.client("viewer")
    assert client.get("/api/v1/park/overview").status_code == 200
    assert len(client.get("/api/v1/tenants").json()["items"]) == 6
    me = client.get("/api/v1/auth/me").json()
    assert me == {
        "user": "viewer",
        "role": "viewer",
        "tenant_id": None,
        "site_id": None,
        "can_write": False,
    }


def test_json_login_sets_httponly_cookie_and_logout_revokes_it(api_park: ApiPark) -> None:
    client = api_park.client()
    response = client.post("/api/v1/auth/login", json={"username": "acme", "password": "pw-acme"})
    assert response.status_code == 200
    assert response.json()["tenant_id"] == "acme"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert client.get("/api/v1/tenants").json()["items"][0]["id"] == "acme"
    session = client.cookies.get("bitgaram_session")
    assert client.post("/api/v1/auth/logout").status_code == 204
    fresh = api_park.client()
    fresh.headers["Authorization"] = f"Bearer {session}"
    assert fresh.get("/api/v1/auth/me").status_code == 401


def test_form_login_redirects(api_park: ApiPark) -> None:
    client = api_park.client()
    ok = client.post(
        "/api/v1/auth/login",
        data={"username": "operator", "password": "pw-operator"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/dashboard"
    assert "bitgaram_session" in ok.headers["set-cookie"]
    bad = api_park.client().post(
        "/api/v1/auth/login",
        data={"username": "operator", "password": "nope"},
        follow_redirects=False,
    )
    assert bad.status_code == 303 and bad.headers["location"] == "/login?error=1"
    assert "set-cookie" not in bad.headers


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b'{"username": ""}', b"[1, 2]", b'{"username": "a", "password": 5}'],
)
def test_malformed_login_is_a_json_422(api_park: ApiPark, body: bytes) -> None:
    response = api_park.client().post(
        "/api/v1/auth/login", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "data"


def test_wrong_password_json_is_401(api_park: ApiPark) -> None:
    response = api_park.client().post(
        "/api/v1/auth/login", json={"username": "operator", "password": "wrong"}
    )
    assert response.status_code == 401
    assert response.json() == {
        "error": "not_authenticated",
        "message": "wrong user name or password",
    }
