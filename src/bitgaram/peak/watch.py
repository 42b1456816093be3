"""The peak watch: every metering point's running window, month peak and billing demand.

Feed it readings as they arrive (:meth:`PeakWatch.observe`) and the clock
(:meth:`PeakWatch.evaluate`); it returns the alert events they cause. It does no I/O.

- **Window**: readings are binned by the clock-aligned window holding their interval start. A
  point's window closes when one of its meters reports in a later window or the clock passes its
  end; the closed value is its projection at that moment (a reading still missing then is
  extrapolated at the meter's rate, and a reading arriving later for a closed window is counted
  in :attr:`PeakWatch.late_readings`, not re-opened).
- **Month peak**: the largest closed window of the month (local time of the site), over the
  metered windows only (``metered``: e.g. not in light-load hours, as KEPCO reads demand).
- **Billing demand**: ``max(month peak, carried_kw)``, where ``carried_kw`` is what earlier
  months already fix (ratchet, contract floor; see :func:`bitgaram.tariff.billing_demand`).
- **Target**: the configured target of the point if any, else the billing demand carried from
  earlier months (kW below it cost nothing more this month); a point with neither raises no
  peak alerts (comparing with the month's own running peak would alert on every new noise
  maximum early in a month).

Every reading passes through :meth:`PeakWatch.observe_ns`, so the watch keeps its state in
plain numbers (instants as integer nanoseconds, :mod:`~bitgaram.peak.clock`; one mutable
accumulator per meter) and makes Timestamps and :class:`PointStatus` only for what leaves it
(alerts, closed windows, :meth:`PeakWatch.status`). ``metered`` is asked once per window start.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import pandas as pd

from bitgaram.errors import BitgaramError, DataError
from bitgaram.peak.alerts import (
    DEFAULT_HYSTERESIS,
    DEFAULT_LEVELS,
    Alert,
    AlertEvent,
    AlertKind,
    AlertTracker,
)
from bitgaram.peak.clock import NS, floor_ns, from_ns, month_key, to_ns
from bitgaram.peak.points import MeteringPoint, metering_points
from bitgaram.peak.window import MeterWindow, WindowProjection, project_window
from bitgaram.site.model import Site, Unit
from bitgaram.tariff import TouTariff


def metered_by(tariff: TouTariff, timezone: str) -> Callable[[pd.Timestamp], bool]:
    """``metered(window_start_utc)``: whether a window counts for the demand (not excluded).

    The tariff is asked for a whole UTC day of 15-minute starts at once, the first time a start
    of that day is asked (one period lookup costs about as much as a day's); other starts are
    asked one by one.

    Examples
    --------
    >>> from bitgaram.tariff import load_tariff
    >>> t = load_tariff("kepco-industrial-eul-high-a", option="II")
    >>> m = metered_by(t, "Asia/Seoul")
    >>> m(pd.Timestamp("2026-08-04 05:00", tz="UTC")), m(pd.Timestamp("2026-08-04 16:00", tz="UTC"))
    (True, False)
    """
    excluded = set(tariff.demand_rules.excluded_periods)
    grid, day = 900 * NS, 86_400 * NS
    known: dict[int, bool] = {}

    def one(start: pd.Timestamp) -> bool:
        local = pd.Timestamp(start).tz_convert(timezone).tz_localize(None)
        return str(tariff.period([local])[0]) not in excluded

    def metered(start: pd.Timestamp) -> bool:
        ns = to_ns(start)
        hit = known.get(ns)
        if hit is not None:
            return hit
        if ns % grid:
            return one(start)
        first = floor_ns(ns, day)
        starts = pd.date_range(from_ns(first), periods=day // grid, freq="15min")
        try:
            names = tariff.period(starts.tz_convert(timezone).tz_localize(None))
        except BitgaramError:  # e.g. part of the day before the tariff's first version
            return one(start)
        if len(known) > 31 * (day // grid):  # a month of days is plenty
            known.clear()
        flags = [str(n) not in excluded for n in names]
        known.update(zip(range(first, first + day, grid), flags, strict=True))
        return known[ns]

    return metered


@dataclass(frozen=True)
class PointStatus:
    """What the watch knows of one metering point now.

    Attributes
    ----------
    point : str
        Metering point id.
    window : WindowProjection
        The running window.
    month_peak_kw : float
        Largest closed metered window of the month [kW].
    billing_kw : float
        Billing demand so far [kW].
    target_kw : float
        What the projection is compared with [kW].
    last_closed_kw : float
        Average of the latest closed window [kW].
    metered : bool
        Whether the running window counts for the demand.
    """

    point: str
    window: WindowProjection
    month_peak_kw: float
    billing_kw: float
    target_kw: float
    last_closed_kw: float
    metered: bool = True


class Glance(NamedTuple):
    """The cheap part of :class:`PointStatus`, for a check after every reading.

    Attributes
    ----------
    start_ns : int
        Start of the running window [ns since the epoch, UTC].
    projected_kw : float
        Projected average of the window [kW], equal to ``status(point).window.projected_kw``.
    target_kw : float
        What the projection is compared with [kW].
    metered : bool
        Whether the running window counts for the demand.
    """

    start_ns: int
    projected_kw: float
    target_kw: float
    metered: bool


class _MeterAcc:
    """One meter's readings in its current window (a mutable :class:`MeterWindow`)."""

    __slots__ = ("covered_s", "energy_kwh", "last_end", "rate_kw", "start")

    def __init__(self) -> None:
        self.start = 0  # window start [ns]; 0 = the epoch sentinel before the first reading
        self.energy_kwh = 0.0
        self.covered_s = 0.0
        self.rate_kw = 0.0
        self.last_end: int | None = None  # end of the latest reading [ns]

    def window(self, start: pd.Timestamp) -> MeterWindow:
        return MeterWindow(
            start,
            self.energy_kwh,
            self.covered_s,
            self.rate_kw,
            None if self.last_end is None else from_ns(self.last_end),
        )


class _PointState:
    def __init__(
        self,
        point: MeteringPoint,
        meters: list[tuple[float, _MeterAcc]],
        levels: Sequence[float],
        hysteresis: float,
    ) -> None:
        self.point = point
        self.meters = meters  # (weight, accumulator) in the point's order
        self.start = 0  # running window [ns]; 0 = the epoch sentinel
        self.tracker = AlertTracker(levels, hysteresis)
        self.month: int | None = None  # month_key of the month the peak is of
        self.month_peak_kw = 0.0
        self.last_closed_kw = 0.0
        self.closed: list[tuple[pd.Timestamp, float]] = []
        self.cached: tuple[int, float] = (-1, 0.0)  # (watch version, projected kW)
        self.glance: tuple[int, Glance | None] = (-1, None)  # (watch version, glance)


#: Window starts whose ``metered`` answer is kept (a month of 15-min windows is 2,976).
_METERED_CACHE = 8192


class PeakWatch:
    """Running 15-minute demand of a site's metering points.

    Parameters
    ----------
    site : Site
        The site (meters, their units and resolutions, time zone).
    targets : Mapping[str, float], optional
        Target per metering point [kW]; points without one use their billing demand.
    carried_kw : Mapping[str, float], optional
        Billing demand already fixed by earlier months per point [kW] (ratchet, floor).
    levels : sequence of float
        Alert levels as fractions of the target.
    hysteresis : float
        Hysteresis band as a fraction of the target.
    window_minutes : int
        Demand window [min].
    metered : callable, optional
        ``metered(window_start_utc) -> bool``: windows that count for the month's peak
        (default all). A function of the window start only: it is asked once per start.
    points : sequence of MeteringPoint, optional
        Points to watch (default :func:`~bitgaram.peak.points.metering_points`).
    """

    def __init__(
        self,
        site: Site,
        *,
        targets: Mapping[str, float] | None = None,
        carried_kw: Mapping[str, float] | None = None,
        levels: Sequence[float] = DEFAULT_LEVELS,
        hysteresis: float = DEFAULT_HYSTERESIS,
        window_minutes: int = 15,
        metered: Callable[[pd.Timestamp], bool] | None = None,
        points: Sequence[MeteringPoint] | None = None,
    ) -> None:
        self.site = site
        self.site_id = site.site.id
        self.tz = site.site.timezone
        self.targets = dict(targets or {})
        self.carried_kw = dict(carried_kw or {})
        self.window_s = window_minutes * 60.0
        self.window_ns = window_minutes * 60 * NS
        self.freq = f"{window_minutes}min"
        self.metered = metered
        self.points = tuple(points) if points is not None else metering_points(site)
        self._levels = tuple(levels)
        self._hysteresis = hysteresis
        self._meters: dict[str, _MeterAcc] = {}
        self._duration: dict[str, float] = {}
        self._duration_ns: dict[str, int] = {}
        self._energy: dict[str, bool] = {}
        self._of_meter: dict[str, list[_PointState]] = {}
        self._state: dict[str, _PointState] = {}
        self._metered_at: dict[int, bool] = {}
        self._version = 0  # bumped by every change of a window (keys the projection cache)
        self.late_readings = 0
        for p in self.points:
            accs = []
            for mid, w in p.meters:
                meter = site.meter(mid)
                self._duration[mid] = float(meter.resolution_seconds)
                self._duration_ns[mid] = int(meter.resolution_seconds) * NS
                self._energy[mid] = meter.unit is Unit.KWH
                accs.append((w, self._meters.setdefault(mid, _MeterAcc())))
            st = _PointState(p, accs, self._levels, hysteresis)
            self._state[p.id] = st
            for mid, _ in p.meters:
                self._of_meter.setdefault(mid, []).append(st)

    # -- queries -----------------------------------------------------------------
    def status(self, point: str) -> PointStatus:
        """The running window, month peak, billing demand and target of one point."""
        st = self._state[point]
        proj = self._project(st)
        billing = max(st.month_peak_kw, self.carried_kw.get(point, 0.0))
        target = self.targets.get(point, self.carried_kw.get(point, 0.0))
        metered = self._metered(st.start)
        return PointStatus(
            point, proj, st.month_peak_kw, billing, target, st.last_closed_kw, metered
        )

    def glance(self, point: str) -> Glance:
        """Window start, projection, target and metered flag of one point, without pandas.

        The same numbers as :meth:`status` (``projected_kw`` to the bit), for a check after
        every reading.
        """
        st = self._state[point]
        target = self.targets.get(point, self.carried_kw.get(point, 0.0))
        version, g = st.glance
        if g is None or version != self._version or g.target_kw != target:
            g = Glance(st.start, self._projected_kw(st), target, self._metered(st.start))
            st.glance = (self._version, g)
        return g

    def closed_windows(self, point: str) -> list[tuple[pd.Timestamp, float]]:
        """Closed windows of a point: (start, average [kW]), oldest first."""
        return list(self._state[point].closed)

    # -- updates -----------------------------------------------------------------
    def observe(
        self, meter_id: str, ts: pd.Timestamp, value: float, now: pd.Timestamp | None = None
    ) -> list[Alert]:
        """Take one reading (interval start ``ts`` UTC, value in the meter's unit).

        Returns the alert events of the points the meter belongs to. Readings of meters no
        point uses are ignored.
        """
        if meter_id not in self._of_meter:
            return []
        return self.observe_ns(meter_id, to_ns(ts), value, None if now is None else to_ns(now))

    def observe_ns(
        self, meter_id: str, ts_ns: int, value: float, now_ns: int | None = None
    ) -> list[Alert]:
        """:meth:`observe` with the instants as integers [ns since the epoch, UTC].

        Parameters
        ----------
        meter_id : str
            The meter; readings of meters no point uses are ignored.
        ts_ns : int
            Interval start of the reading [ns].
        value : float
            The reading in the meter's unit [kWh or kW].
        now_ns : int, optional
            When it is taken [ns]: closes windows and stamps alerts (default: the reading's
            interval start for closing, its end for alerts).

        Raises
        ------
        DataError
            If the meter's resolution is not positive.
        """
        states = self._of_meter.get(meter_id)
        if states is None:
            return []
        start = ts_ns - ts_ns % self.window_ns
        late = start < self._meters[meter_id].start
        for st in states:
            if start > st.start:
                self._close(st, start)
            elif start < st.start:
                late = True
        if late:
            self.late_readings += 1
            return []
        acc = self._meters[meter_id]
        dur = self._duration[meter_id]
        energy = value if self._energy[meter_id] else value * dur / 3600.0
        alerts: list[Alert] = []
        if dur <= 0:
            raise DataError(f"reading at {from_ns(ts_ns)}: duration must be > 0 s")
        if start > acc.start:  # a new window: nothing in it yet, the rate carries over
            acc.start, acc.energy_kwh, acc.covered_s, acc.last_end = start, 0.0, 0.0, None
        end = ts_ns + self._duration_ns[meter_id]
        acc.last_end = end if acc.last_end is None else max(end, acc.last_end)
        acc.energy_kwh = acc.energy_kwh + energy
        acc.covered_s = acc.covered_s + dur
        acc.rate_kw = energy / (dur / 3600.0)
        self._version += 1
        at = now_ns if now_ns is not None else end
        for st in states:
            alerts += self._check(st, at)
        return alerts

    def evaluate(self, now: pd.Timestamp) -> list[Alert]:
        """Close the windows the clock has passed and re-check every point."""
        now_ns = to_ns(now)
        start = floor_ns(now_ns, self.window_ns)
        alerts: list[Alert] = []
        for st in self._state.values():
            if start > st.start:
                self._close(st, start)
            alerts += self._check(st, now_ns)
        return alerts

    # -- internals ---------------------------------------------------------------
    def _metered(self, start: int) -> bool:
        # Before the first reading (epoch sentinel) or where the tariff has no data, a window
        # counts: an alert too many is better than a peak missed.
        if self.metered is None or start == 0:
            return True
        hit = self._metered_at.get(start)
        if hit is None:
            try:
                hit = bool(self.metered(from_ns(start)))
            except BitgaramError:
                hit = True
            if len(self._metered_at) >= _METERED_CACHE:
                self._metered_at.clear()
            self._metered_at[start] = hit
        return hit

    def _project(self, st: _PointState) -> WindowProjection:
        start = from_ns(st.start)
        windows = []
        for w, acc in st.meters:
            if acc.start == st.start:
                windows.append((w, acc.window(start)))
            else:  # nothing yet in this window: carry the rate
                windows.append((w, MeterWindow(start, rate_kw=acc.rate_kw)))
        return project_window(windows, self.window_s)

    def _projected_kw(self, st: _PointState) -> float:
        """``_project(st).projected_kw``: the same sums in the same order, without objects."""
        version, kw = st.cached
        if version == self._version:
            return kw
        s, ws = st.start, self.window_s
        energy = sum(w * (acc.energy_kwh if acc.start == s else 0.0) for w, acc in st.meters)
        rest = sum(
            w * acc.rate_kw * max(ws - (acc.covered_s if acc.start == s else 0.0), 0.0) / 3600.0
            for w, acc in st.meters
        )
        kw = (energy + rest) / (ws / 3600.0)
        st.cached = (self._version, kw)
        return kw

    def _close(self, st: _PointState, new_start: int) -> None:
        if st.start > 0:
            value = self._projected_kw(st)
            st.last_closed_kw = value
            st.closed.append((from_ns(st.start), value))
            month = month_key(st.start, self.tz)
            if st.month != month:
                st.month, st.month_peak_kw = month, 0.0
            if self._metered(st.start):
                st.month_peak_kw = max(st.month_peak_kw, value)
        st.start = new_start
        self._version += 1
        new_month = month_key(new_start, self.tz)
        if st.month is not None and new_month != st.month:
            st.month, st.month_peak_kw = new_month, 0.0

    def _check(self, st: _PointState, at: int) -> list[Alert]:
        if not self._metered(st.start):
            return []
        pid = st.point.id
        target = self.targets.get(pid, self.carried_kw.get(pid, 0.0))
        events = st.tracker.update(self._projected_kw(st), target)
        if not events:
            return []
        status = self.status(pid)
        start = status.window.start
        out = []
        for level, event in events:
            verb = "reaches" if event == AlertEvent.RAISED else "is back below"
            msg = (
                f"{pid}: window {start:%H:%M} projected "
                f"{status.window.projected_kw:,.0f} kW {verb} {level:.0%} of the "
                f"{status.target_kw:,.0f} kW target"
            )
            out.append(
                Alert(
                    site_id=self.site_id,
                    point=pid,
                    kind=AlertKind.PEAK,
                    event=AlertEvent(event),
                    at=from_ns(at),
                    level=level,
                    window_start=start,
                    projected_kw=status.window.projected_kw,
                    target_kw=status.target_kw,
                    month_peak_kw=status.month_peak_kw,
                    billing_kw=status.billing_kw,
                    message=msg,
                )
            )
        return out
