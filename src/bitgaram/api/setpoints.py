"""Reading the control loop's setpoint journal for the API (read-only).

The control loop keeps every setpoint it publishes in the store's
``control_setpoints`` table (:class:`bitgaram.control.journal.StoreJournal`,
which owns and creates the table). This module only reads it, filtered by
site, assets and validity period, paginated in SQL. A store without the table
(no control loop has run yet) has no setpoints.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from bitgaram.store.base import Store
from bitgaram.store.duckdb_store import DuckDBStore
from bitgaram.store.sql import SqlStore

#: Columns returned, in order.
SETPOINT_COLUMNS = (
    "issued_at",
    "asset",
    "kind",
    "power_kw",
    "valid_from",
    "valid_until",
    "mode",
    "reason",
)


@dataclass(frozen=True)
class SetpointRow:
    """One journaled setpoint (timestamps UTC, power [kW], + charge / consume)."""

    issued_at: datetime
    asset: str
    kind: str
    power_kw: float
    valid_from: datetime
    valid_until: datetime
    mode: str
    reason: str | None


def _utc(value: Any) -> datetime:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


#: Stores known to hold the journal table (it is never dropped once created).
_WITH_JOURNAL: weakref.WeakSet[SqlStore] = weakref.WeakSet()


@contextmanager
def _connection(store: SqlStore) -> Iterator[SqlStore]:
    """A connection to read on: a pooled DuckDB reader (no write lock), else the store's own."""
    if isinstance(store, DuckDBStore):
        with store._reading() as reader:
            yield reader
    else:
        with store._lock:
            yield store


def _has_journal(store: SqlStore, con: SqlStore) -> bool:
    if store in _WITH_JOURNAL:
        return True
    rows = con._fetch(
        "SELECT count(*) FROM information_schema.tables"
        " WHERE table_name = 'control_setpoints' AND table_schema = current_schema()"
    )
    if rows and rows[0][0]:
        _WITH_JOURNAL.add(store)
        return True
    return False


def latest_setpoint_end(store: Store, site_id: str, asset: str) -> pd.Timestamp | None:
    """The latest ``valid_until`` journaled for ``asset`` (UTC), or None without setpoints."""
    if not isinstance(store, SqlStore):
        return None
    p = store._param
    with _connection(store) as con:
        if not _has_journal(store, con):
            return None
        rows = con._fetch(
            f"SELECT max(valid_until) FROM control_setpoints WHERE site_id = {p} AND asset = {p}",
            (site_id, asset),
        )
    if not rows or rows[0][0] is None:
        return None
    return pd.Timestamp(_utc(rows[0][0]))


def read_setpoints(
    store: Store,
    site_id: str,
    asset: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    limit: int,
    offset: int,
    schedule: bool = False,
) -> tuple[list[SetpointRow], int]:
    """Setpoints of one asset valid at some time in ``[start, end)``, oldest first.

    Parameters
    ----------
    store : Store
        A SQL store (other stores have no journal: nothing is returned).
    site_id, asset : str
        Whose setpoints.
    start, end : pandas.Timestamp
        Period (UTC); a setpoint is included when its validity overlaps it.
    limit, offset : int
        The page.
    schedule : bool
        Only the last setpoint issued for each ``valid_from`` (the schedule
        as executed), instead of every setpoint issued.

    Returns
    -------
    tuple
        The page's rows and the number of rows in the whole period.
    """
    if not isinstance(store, SqlStore):
        return [], 0
    p = store._param
    cols = ", ".join(SETPOINT_COLUMNS)
    where = f"site_id = {p} AND asset = {p} AND valid_until > {p} AND valid_from < {p}"
    params: list[Any] = [site_id, asset, _utc(start), _utc(end)]
    if schedule:
        source = (
            f"(SELECT {cols}, row_number() OVER (PARTITION BY valid_from"
            " ORDER BY issued_at DESC) AS rn"
            f" FROM control_setpoints WHERE {where}) AS s WHERE rn = 1"
        )
    else:
        source = f"control_setpoints WHERE {where}"
    with _connection(store) as con:
        if not _has_journal(store, con):
            return [], 0
        # the total rides along with the page; a page past the end needs its own count
        rows = con._fetch(
            f"SELECT {cols}, count(*) OVER () FROM {source} ORDER BY valid_from, issued_at"
            f" LIMIT {int(limit)} OFFSET {int(offset)}",
            params,
        )
        if rows:
            total = int(rows[0][-1])
        else:
            total = int(con._fetch(f"SELECT count(*) FROM {source}", params)[0][0])
    out = [
        SetpointRow(
            issued_at=_utc(r[0]),
            asset=str(r[1]),
            kind=str(r[2]),
            power_kw=float(r[3]),
            valid_from=_utc(r[4]),
            valid_until=_utc(r[5]),
            mode=str(r[6]),
            reason=None if r[7] is None else str(r[7]),
        )
        for r in rows
    ]
    return out, total
