"""Rate limiting of failed logins and token checks, per client.

Each client (by its IP address as the server sees it) may fail ``max_failures``
times within a sliding ``window_seconds``; after that, every login and every
request presenting a token answers 429 with ``Retry-After`` until the oldest
failure leaves the window. Blocked attempts are refused before any password or
token hash is computed, so guessing costs the server nothing. Successes do not
reset the count (an attacker with one valid account could otherwise interleave
its own logins with guesses).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from fastapi import Request

from bitgaram.api.errors import TooManyRequestsError


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
            while len(times) > self.max_failures:
                times.popleft()
