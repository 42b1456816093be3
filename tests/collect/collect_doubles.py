"""Shared by the live-collection tests: the test site, an in-memory store, a failing wrapper."""

from __future__ import annotations

import threading
from typing import Any, Literal

import pandas as pd

from bitgaram.errors import StoreError
from bitgaram.store.base import QUARANTINE_COLUMNS, WriteReport

SITE_TOML = """\
[site]
id = "{site_id}"
name = "Collector test park"
timezone = "Asia/Seoul"

[[tenants]]
id = "acme"
name = "ACME"

[[meters]]
id = "acme-load"
tenant = "acme"
kind = "load"
unit = "kWh"
resolution = "1min"
max_value = 1000

[[meters]]
id = "acme-pv"
tenant = "acme"
kind = "pv"
unit = "kW"
resolution = "1min"

[[meters]]
id = "air-temp"
kind = "weather"
unit = "degC"
resolution = "1min"
"""


def site_dict(site_id: str) -> dict[str, Any]:
    """The test site as a mapping."""
    import tomllib

    return tomllib.loads(SITE_TOML.format(site_id=site_id))


class MemoryStore:
    """An in-memory store honouring the write semantics of the store contract.

    Used where the behaviour under test is the collector's, not the store's:
    idempotent writes, conflicts quarantined, one atomic batch per call.
    """

    url = "memory://"

    def __init__(self) -> None:
        self.rows: dict[tuple[str, pd.Timestamp], tuple[float, int]] = {}
        self.quarantine: list[dict[str, Any]] = []
        self.calls = 0
        self.lock = threading.Lock()

    def write_readings(
        self,
        readings: pd.DataFrame,
        *,
        quarantine: pd.DataFrame | None = None,
        on_conflict: Literal["quarantine", "replace"] = "quarantine",
        source: str = "",
    ) -> WriteReport:
        with self.lock:
            self.calls += 1
            staged = dict(self.rows)
            q = [] if quarantine is None else quarantine.to_dict("records")
            inserted = unchanged = 0
            for m, ts, v, qual in readings.itertuples(index=False, name=None):
                key = (str(m), pd.Timestamp(ts))
                if key not in staged:
                    staged[key] = (float(v), int(qual))
                    inserted += 1
                elif staged[key][0] == float(v):
                    unchanged += 1
                else:
                    q.append(
                        dict(
                            zip(
                                QUARANTINE_COLUMNS,
                                (source, None, m, ts, "value", str(v), "conflict"),
                                strict=True,
                            )
                        )
                    )
            self.rows = staged
            self.quarantine.extend(q)
            return WriteReport(inserted=inserted, unchanged=unchanged, quarantined=len(q))

    def count_readings(self, meter_id: str | None = None) -> int:
        return sum(1 for m, _ in self.rows if meter_id is None or m == meter_id)

    def close(self) -> None:
        pass


class FlakyStore:
    """Wrap a store so that its first ``failures`` writes fail.

    ``after_commit=True`` fails *after* the inner write committed: the
    collector sees an error for a batch that is in fact stored (a connection
    lost before the commit's answer), the hardest case for "never doubled".
    """

    def __init__(self, inner: Any, failures: int, *, after_commit: bool = False) -> None:
        self.inner = inner
        self.url = getattr(inner, "url", "flaky://")
        self.failures = failures
        self.after_commit = after_commit
        self.failed = 0

    def write_readings(self, readings: pd.DataFrame, **kwargs: Any) -> WriteReport:
        if self.failed < self.failures:
            self.failed += 1
            if self.after_commit:
                self.inner.write_readings(readings, **kwargs)
            raise StoreError("simulated store outage")
        return self.inner.write_readings(readings, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
