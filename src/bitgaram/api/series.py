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
import pyarrow as pa
import pyarrow.compute as pc
from fastapi import Response
from pydantic import BaseModel

from bitgaram.api.errors import InsufficientDataError
from bitgaram.api.period import Period
from bitgaram.api.schemas.series import ChartPublic, SeriesPublic
from bitgaram.site.model import Meter, MeterKind, Unit
from bitgaram.store.base import Resolution, Store

T = TypeVar("T")


class ViewCache:
    """Remembers computed views (and where data ends) for a few seconds, or until a write.

    Dashboards ask for the same park overview, tenant summary and benchmark on
    every view, while data arrives at most every few minutes; a short memory
    turns repeated views into dictionary look-ups. Keys always carry what the
    view depends on (the tenant id for tenant views), and views are looked up
    only after the caller's scope has been checked.

    Parameters
    ----------
    seconds : float
        How long an answer is reused at most [s]; 0 disables the cache.
    max_entries : int
        Entries kept before the oldest are dropped.
    version : callable, optional
        Returns the data's version (e.g. the store's ``data_version``, which
        changes on every write); an answer computed under another version is
        recomputed, so views never lag behind writes made through this process.
    max_bytes : int
        Memory budget for cached response bodies (``bytes`` values) [B]; the
        oldest entries are dropped to stay within it, and a body larger than a
        quarter of it is never kept.
    """

    def __init__(
        self,
        seconds: float = 10.0,
        max_entries: int = 1024,
        version: Callable[[], object] | None = None,
        max_bytes: int = 64 * 2**20,
    ) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._version = version
        self._lock = threading.Lock()
        self._memo: dict[tuple[object, ...], tuple[object, float, object]] = {}
        self._bytes = 0

    @staticmethod
    def _size(value: object) -> int:
        return len(value) if isinstance(value, bytes) else 0

    def _drop(self, key: tuple[object, ...]) -> None:
        self._bytes -= self._size(self._memo.pop(key)[0])

    def peek(self, key: tuple[object, ...]) -> object | None:
        """The cached value of ``key`` if it is still valid, else None (never computes)."""
        version = self._version() if self._version is not None else None
        with self._lock:
            hit = self._memo.get(key)
        if hit is not None and hit[1] > time.monotonic() and hit[2] == version:
            return hit[0]
        return None

    def get_or_compute(
        self, key: tuple[object, ...], compute: Callable[[], T], until_write: bool = False
    ) -> T:
        """The cached value of ``key``, or ``compute()`` (then cached).

        With ``until_write``, and a ``version`` function that knows the data's
        version, the value is kept until the next write whatever ``seconds``
        says (for configuration such as the site, which only a write changes);
        without a version it follows ``seconds`` like every other entry.
        """
        now = time.monotonic()
        version = self._version() if self._version is not None else None
        with self._lock:
            hit = self._memo.get(key)
        if hit is not None and hit[1] > now and hit[2] == version:
            return cast(T, hit[0])
        value = compute()
        size = self._size(value)
        forever = until_write and version is not None
        if (self.seconds > 0 or forever) and size <= self.max_bytes // 4:
            with self._lock:
                if key in self._memo:
                    self._drop(key)
                if len(self._memo) >= self.max_entries or self._bytes + size > self.max_bytes:
                    # oldest first (dicts keep insertion order), until a quarter is free
                    for old in list(self._memo):
                        if (
                            len(self._memo) < self.max_entries * 3 // 4
                            and self._bytes + size <= self.max_bytes * 3 // 4
                        ):
                            break
                        self._drop(old)
                expiry = float("inf") if forever else now + self.seconds
                self._memo[key] = (value, expiry, version)
                self._bytes += size
        return value

    def get(self, store: Store, meters: Sequence[Meter]) -> pd.Timestamp:
        """:func:`latest_end` of ``meters``, reused while fresh."""
        key = ("latest_end", *sorted(m.id for m in meters))
        return self.get_or_compute(key, lambda: latest_end(store, meters))


