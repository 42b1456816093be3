"""Retention: downsample old raw readings into 15-minute or hourly aggregates.

Raw readings older than a cut-off are replaced, month by month, by one row per
meter and interval (:meth:`~bitgaram.store.base.Store.compact_readings`): kWh
summed, other units averaged, quality the worst of the interval. Each month is
one transaction, so an interrupted run leaves every month either raw or
compacted, and running again finishes the job (compacting is idempotent).

Dashboard totals at or above the aggregate resolution are unchanged by
downsampling (sums of sums, means of equal-count means); only finer views of
the old period lose detail. A typical policy: raw for 90 days, 15-minute for
a year, hourly after that::

    bitgaram store downsample --older-than 90d --to 15min
    bitgaram store downsample --older-than 365d --to 1h
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pandas as pd

from bitgaram.errors import DataError
from bitgaram.store.base import Resolution, Store

#: How far back a downsampling run looks when no start is given [days].
DEFAULT_LOOKBACK_DAYS = 3660


@dataclass(frozen=True)
class DownsampleReport:
    """Outcome of a downsampling run.

    Attributes
    ----------
    cutoff : pandas.Timestamp
        Readings before this UTC time were compacted.
    resolution : str
        Interval of the aggregates.
    months : int
        Months examined.
    removed, written : int
        Raw rows removed and aggregate rows written.
    """

    cutoff: pd.Timestamp
    resolution: str
    months: int
    removed: int
    written: int


def retention_cutoff(now: pd.Timestamp, older_than: pd.Timedelta) -> pd.Timestamp:
    """``now - older_than`` floored to a UTC midnight (so every interval is whole).

    Examples
    --------
    >>> retention_cutoff(pd.Timestamp("2025-06-10 13:00", tz="UTC"), pd.Timedelta("90D"))
    Timestamp('2025-03-12 00:00:00+0000', tz='UTC')
    """
    if now.tzinfo is None:
        raise DataError(f"now={now} is naive; give a tz-aware timestamp")
    if older_than < pd.Timedelta(0):
        raise DataError(f"older_than must not be negative, got {older_than}")
    return (now.tz_convert("UTC") - older_than).floor("D")


def downsample(
    store: Store,
    cutoff: pd.Timestamp,
    resolution: Resolution | str = Resolution.MIN15,
    since: pd.Timestamp | None = None,
) -> DownsampleReport:
    """Compact every reading before ``cutoff`` into ``resolution`` intervals, month by month.

    Parameters
    ----------
    store : Store
        Any backend.
    cutoff : pandas.Timestamp
        Tz-aware; floored to a UTC midnight.
    resolution : Resolution or str
        ``15min``, ``1h`` or ``1D``.
    since : pandas.Timestamp, optional
        Oldest time to look at (default: :data:`DEFAULT_LOOKBACK_DAYS` before the cutoff).

    Returns
    -------
    DownsampleReport

    Raises
    ------
    DataError
        If a timestamp is naive or the resolution is raw.
    """
    res = Resolution(resolution)
    if res is Resolution.RAW:
        raise DataError("downsample needs an aggregate resolution (15min, 1h, 1D)")
    if cutoff.tzinfo is None:
        raise DataError(f"cutoff={cutoff} is naive; give a tz-aware timestamp")
    end = cutoff.tz_convert("UTC").floor("D")
    first = end - pd.Timedelta(days=DEFAULT_LOOKBACK_DAYS) if since is None else since
    if first.tzinfo is None:
        raise DataError(f"since={first} is naive; give a tz-aware timestamp")
    first = first.tz_convert("UTC").floor("D")
    # Month boundaries (UTC) between first and end: the PostgreSQL partitions.
    bounds = [first]
    month = first.tz_localize(None).to_period("M")
    while True:
        month += 1
        nxt = month.to_timestamp().tz_localize("UTC")
        if nxt >= end:
            break
        bounds.append(nxt)
    bounds.append(end)
    removed = written = 0
    months = 0
    for lo, hi in itertools.pairwise(bounds):
        if hi <= lo:
            continue
        r, w = store.compact_readings(lo, hi, res)
        removed += r
        written += w
        months += 1
    return DownsampleReport(end, res.value, months, removed, written)
