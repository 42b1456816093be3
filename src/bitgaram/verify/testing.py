"""Known changes to inject into meter data, to check that verification recovers them.

Used by the tests and by ``bench/verify_injected.py``: a step change (a retrofit
that saves a fixed fraction from a date on) and a block of excess use (an
anomaly), each returning the modified series and the truth to compare with.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bitgaram.errors import DataError


@dataclass(frozen=True)
class Injected:
    """A modified meter series and what was done to it.

    Attributes
    ----------
    energy_kwh : pandas.Series
        The modified series [kWh per interval].
    saved_kwh : float
        Energy removed by the step change [kWh].
    excess_kwh : float
        Energy added by the anomaly [kWh].
    anomaly_start, anomaly_end : pandas.Timestamp or None
        Time range of the anomaly (end exclusive).
    saved_series : pandas.Series or None
        Energy removed per interval by the step [kWh].
    """

    energy_kwh: pd.Series
    saved_kwh: float = 0.0
    excess_kwh: float = 0.0
    anomaly_start: pd.Timestamp | None = None
    anomaly_end: pd.Timestamp | None = None
    saved_series: pd.Series | None = None

    def true_avoided_kwh(self, start: pd.Timestamp, end: pd.Timestamp) -> float:
        """Avoided energy a perfect baseline would report over ``[start, end)`` [kWh]."""
        return self.saved_between(start, end) - self.excess_between(start, end)

    def saved_between(self, start: pd.Timestamp, end: pd.Timestamp) -> float:
        """Energy removed by the step within ``[start, end)`` [kWh]."""
        if self.saved_series is None:
            return 0.0
        idx = pd.DatetimeIndex(self.saved_series.index)
        return float(self.saved_series[(idx >= start) & (idx < end)].sum())

    def excess_between(self, start: pd.Timestamp, end: pd.Timestamp) -> float:
        """Energy added by the anomaly within ``[start, end)`` [kWh]."""
        if self.anomaly_start is None or self.anomaly_end is None:
            return 0.0
        inside = self.anomaly_start >= start and self.anomaly_end <= end
        return self.excess_kwh if inside else 0.0


def inject_step(energy_kwh: pd.Series, start: str | pd.Timestamp, fraction: float) -> Injected:
    """Reduce use by ``fraction`` from ``start`` on (e.g. 0.10 for a -10 % step).

    Parameters
    ----------
    energy_kwh : pandas.Series
        Meter series [kWh per interval], DatetimeIndex.
    start : str or pandas.Timestamp
        First interval affected.
    fraction : float
        Share of use removed, in [0, 1).

    Returns
    -------
    Injected
    """
    if not 0 <= fraction < 1:
        raise DataError(f"step fraction must be in [0, 1), got {fraction}")
    t0 = pd.Timestamp(start)
    after = pd.DatetimeIndex(energy_kwh.index) >= t0
    saved = energy_kwh.where(after, 0.0) * fraction
    return Injected(energy_kwh - saved, saved_kwh=float(saved.sum()), saved_series=saved)


def inject_excess(
    injected: Injected, start: str | pd.Timestamp, hours: int, kwh_per_hour: float
) -> Injected:
    """Add ``kwh_per_hour`` for ``hours`` hourly intervals from ``start`` (an anomaly).

    Parameters
    ----------
    injected : Injected
        Series to modify (e.g. the output of :func:`inject_step`).
    start : str or pandas.Timestamp
        First hour of the anomaly.
    hours : int
        Duration [h].
    kwh_per_hour : float
        Extra use per hour [kWh].

    Returns
    -------
    Injected
    """
    t0 = pd.Timestamp(start)
    t1 = t0 + pd.Timedelta(hours=hours)
    idx = pd.DatetimeIndex(injected.energy_kwh.index)
    mask = (idx >= t0) & (idx < t1)
    if mask.sum() != hours:
        raise DataError(f"anomaly {t0}..{t1} is not fully inside the series")
    out = injected.energy_kwh.copy()
    out[mask] += kwh_per_hour
    return Injected(out, injected.saved_kwh, kwh_per_hour * hours, t0, t1, injected.saved_series)
