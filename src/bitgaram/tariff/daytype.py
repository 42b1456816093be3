"""Local time and day types (weekday, Saturday, Sunday or public holiday) of timestamps.

Tariff periods depend on the *local* clock and on the day type. Timestamps label the start of
each interval; timezone-aware timestamps are converted to the tariff's timezone, naive ones are
taken as already local. Public holidays come from the ``holidays`` package (for Korea: lunar
holidays, substitute holidays and election days included).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bitgaram.errors import ConfigError, DataError

#: Codes returned by :func:`day_types`.
WEEKDAY, SATURDAY, HOLIDAY = 0, 1, 2


def to_local_index(timestamps: object, timezone: str | None) -> pd.DatetimeIndex:
    """Timestamps as a naive local :class:`pandas.DatetimeIndex`.

    Parameters
    ----------
    timestamps : array-like of datetime
        Interval-start timestamps, naive (taken as local time) or timezone-aware.
    timezone : str or None
        IANA timezone of the tariff (e.g. ``"Asia/Seoul"``); ``None`` keeps aware timestamps'
        own wall clock.

    Returns
    -------
    pandas.DatetimeIndex
        Naive local timestamps.
    """
    try:
        index = pd.DatetimeIndex(timestamps)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise DataError(f"cannot read timestamps: {exc}") from exc
    if index.hasnans:
        raise DataError(f"{int(np.sum(index.isna()))} timestamps are missing (NaT)")
    if index.tz is not None:
        if timezone is not None:
            index = index.tz_convert(timezone)
        index = index.tz_localize(None)
    return index


@lru_cache(maxsize=64)
def _holiday_days(country: str, year: int) -> frozenset[np.datetime64]:
    import holidays

    try:
        calendar = holidays.country_holidays(country, years=year)
    except NotImplementedError as exc:
        raise ConfigError(
            f"holiday_country {country!r} is not known to the holidays package"
        ) from exc
    return frozenset(np.datetime64(d, "D") for d in calendar)


def holiday_mask(index: pd.DatetimeIndex, country: str | None) -> NDArray[np.bool_]:
    """Whether each local timestamp falls on a public holiday of ``country`` (None: never)."""
    if country is None or len(index) == 0:
        return np.zeros(len(index), dtype=bool)
    days = index.to_numpy().astype("datetime64[D]")
    years = np.unique(days.astype("datetime64[Y]").astype(np.int64) + 1970)
    hol: set[np.datetime64] = set()
    for y in years:
        hol |= _holiday_days(country, int(y))
    if not hol:
        return np.zeros(len(index), dtype=bool)
    sorted_days = np.array(sorted(hol), dtype="datetime64[D]")
    # Sorted lookup: much faster than np.isin for long series and a few dozen holidays.
    pos = np.searchsorted(sorted_days, days).clip(0, len(sorted_days) - 1)
    return np.asarray(sorted_days[pos] == days)


def day_types(index: pd.DatetimeIndex, country: str | None) -> NDArray[np.int8]:
    """Day type of each local timestamp: 0 weekday, 1 Saturday, 2 Sunday or public holiday.

    A public holiday on a Saturday counts as a holiday.

    Examples
    --------
    >>> import pandas as pd
    >>> day_types(pd.DatetimeIndex(["2026-02-13", "2026-02-14", "2026-02-15", "2026-02-17"]), "KR")
    array([0, 1, 2, 2], dtype=int8)
    """
    days = index.to_numpy().astype("datetime64[D]").astype(np.int64)
    dow = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    out = np.full(len(index), WEEKDAY, dtype=np.int8)
    out[dow == 5] = SATURDAY
    out[dow == 6] = HOLIDAY
    out[holiday_mask(index, country)] = HOLIDAY
    return out
