"""Instants as integers: nanoseconds since the Unix epoch (UTC), for the per-reading paths.

The peak watch and the live loop see every meter reading; building a pandas Timestamp per
reading (and flooring it to its window) costs more than the rest of their work. They keep
instants as Python ``int`` nanoseconds instead (no overflow: a Python int has no bound, so the
year 9999 a payload may carry stays exact) and make a Timestamp only where one leaves them (an
alert, a closed window, a status).

Windows are floored in UTC, as :func:`bitgaram.peak.window.window_start` does: every time zone in
use has an offset that is a multiple of 15 minutes, so a UTC-aligned window is the local meter's
window too, on DST days as well.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

#: Nanoseconds per second.
NS = 1_000_000_000

_PER_UNIT = {"s": NS, "ms": 1_000_000, "us": 1_000, "ns": 1}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_ns(ts: pd.Timestamp | dt.datetime | str) -> int:
    """Nanoseconds since the epoch of an instant (a naive one is taken as UTC).

    Exact for any Timestamp unit, including instants beyond the nanosecond Timestamp range.

    Examples
    --------
    >>> to_ns(pd.Timestamp("2026-08-03 14:07:30", tz="Asia/Seoul"))
    1785733650000000000
    """
    t = pd.Timestamp(ts)
    return int(t.asm8.view(np.int64)) * _PER_UNIT[t.unit]


def from_ns(ns: int) -> pd.Timestamp:
    """The UTC Timestamp of ``ns`` nanoseconds since the epoch.

    In microseconds when that is exact (the unit pandas gives parsed and epoch instants), so
    the year 9999 fits; in nanoseconds otherwise.

    Examples
    --------
    >>> from_ns(1785733650000000000)
    Timestamp('2026-08-03 05:07:30+0000', tz='UTC')
    """
    if ns % 1_000 == 0:
        return pd.Timestamp(ns // 1_000, unit="us", tz="UTC")
    return pd.Timestamp(ns, unit="ns", tz="UTC")


def floor_ns(ns: int, step_ns: int) -> int:
    """``ns`` floored to a multiple of ``step_ns`` (UTC-aligned window start) [ns].

    Examples
    --------
    >>> floor_ns(to_ns("2026-08-03 14:07:30+00:00"), 900 * NS) == to_ns("2026-08-03 14:00Z")
    True
    """
    return ns - ns % step_ns


def month_key(ns: int, zone: str) -> int:
    """``12 * year + month - 1`` of the local calendar month holding an instant.

    Parameters
    ----------
    ns : int
        The instant [ns since the epoch, UTC].
    zone : str
        IANA time zone (the site's).

    Examples
    --------
    >>> k = month_key(to_ns("2026-08-31 15:00Z"), "Asia/Seoul")  # 1 September, 00:00 local
    >>> k // 12, k % 12 + 1
    (2026, 9)
    """
    try:
        local = _EPOCH + dt.timedelta(microseconds=ns // 1_000)
        local = local.astimezone(_zone(zone))
    except (OverflowError, ValueError):  # beyond what datetime holds: pandas does it
        local = from_ns(ns).tz_convert(zone)
    return local.year * 12 + local.month - 1


_ZONES: dict[str, dt.tzinfo] = {}


def _zone(name: str) -> dt.tzinfo:
    zone = _ZONES.get(name)
    if zone is None:
        # the same tz database pandas uses for a zone name
        tz = pd.Timestamp(0, tz=name).tzinfo
        assert tz is not None
        zone = _ZONES[name] = tz
    return zone