def cached_json(
    views: ViewCache, key: tuple[object, ...], build: Callable[[], BaseModel | Response]
) -> Response:
    """A JSON response built once per ``key`` and reused while ``views`` keeps it.

    Caches the serialised body, so a repeated request costs neither the store
    queries nor the serialisation. Call it only after the caller's scope was
    checked, with a key naming everything the body depends on.
    """

    def body() -> bytes:
        built = build()
        if isinstance(built, Response):
            return bytes(built.body)
        return built.model_dump_json().encode("utf-8")

    return Response(views.get_or_compute(("json", *key), body), media_type="application/json")


def data_version(store: Store) -> Callable[[], object]:
    """A function returning ``store``'s write counter (``data_version``; None: unknown)."""
    return lambda: store.data_version


def latest_end(store: Store, meters: Sequence[Meter]) -> pd.Timestamp:
    """End of the newest stored interval of any of ``meters`` (UTC).

    Raises
    ------
    InsufficientDataError
        If none of the meters has data.
    """
    ids = [m.id for m in meters]
    newest = store.latest_ts(ids) if ids else None
    if newest is None:
        raise InsufficientDataError("no readings stored yet for these meters")
    native = min(pd.Timedelta(m.resolution) for m in meters)
    return newest + native


def read_table(
    store: Store, meter_ids: list[str], period: Period, step: str | Resolution
) -> pa.Table:
    """Readings of ``meter_ids`` in ``period`` at ``step`` as Arrow (meter_id, ts, value).

    The store answers with Arrow directly (no pandas frame per request).
    """
    return store.read_readings_arrow(meter_ids, start=period.start, end=period.end, resolution=step)


def epoch_us(table: pa.Table) -> np.ndarray:
    """The ``ts`` column of a readings table as int64 microseconds since the epoch (UTC)."""
    return np.asarray(
        table.column("ts").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy(),
        dtype=np.int64,
    )


