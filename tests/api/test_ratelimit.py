"""Failed logins and token checks are limited per client (429 with Retry-After)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bitgaram.api import Settings, create_app
from bitgaram.api.app import token_store_for
from bitgaram.api.auth import Role
from bitgaram.api.errors import TooManyRequestsError
from bitgaram.api.ratelimit import FailureLimiter
from bitgaram.store import open_store

LIMIT, WINDOW = 10, 60.0


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class LimitedApp:
    app: FastAPI
    clock: FakeClock
    token: str

    def client(self, host: str = "10.0.0.1") -> TestClient:
        return TestClient(self.app, raise_server_exceptions=False, client=(host, 40000))


@pytest.fixture
def limited() -> Iterator[LimitedApp]:
    store = open_store(":memory:")
    settings = Settings(login_max_failures=LIMIT, login_window_seconds=WINDOW)
    tokens = token_store_for(store, settings)
    tokens.add_user("op", Role.OPERATOR, None, password="right")
    token = tokens.issue_token("op")
    app = create_app(settings, store, tokens)
    clock = FakeClock()
    app.state.login_limiter = FailureLimiter(LIMIT, WINDOW, clock=clock)
    yield LimitedApp(app, clock, token)
    store.close()


def _login(client: TestClient, password: str) -> int:
    body = {"username": "op", "password": password}
    return client.post("/api/v1/auth/login", json=body).status_code


def test_failed_logins_are_limited_then_released(limited: LimitedApp) -> None:
    client = limited.client()
    for _ in range(LIMIT):
        assert _login(client, "wrong") == 401
    refused = client.post("/api/v1/auth/login", json={"username": "op", "password": "right"})
    assert refused.status_code == 429  # even the right password, while blocked
    assert refused.json()["error"] == "rate_limited"
    assert refused.headers["retry-after"] == str(int(WINDOW))
    # another client is not affected
    assert _login(limited.client("10.0.0.2"), "right") == 200
    limited.clock.now += WINDOW / 2
    halfway = client.post("/api/v1/auth/login", json={"username": "op", "password": "right"})
    assert halfway.status_code == 429
    assert halfway.headers["retry-after"] == str(int(WINDOW / 2))
    limited.clock.now += WINDOW / 2  # the first failures leave the window
    assert _login(client, "right") == 200


def test_form_logins_count_too(limited: LimitedApp) -> None:
    client = limited.client()
    for _ in range(LIMIT):
        response = client.post(
            "/api/v1/auth/login",
            data={"username": "op", "password": "wrong"},
            follow_redirects=False,
        )
        assert response.status_code == 303
    assert _login(client, "right") == 429


def test_bad_tokens_are_limited_but_a_valid_token_from_the_same_address_is_not(
    limited: LimitedApp,
) -> None:
    # Issue 19: behind one NAT or proxy, someone's bad tokens must not lock out the operator.
    client = limited.client()
    bad = {"Authorization": "Bearer bg_nope_guess"}
    good = {"Authorization": f"Bearer {limited.token}"}
    assert client.get("/api/v1/auth/me", headers=good).status_code == 200
    for _ in range(LIMIT):
        assert client.get("/api/v1/auth/me", headers=bad).status_code == 401
    blocked = client.get("/api/v1/auth/me", headers=bad)
    assert blocked.status_code == 429
    assert 1 <= int(blocked.headers["retry-after"]) <= WINDOW
    limited.app.state.tokens._cache.clear()  # checked again, not answered from memory
    assert client.get("/api/v1/auth/me", headers=good).status_code == 200
    # requests without any credentials are not token checks: still a plain 401
    assert limited.client("10.0.0.4").get("/api/v1/auth/me").status_code == 401


def test_one_token_id_guessed_from_many_addresses_is_limited(limited: LimitedApp) -> None:
    token_id = limited.token.split("_")[1]
    guess = {"Authorization": f"Bearer bg_{token_id}_wrongsecret"}
    for i in range(LIMIT):
        assert (
            limited.client(f"10.1.0.{i}").get("/api/v1/auth/me", headers=guess).status_code == 401
        )
    assert limited.client("10.1.1.1").get("/api/v1/auth/me", headers=guess).status_code == 429
    good = {"Authorization": f"Bearer {limited.token}"}
    limited.app.state.tokens._cache.clear()
    assert limited.client("10.1.1.1").get("/api/v1/auth/me", headers=good).status_code == 200


def test_other_users_logins_from_the_same_address_are_not_blocked(limited: LimitedApp) -> None:
    limited.app.state.tokens.add_user("ann", Role.OPERATOR, None, password="hers")
    client = limited.client()
    for _ in range(LIMIT):
        assert _login(client, "wrong") == 401
    assert _login(client, "right") == 429  # this pair is over its limit
    ann = client.post("/api/v1/auth/login", json={"username": "ann", "password": "hers"})
    assert ann.status_code == 200


def test_dashboard_cookie_checks_are_limited(limited: LimitedApp) -> None:
    client = limited.client("10.2.0.1")
    for _ in range(LIMIT + 1):
        client.cookies.set("bitgaram_session", "bg_nope_guess")
        page = client.get("/dashboard", follow_redirects=False)
        assert page.status_code == 303
    limiter = limited.app.state.login_limiter
    assert limiter.over("addr:10.2.0.1") is not None  # the cookie guesses were counted


def test_limiter_window_slides() -> None:
    clock = FakeClock()
    limiter = FailureLimiter(3, 10.0, clock=clock)
    for at in (1000.0, 1001.0, 1003.0):
        clock.now = at
        limiter.failed("a")
    clock.now = 1006.0
    with pytest.raises(TooManyRequestsError) as caught:
        limiter.check("a")
    assert caught.value.retry_after == 4  # the failure at 1000 leaves the window at 1010
    clock.now = 1010.0
    limiter.check("a")  # two failures left in the window
    limiter.failed("a")
    with pytest.raises(TooManyRequestsError):
        limiter.check("a")


def test_limiter_bounds_its_memory_and_can_be_disabled() -> None:
    clock = FakeClock()
    limiter = FailureLimiter(2, 10.0, clock=clock, max_clients=2)
    limiter.failed("a")
    limiter.failed("a")
    limiter.failed("b")
    limiter.failed("c")  # over max_clients: the oldest client is forgotten
    limiter.check("a")
    off = FailureLimiter(0, 10.0, clock=clock)
    for _ in range(100):
        off.failed("a")
    off.check("a")
