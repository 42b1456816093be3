"""Query periods: UTC conversion and defaults anchored at the newest stored data.

Stored data may be historical (a demo year), so "the last week" means the
last week *of data*, found from a daily aggregate, not of the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from bitgaram.api.errors import InsufficientDataError
from bitgaram.errors import DataError
from bitgaram.store.base import Resolution, Store

#: Longest period one request may ask for [days]; keeps every query bounded.
MAX_PERIOD_DAYS = 400

#: Query timestamps must fall in these years (keeps period arithmetic far from overflow).
MIN_YEAR, MAX_YEAR = 1900, 2200


@dataclass(frozen=True)
class Period:
    """A half-open UTC interval ``[start, end)``."""

    start: pd.Timestamp
    end: pd.Timestamp


def to_utc(value: datetime | None) -> pd.Timestamp | None:
    """A query timestamp as tz-aware UTC (naive values are taken as UTC)."""
    if value is None:
        return None
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise DataError(
            f"timestamp {value.isoformat()} is out of range (years {MIN_YEAR} to {MAX_YEAR})"
        )
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def latest_day_end(store: Store, meter_ids: list[str]) -> pd.Timestamp:
    """End of the last UTC day holding data of any of ``meter_ids``.

    Raises
    ------
    InsufficientDataError
        If none of the meters has any reading.
    """
    if not meter_ids:
        raise InsufficientDataError("no meters to read")
    newest = store.latest_ts(meter_ids)  # one look-up per meter
    if newest is None:
        raise InsufficientDataError("no readings stored yet for these meters")
    return newest.floor("D") + pd.Timedelta(days=1)


def resolve_period(
    store: Store,
    meter_ids: list[str],
    start: datetime | None,
    end: datetime | None,
    default_days: float,
) -> Period:
    """The period to query: as given, or the last ``default_days`` of data.

    Raises
    ------
    DataError
        If ``start`` is not before ``end`` or the period is longer than
        :data:`MAX_PERIOD_DAYS`.
    """
    s, e = to_utc(start), to_utc(end)
    span = pd.Timedelta(days=default_days)
    if e is None:
        e = s + span if s is not None else latest_day_end(store, meter_ids)
    if s is None:
        s = e - span
    if s >= e:
        raise DataError(f"start {s.isoformat()} must be before end {e.isoformat()}")
    if e - s > pd.Timedelta(days=MAX_PERIOD_DAYS):
        raise DataError(f"period longer than {MAX_PERIOD_DAYS} days: ask for less")
    return Period(s, e)


def interval_hours(resolution: Resolution, native: str = "15min") -> float:
    """Length of one interval [h] (``raw`` uses the meter's native resolution)."""
    step = native if resolution is Resolution.RAW else resolution.value
    return pd.Timedelta(step).total_seconds() / 3600.0