def _on_axis(
    table: pa.Table,
    index: pd.DatetimeIndex,
    step: str,
    groups: np.ndarray | None = None,
    ngroups: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of ``value`` per (group, interval of ``index``).

    ``groups`` gives each row's group (``0 <= group < ngroups``; default: one
    group). Rows whose ``ts`` is not an interval start of ``index`` are ignored,
    as a reindex would. Returns ``(sums, counts)``, each ``(ngroups, len(index))``.
    """
    n = len(index)
    if n == 0 or table.num_rows == 0:
        return np.zeros((ngroups, n)), np.zeros((ngroups, n), dtype=np.int64)
    step_us = int(pd.Timedelta(step).total_seconds() * 1_000_000)
    delta = epoch_us(table) - pd.Timestamp(index[0]).value // 1000
    keep = (delta >= 0) & (delta % step_us == 0) & (delta < n * step_us)
    pos = delta[keep] // step_us
    if groups is not None:
        pos = pos + n * groups[keep]
    values = np.asarray(table.column("value").to_numpy(zero_copy_only=False), dtype=float)[keep]
    sums = np.bincount(pos, weights=values, minlength=n * ngroups).reshape(ngroups, n)
    counts = np.bincount(pos, minlength=n * ngroups).reshape(ngroups, n)
    return sums, counts


def _sum_or_nan(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    return np.where(counts > 0, sums, np.nan)


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
    table = read_table(store, [m.id for m in meters], period, step)
    hours = pd.Timedelta(step).total_seconds() / 3600.0
    sums, counts = _on_axis(table, index, step)
    return _sum_or_nan(sums[0], counts[0]) / hours


def mean_value(
    store: Store, meters: Sequence[Meter], period: Period, step: str, index: pd.DatetimeIndex
) -> np.ndarray | None:
    """Mean over meters of a non-energy quantity (e.g. state of charge [%]); None without meters."""
    if not meters:
        return None
    table = read_table(store, [m.id for m in meters], period, step)
    sums, counts = _on_axis(table, index, step)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts[0] > 0, sums[0] / np.maximum(counts[0], 1), np.nan)


def forecast_kw(
    store: Store, meters: Sequence[Meter], period: Period, step: str, index: pd.DatetimeIndex
) -> np.ndarray | None:
    """Latest median (or point) forecast of energy meters as average power [kW] on ``index``.

    None unless every one of ``meters`` has a forecast in the period.
    """
    if not meters:
        return None
    ids = [m.id for m in meters]
    table = store.read_forecasts_arrow(ids, start=period.start, end=period.end)
    if set(pc.unique(table.column("meter_id")).to_pylist()) != set(ids):
        return None  # a sum over some of the meters would look like a forecast of all of them
    q = np.asarray(table.column("quantile").to_numpy(zero_copy_only=False), dtype=float)
    if (q == 0.5).any():
        chosen = q == 0.5
    elif np.isnan(q).any():
        chosen = np.isnan(q)
    else:
        return None
    n = len(index)
    hours = pd.Timedelta(step).total_seconds() / 3600.0
    if n == 0:
        return np.empty(0)
    step_us = int(pd.Timedelta(step).total_seconds() * 1_000_000)
    values = np.asarray(table.column("value").to_numpy(zero_copy_only=False), dtype=float)[chosen]
    # interval start of each forecast (floored on the epoch, as pandas' floor), then its slot
    delta = (epoch_us(table)[chosen] // step_us) * step_us - pd.Timestamp(index[0]).value // 1000
    keep = (delta >= 0) & (delta % step_us == 0) & (delta < n * step_us) & ~np.isnan(values)
    pos = delta[keep] // step_us
    sums = np.bincount(pos, weights=values[keep], minlength=n)
    counts = np.bincount(pos, minlength=n)
    return np.where(counts > 0, sums, np.nan) / hours


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
    return flows_and_means(store, meters, [], period, step, index)[0]


def flows_and_means(
    store: Store,
    meters: Sequence[Meter],
    averaged: Sequence[Meter],
    period: Period,
    step: str,
    index: pd.DatetimeIndex,
) -> tuple[dict[MeterKind, np.ndarray], np.ndarray | None]:
    """:func:`flows_kw` of ``meters`` and :func:`mean_value` of ``averaged``, in one store query.

    Returns
    -------
    tuple
        The flows [kW] per kind, and the mean over ``averaged`` on ``index``
        (None without such meters; NaN where no meter has a reading).
    """
    flow = [m for m in meters if m.unit is Unit.KWH and m.kind in _FLOW_KINDS]
    extra = list(averaged)
    if {m.id for m in flow} & {m.id for m in extra}:  # one meter in two groups: read twice
        return flows_kw(store, meters, period, step, index), mean_value(
            store, extra, period, step, index
        )
    if not flow and not extra:
        return {}, None
    ids = [m.id for m in flow] + [m.id for m in extra]
    table = read_table(store, ids, period, step)
    kinds = sorted({m.kind for m in flow}, key=_FLOW_KINDS.index)
    group_of_meter = np.array(
        [kinds.index(m.kind) for m in flow] + [len(kinds)] * len(extra), dtype=np.int64
    )
    meter_pos = pc.index_in(table.column("meter_id"), value_set=pa.array(ids, pa.string()))
    groups = group_of_meter[np.asarray(meter_pos.to_numpy(zero_copy_only=False), dtype=np.int64)]
    sums, counts = _on_axis(table, index, step, groups, len(kinds) + 1)
    hours = pd.Timedelta(step).total_seconds() / 3600.0
    flows = {kind: _sum_or_nan(sums[i], counts[i]) / hours for i, kind in enumerate(kinds)}
    if not extra:
        return flows, None
    total, count = sums[len(kinds)], counts[len(kinds)]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return flows, mean


def net_kw(
    store: Store, meters: Sequence[Meter], period: Period, step: str, index: pd.DatetimeIndex
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Load, PV, battery and net grid power [kW] of a set of meters.

    Net power comes from ``grid_net`` meters, else ``grid_import - grid_export``,
    else ``load - pv + battery``.
    """
    return net_of_flows(flows_kw(store, meters, period, step, index))


def net_of_flows(
    flows: dict[MeterKind, np.ndarray],
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Load, PV, battery and net grid power [kW] from :func:`flows_kw`'s flows.

    Same rules as :func:`net_kw`.
    """
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
