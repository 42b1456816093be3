"""Store queries shared by the park and tenant views: power series, forecasts, latest data.

Energy per interval [kWh] becomes average power [kW] by dividing by the
interval length [h]. Sign conventions follow the meters: ``pv`` is generation
(positive), ``battery`` is positive when charging (it adds to the load seen by
the grid), ``grid_net`` is import minus export.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar, cast

import numpy as np
import pandas as pd

from bitgaram.api.errors import InsufficientDataError
from bitgaram.api.period import Period, latest_day_end
from bitgaram.api.schemas.series import ChartPublic, SeriesPublic
from bitgaram.site.model import Meter, MeterKind, Unit
from bitgaram.store.base import Store

T = TypeVar("T")


class ViewCache:
    """Remembers computed views (and where data ends) for a few seconds.

    Dashboards ask for the same park overview, tenant summary and benchmark on
    every view, while data arrives at most every few minutes; a short memory
    turns repeated views into dictionary look-ups. Keys always carry what the
    view depends on (the tenant id for tenant views), and views are looked up
    only after the caller's scope has been checked.

    Parameters
    ----------
    seconds : float
        How long an answer is reused [s]; 0 disables the cache.
    max_entries : int
        Entries kept before the oldest are dropped.
    """

    def __init__(self, seconds: float = 10.0, max_entries: int = 1024) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._memo: dict[tuple[object, ...], tuple[object, float]] = {}

    def get_or_compute(self, key: tuple[object, ...], compute: Callable[[], T]) -> T:
        """The cached value of ``key``, or ``compute()`` (then cached)."""
        now = time.monotonic()
        with self._lock:
            hit = self._memo.get(key)
        if hit is not None and hit[1] > now:
            return cast(T, hit[0])
        value = compute()
        if self.seconds > 0:
            with self._lock:
                if len(self._memo) >= self.max_entries:
                    for old in sorted(self._memo, key=lambda k: self._memo[k][1])[
                        : self.max_entries // 4
                    ]:
                        del self._memo[old]
                self._memo[key] = (value, now + self.seconds)
        return value

    def get(self, store: Store, meters: Sequence[Meter]) -> pd.Timestamp:
        """:func:`latest_end` of ``meters``, reused while fresh."""
        key = ("latest_end", *sorted(m.id for m in meters))
        return self.get_or_compute(key, lambda: latest_end(store, meters))


def latest_end(store: Store, meters: Sequence[Meter]) -> pd.Timestamp:
    """End of the newest stored interval of any of ``meters`` (UTC).

    Raises
    ------
    InsufficientDataError
        If none of the meters has data.
    """
    ids = [m.id for m in meters]
    day_end = latest_day_end(store, ids)
    last = store.read_readings(ids, start=day_end - pd.Timedelta(days=1), end=day_end)
    if last.empty:
        raise InsufficientDataError("no readings stored yet for these meters")
    native = min(pd.Timedelta(m.resolution) for m in meters)
    return pd.Timestamp(last["ts"].max()).tz_convert("UTC") + native


def native_step(meters: Sequence[Meter], finest: str) -> str:
    """The interval to show ``meters`` at: ``finest``, or their coarsest native resolution.

    Hourly meters shown at 15 minutes would leave three empty quarter-hours per
    hour and a 4x power, so views never go finer than the data.
    """
    step = max([pd.Timedelta(finest), *(pd.Timedelta(m.resolution) for m in meters)])
    return f"{int(step.total_seconds() // 60)}min"


def axis(period: Period, step: str) -> pd.DatetimeIndex:
    """Interval starts covering ``period`` at ``step``."""
    return pd.date_range(period.start, period.end, freq=step, inclusive="left")


def energy_meters(meters: Sequence[Meter], kind: MeterKind) -> list[Meter]:
    """Energy meters (kWh) of one kind."""
    return [m for m in meters if m.kind is kind and m.unit is Unit.KWH]


def power_kw(
    store: Store, meters: Sequence[Meter], period: Period, step: str, index: pd.DatetimeIndex
) -> np.ndarray | None:
    """Summed average power [kW] of energy meters on ``index``; None without meters.

    Intervals without any reading are NaN.
    """
    if not meters:
        return None
    frame = store.read_readings(
        [m.id for m in meters], start=period.start, end=period.end, resolution=step
    )
    if frame.empty:
        return np.full(len(index), np.nan)
    hours = pd.Timedelta(step).total_seconds() / 3600.0
    total = frame.groupby("ts")["value"].sum(min_count=1)
    total.index = pd.DatetimeIndex(total.index).tz_convert("UTC")
    return total.reindex(index).to_numpy(dtype=float) / hours


def mean_value(
    store: Store, meters: Sequence[Meter], period: Period, step: str, index: pd.DatetimeIndex
) -> np.ndarray | None:
    """Mean over meters of a non-energy quantity (e.g. state of charge [%]); None without meters."""
    if not meters:
        return None
    frame = store.read_readings(
        [m.id for m in meters], start=period.start, end=period.end, resolution=step
    )
    if frame.empty:
        return np.full(len(index), np.nan)
    mean = frame.groupby("ts")["value"].mean()
    mean.index = pd.DatetimeIndex(mean.index).tz_convert("UTC")
    return mean.reindex(index).to_numpy(dtype=float)


def forecast_kw(
    store: Store, meters: Sequence[Meter], period: Period, step: str, index: pd.DatetimeIndex
) -> np.ndarray | None:
    """Latest median (or point) forecast of energy meters as average power [kW] on ``index``.

    None unless every one of ``meters`` has a forecast in the period.
    """
    if not meters:
        return None
    fc = store.read_forecasts([m.id for m in meters], start=period.start, end=period.end)
    if fc.empty or set(fc["meter_id"]) != {m.id for m in meters}:
        # a sum over some of the meters would look like a forecast of all of them
        return None
    q = pd.to_numeric(fc["quantile"], errors="coerce")
    if (q == 0.5).any():
        fc = fc[q == 0.5]
    elif q.isna().any():
        fc = fc[q.isna()]
    else:
        return None
    ts = pd.DatetimeIndex(fc["ts"]).tz_convert("UTC").floor(step)
    total = fc.groupby(ts)["value"].sum(min_count=1)
    hours = pd.Timedelta(step).total_seconds() / 3600.0
    return total.reindex(index).to_numpy(dtype=float) / hours


def chart(
    index: pd.DatetimeIndex, series: Sequence[tuple[str, str, np.ndarray | None]]
) -> ChartPublic:
    """A chart from named arrays on ``index`` (absent arrays are left out; NaN becomes None)."""
    out = []
    for name, unit, values in series:
        if values is None:
            continue
        rounded = np.round(values.astype(float), 4)
        out.append(
            SeriesPublic(
                name=name,
                unit=unit,
                values=[None if not np.isfinite(v) else float(v) for v in rounded],
            )
        )
    return ChartPublic(ts=[t.to_pydatetime() for t in index], series=out)


def last_finite(values: np.ndarray | None) -> float | None:
    """The newest finite value of a series, if any."""
    if values is None:
        return None
    finite = np.flatnonzero(np.isfinite(values))
    return float(values[finite[-1]]) if finite.size else None


_FLOW_KINDS = (
    MeterKind.LOAD,
    MeterKind.PV,
    MeterKind.BATTERY,
    MeterKind.GRID_NET,
    MeterKind.GRID_IMPORT,
    MeterKind.GRID_EXPORT,
)


def flows_kw(
    store: Store, meters: Sequence[Meter], period: Period, step: str, index: pd.DatetimeIndex
) -> dict[MeterKind, np.ndarray]:
    """Summed average power [kW] per flow kind (load, pv, battery, grid) in one store query.

    Only kinds that have energy meters appear; intervals without data are NaN.
    """
    flow = [m for m in meters if m.unit is Unit.KWH and m.kind in _FLOW_KINDS]
    if not flow:
        return {}
    frame = store.read_readings(
        [m.id for m in flow], start=period.start, end=period.end, resolution=step
    )
    kind_of = {m.id: m.kind.value for m in flow}
    hours = pd.Timedelta(step).total_seconds() / 3600.0
    out: dict[MeterKind, np.ndarray] = {}
    frame = frame.assign(kind=frame["meter_id"].map(kind_of))
    for kind in {m.kind for m in flow}:
        part = frame[frame["kind"] == kind.value]
        total = part.groupby("ts")["value"].sum(min_count=1)
        total.index = pd.DatetimeIndex(total.index).tz_convert("UTC")
        out[kind] = total.reindex(index).to_numpy(dtype=float) / hours
    return out


def net_kw(
    store: Store, meters: Sequence[Meter], period: Period, step: str, index: pd.DatetimeIndex
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Load, PV, battery and net grid power [kW] of a set of meters.

    Net power comes from ``grid_net`` meters, else ``grid_import - grid_export``,
    else ``load - pv + battery``.
    """
    flows = flows_kw(store, meters, period, step, index)
    load = flows.get(MeterKind.LOAD)
    pv = flows.get(MeterKind.PV)
    battery = flows.get(MeterKind.BATTERY)
    net = flows.get(MeterKind.GRID_NET)
    if net is None:
        imp = flows.get(MeterKind.GRID_IMPORT)
        exp = flows.get(MeterKind.GRID_EXPORT)
        if imp is not None:
            net = imp - (np.nan_to_num(exp) if exp is not None else 0.0)
        elif load is not None:
            net = load.copy()
            if pv is not None:
                net = net - np.nan_to_num(pv)
            if battery is not None:
                net = net + np.nan_to_num(battery)
    return load, pv, battery, net


def require_data(values: Sequence[np.ndarray | None]) -> None:
    """Raise InsufficientDataError when every series is absent or empty."""
    if all(v is None or not np.isfinite(v).any() for v in values):
        raise InsufficientDataError("no readings in this period")
