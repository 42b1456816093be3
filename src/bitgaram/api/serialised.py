"""A store proxy that lets one thread at a time into the store.

Workaround: ``SqlStore.tenant_totals`` and ``park_totals`` look up meter units
before taking the store's lock, so concurrent requests can hit one DuckDB
connection from two threads ("connection is busy"). The store already runs
one query at a time, so serialising calls here costs no throughput. Remove
this proxy once the store takes its lock around the whole call.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, cast

from bitgaram.store.base import Store


class SerialisedStore:
    """Delegates every attribute of ``store``; its methods run under one lock."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.RLock()

    @property
    def url(self) -> str:
        """The wrapped store's URL."""
        return self._store.url

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr
        method = cast(Callable[..., Any], attr)

        @functools.wraps(method)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return locked


def serialised(store: Store) -> Store:
    """``store`` behind a :class:`SerialisedStore` (typed as the protocol it honours)."""
    return cast(Store, SerialisedStore(store))
