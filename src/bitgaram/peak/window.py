"""Clock-aligned demand windows and the projected end-of-window average.

KEPCO meters the demand as the average power over each 15-minute interval aligned to the clock
(:mod:`bitgaram.tariff.demand`). While a window is running, what is known is the energy of the
readings received so far and the time they cover; the rest of the window is projected at the
**current rate** (persistence of the last reading's average power), or at a short-term forecast
when one is given::

    projected_kw = (energy_so_far_kwh + rate_kw * uncovered_h) / window_h

Persistence is the right default for a few minutes ahead: within a quarter hour, industrial load
is dominated by what is running now, and it reacts at once to a step up (the case that matters
for a peak). Windows are aligned in UTC; every time zone in use has an offset that is a multiple
of 15 minutes, so they are the local meter's windows too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import pandas as pd

from bitgaram.errors import DataError


def window_start(ts: pd.Timestamp, minutes: int = 15) -> pd.Timestamp:
    """Start of the clock-aligned demand window holding ``ts``.

    Examples
    --------
    >>> window_start(pd.Timestamp("2026-08-03 14:07:30", tz="UTC"))
    Timestamp('2026-08-03 14:00:00+0000', tz='UTC')
    """
    return pd.Timestamp(ts).floor(f"{minutes}min")


@dataclass(frozen=True)
class MeterWindow:
    """What one meter has reported within one window.

    Attributes
    ----------
    start : pandas.Timestamp
        Window start (UTC).
    energy_kwh : float
        Energy of the readings received so far [kWh].
    covered_s : float
        Time those readings cover [s].
    rate_kw : float
        Average power of the latest reading [kW] (carried over from the previous window until
        the first reading of this one arrives).
    last_end : pandas.Timestamp or None
        End of the latest reading (None before the first).
    """

    start: pd.Timestamp
    energy_kwh: float = 0.0
    covered_s: float = 0.0
    rate_kw: float = 0.0
    last_end: pd.Timestamp | None = None


def add_reading(
    window: MeterWindow, ts: pd.Timestamp, duration_s: float, energy_kwh: float
) -> MeterWindow:
    """The window with one more reading (interval start ``ts``, ``duration_s`` long).

    Raises
    ------
    DataError
        If the reading does not start inside the window or its duration is not positive.
    """
    if duration_s <= 0:
        raise DataError(f"reading at {ts}: duration must be > 0 s")
    rel = (pd.Timestamp(ts) - window.start).total_seconds()
    if rel < 0:
        raise DataError(f"reading at {ts} starts before its window {window.start}")
    end = pd.Timestamp(ts) + pd.Timedelta(seconds=duration_s)
    last = end if window.last_end is None else max(end, window.last_end)
    return replace(
        window,
        energy_kwh=window.energy_kwh + energy_kwh,
        covered_s=window.covered_s + duration_s,
        rate_kw=energy_kwh / (duration_s / 3600.0),
        last_end=last,
    )


@dataclass(frozen=True)
class WindowProjection:
    """The running window of one metering point.

    Attributes
    ----------
    start : pandas.Timestamp
        Window start (UTC).
    window_s : float
        Window length [s].
    energy_kwh : float
        Energy measured so far in the window [kWh].
    covered_s : float
        Time covered by readings, weighted over the point's meters [s].
    rate_kw : float
        Current rate used for the rest of the window [kW].
    projected_kw : float
        Projected average power of the whole window [kW].
    """

    start: pd.Timestamp
    window_s: float
    energy_kwh: float
    covered_s: float
    rate_kw: float
    projected_kw: float

    @property
    def end(self) -> pd.Timestamp:
        """Window end (exclusive)."""
        return self.start + pd.Timedelta(seconds=self.window_s)


def project_window(
    meters: Sequence[tuple[float, MeterWindow]],
    window_s: float,
    forecast_kw: float | None = None,
) -> WindowProjection:
    """Project the end-of-window average of a metering point.

    Parameters
    ----------
    meters : sequence of (float, MeterWindow)
        The point's meters with their sign/weight (``-1`` for PV) and their window so far.
    window_s : float
        Window length [s].
    forecast_kw : float, optional
        Short-term forecast of the point's power for the rest of the window [kW]; replaces
        the persistence of each meter's current rate.

    Returns
    -------
    WindowProjection

    Examples
    --------
    >>> w = MeterWindow(pd.Timestamp("2026-08-03 14:00", tz="UTC"))
    >>> w = add_reading(w, w.start, 300, 100.0)  # 100 kWh in the first 5 min: 1200 kW
    >>> project_window([(1.0, w)], 900).projected_kw
    1200.0
    """
    if not meters:
        raise DataError("a metering point needs at least one meter")
    start = meters[0][1].start
    hours = window_s / 3600.0
    energy = sum(w * m.energy_kwh for w, m in meters)
    rate = sum(w * m.rate_kw for w, m in meters)
    if forecast_kw is None:
        rest = sum(w * m.rate_kw * max(window_s - m.covered_s, 0.0) / 3600.0 for w, m in meters)
    else:
        left = max(window_s - max(m.covered_s for _, m in meters), 0.0) / 3600.0
        rest = forecast_kw * left
        rate = forecast_kw
    covered = sum(abs(w) * m.covered_s for w, m in meters) / sum(abs(w) for w, _ in meters)
    return WindowProjection(start, window_s, energy, covered, rate, (energy + rest) / hours)
