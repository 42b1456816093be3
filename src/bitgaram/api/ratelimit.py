"""Rate limiting of failed logins and token checks, per credential and per address.

Failures are counted under several keys, each allowed ``max_failures`` within a
sliding ``window_seconds``:

- **tokens** (:func:`authenticate_limited`, used by the API's bearer and cookie
  checks and by the dashboard page): per client address and per token id. A
  token is always checked (its hash is cheap: token secrets are 256 random bits,
  so no cost factor is needed to resist guessing); only a *failing* check is
  answered 429 instead of 401 once a key is over its limit. A valid token is
  therefore never refused, even from an address where someone else is
  guessing (one NAT or proxy in front of many users).
- **passwords** (:func:`login_gate` / :func:`login_failed`): per (address, user
  name), per user name and per address. Only the pair, and an address failing
  :data:`ADDRESS_FACTOR` times more often than the limit (a password spray,
  which would otherwise burn a CPU on scrypt), are refused before the password
  hash is computed; the user-wide counter turns failures into 429 but never
  refuses the right password, so guessing one account from many addresses
  cannot lock its owner out.

Successes do not reset a count (an attacker with one valid account could
otherwise interleave its own logins with guesses).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable

from fastapi import Request

from bitgaram.api.auth import Principal, TokenStore
from bitgaram.api.errors import NotAuthenticatedError, TooManyRequestsError

#: How many times the per-credential limit one address may fail before its
#: password attempts are refused without computing a hash.
ADDRESS_FACTOR = 10


def client_key(request: Request) -> str:
    """The client a request is counted against: its peer address (no proxy headers)."""
    return request.client.host if request.client is not None else "unknown"


class FailureLimiter:
    """Counts failures per client in a sliding window and refuses clients over the limit.

    Parameters
    ----------
    max_failures : int
        Failures allowed per client within the window; 0 disables the limit.
    window_seconds : float
        Length of the sliding window [s].
    clock : callable, optional
        Monotonic clock [s] (tests pass a fake one).
    max_clients : int
        Clients tracked before those without recent failures are forgotten.
    """

    def __init__(
        self,
        max_failures: int = 10,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self._clock = clock
        self._max_clients = max_clients
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_seconds:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def over(self, key: str, factor: int = 1) -> int | None:
        """Seconds until ``key`` is under ``factor`` times the limit, or None if it is."""
        if self.max_failures <= 0:
            return None
        limit = self.max_failures * factor
        now = self._clock()
        with self._lock:
            times = self._recent(key, now)
            if times is None or len(times) < limit:
                return None
            wait = times[len(times) - limit] + self.window_seconds - now
        return max(1, math.ceil(wait))

    def check(self, key: str) -> None:
        """Refuse ``key`` while it is over the limit.

        Raises
        ------
        TooManyRequestsError
            With ``retry_after`` [s], rounded up to whole seconds.
        """
        if self.max_failures <= 0:
            return
        now = self._clock()
        with self._lock:
            times = self._recent(key, now)
            if times is None or len(times) < self.max_failures:
                return
            wait = times[len(times) - self.max_failures] + self.window_seconds - now
        retry = max(1, math.ceil(wait))
        raise TooManyRequestsError(
            f"too many failed logins or token checks from this client: retry in {retry} s",
            retry_after=retry,
        )

    def failed(self, key: str) -> None:
        """Count one failure of ``key``."""
        if self.max_failures <= 0:
            return
        now = self._clock()
        with self._lock:
            if key not in self._failures and len(self._failures) >= self._max_clients:
                for other in list(self._failures):
                    self._recent(other, now)
                if len(self._failures) >= self._max_clients:
                    self._failures.pop(next(iter(self._failures)))
            times = self._failures.setdefault(key, deque())
            times.append(now)
            while len(times) > self.max_failures * ADDRESS_FACTOR:
                times.popleft()


def _refuse(retry: int) -> TooManyRequestsError:
    return TooManyRequestsError(
        f"too many failed logins or token checks: retry in {retry} s", retry_after=retry
    )


def _token_key(token: str) -> str:
    """The credential a token check is counted against: its id (or a digest if malformed)."""
    parts = token.split("_", 2)
    if len(parts) == 3 and parts[1]:
        return "token:" + parts[1][:64]
    return "token?:" + hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:16]


def authenticate_limited(
    limiter: FailureLimiter, tokens: TokenStore, token: str, address: str
) -> Principal:
    """Check a token, counting failures per address and per token id.

    Parameters
    ----------
    limiter : FailureLimiter
    tokens : TokenStore
    token : str
        The bearer token or session cookie value.
    address : str
        The client's address (:func:`client_key`).

    Returns
    -------
    Principal
        Always, for a valid token, whatever the counters say.

    Raises
    ------
    NotAuthenticatedError
        For a wrong token while its keys are under the limit.
    TooManyRequestsError
        For a wrong token once its address or token id is over the limit.
    """
    try:
        return tokens.authenticate(token)
    except NotAuthenticatedError:
        keys = ("addr:" + address, _token_key(token))
        waits = [w for w in (limiter.over(k) for k in keys) if w is not None]
        for key in keys:
            limiter.failed(key)
        if waits:  # already over the limit before this failure
            raise _refuse(max(waits)) from None
        raise


def login_gate(limiter: FailureLimiter, user: str, address: str) -> None:
    """Refuse a login before the password hash when its pair or its address is over the limit.

    Raises
    ------
    TooManyRequestsError
    """
    for key, factor in ((f"pair:{address}|{user}", 1), ("addr:" + address, ADDRESS_FACTOR)):
        wait = limiter.over(key, factor)
        if wait is not None:
            raise _refuse(wait)


def login_failed(limiter: FailureLimiter, user: str, address: str) -> None:
    """Count a failed login; raise 429 when the user name itself is over the limit.

    Raises
    ------
    TooManyRequestsError
        When the user name (across addresses) or the pair is over the limit.
    """
    keys = (f"pair:{address}|{user}", "user:" + user, "addr:" + address)
    waits = [w for w in (limiter.over(k) for k in keys[:2]) if w is not None]
    for key in keys:
        limiter.failed(key)
    if waits:  # already over the limit before this failure
        raise _refuse(max(waits))
