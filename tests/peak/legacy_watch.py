"""The peak watch as it was before issue 20: a pandas Timestamp per reading, ``metered`` and
the whole status per check. Kept unchanged as the oracle the rewritten
:class:`bitgaram.peak.PeakWatch` must agree with, reading for reading.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pandas as pd

from bitgaram.errors import BitgaramError
from bitgaram.peak.alerts import (
    DEFAULT_HYSTERESIS,
    DEFAULT_LEVELS,
    Alert,
    AlertEvent,
    AlertKind,
    AlertTracker,
)
from bitgaram.peak.points import MeteringPoint, metering_points
from bitgaram.peak.watch import PointStatus
from bitgaram.peak.window import MeterWindow, WindowProjection, add_reading, project_window
from bitgaram.site.model import Site, Unit


class _PointState:
    def __init__(
        self, point: MeteringPoint, start: pd.Timestamp, levels: Sequence[float], hysteresis: float
    ) -> None:
        self.point = point
        self.start = start
        self.tracker = AlertTracker(levels, hysteresis)
        self.month: pd.Period | None = None
        self.month_peak_kw = 0.0
        self.last_closed_kw = 0.0
        self.closed: list[tuple[pd.Timestamp, float]] = []


class LegacyPeakWatch:
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
        (default all).
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
        self.freq = f"{window_minutes}min"
        self.metered = metered
        self.points = tuple(points) if points is not None else metering_points(site)
        self._levels = tuple(levels)
        self._hysteresis = hysteresis
        self._meters: dict[str, MeterWindow] = {}
        self._duration: dict[str, float] = {}
        self._energy: dict[str, bool] = {}
        self._of_meter: dict[str, list[_PointState]] = {}
        self._state: dict[str, _PointState] = {}
        self.late_readings = 0
        epoch = pd.Timestamp(0, tz="UTC")
        for p in self.points:
            st = _PointState(p, epoch, self._levels, hysteresis)
            self._state[p.id] = st
            for mid, _ in p.meters:
                meter = site.meter(mid)
                self._duration[mid] = float(meter.resolution_seconds)
                self._energy[mid] = meter.unit is Unit.KWH
                self._meters.setdefault(mid, MeterWindow(epoch))
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
        states = self._of_meter.get(meter_id)
        if states is None:
            return []
        ts = pd.Timestamp(ts)
        dur = self._duration[meter_id]
        energy = value if self._energy[meter_id] else value * dur / 3600.0
        start = ts.floor(self.freq)
        alerts: list[Alert] = []
        for st in states:
            if start > st.start:
                alerts += self._close(st, start, now or ts)
        mw = self._meters[meter_id]
        if start < mw.start or any(start < st.start for st in states):
            self.late_readings += 1
            return alerts
        if start > mw.start:
            mw = MeterWindow(start, rate_kw=mw.rate_kw)
        self._meters[meter_id] = add_reading(mw, ts, dur, energy)
        at = now if now is not None else ts + pd.Timedelta(seconds=dur)
        for st in states:
            alerts += self._check(st, at)
        return alerts

    def evaluate(self, now: pd.Timestamp) -> list[Alert]:
        """Close the windows the clock has passed and re-check every point."""
        start = pd.Timestamp(now).floor(self.freq)
        alerts: list[Alert] = []
        for st in self._state.values():
            if start > st.start:
                alerts += self._close(st, start, now)
            alerts += self._check(st, now)
        return alerts

    # -- internals ---------------------------------------------------------------
    def _metered(self, start: pd.Timestamp) -> bool:
        # Before the first reading (epoch sentinel) or where the tariff has no data, a window
        # counts: an alert too many is better than a peak missed.
        if self.metered is None or start.value == 0:
            return True
        try:
            return self.metered(start)
        except BitgaramError:
            return True

    def _windows(self, st: _PointState) -> list[tuple[float, MeterWindow]]:
        out = []
        for mid, w in st.point.meters:
            mw = self._meters[mid]
            if mw.start != st.start:  # nothing yet in this window: carry the rate
                mw = MeterWindow(st.start, rate_kw=mw.rate_kw)
            out.append((w, mw))
        return out

    def _project(self, st: _PointState) -> WindowProjection:
        return project_window(self._windows(st), self.window_s)

    def _close(self, st: _PointState, new_start: pd.Timestamp, now: pd.Timestamp) -> list[Alert]:
        if st.start.value > 0:
            value = self._project(st).projected_kw
            st.last_closed_kw = value
            st.closed.append((st.start, value))
            month = st.start.tz_convert(self.tz).tz_localize(None).to_period("M")
            if st.month != month:
                st.month, st.month_peak_kw = month, 0.0
            if self._metered(st.start):
                st.month_peak_kw = max(st.month_peak_kw, value)
        st.start = new_start
        new_month = new_start.tz_convert(self.tz).tz_localize(None).to_period("M")
        if st.month is not None and new_month != st.month:
            st.month, st.month_peak_kw = new_month, 0.0
        return []

    def _check(self, st: _PointState, at: pd.Timestamp) -> list[Alert]:
        status = self.status(st.point.id)
        if not self._metered(st.start):
            return []
        out = []
        for level, event in st.tracker.update(status.window.projected_kw, status.target_kw):
            verb = "reaches" if event == AlertEvent.RAISED else "is back below"
            msg = (
                f"{st.point.id}: window {st.start:%H:%M} projected "
                f"{status.window.projected_kw:,.0f} kW {verb} {level:.0%} of the "
                f"{status.target_kw:,.0f} kW target"
            )
            out.append(
                Alert(
                    site_id=self.site_id,
                    point=st.point.id,
                    kind=AlertKind.PEAK,
                    event=AlertEvent(event),
                    at=pd.Timestamp(at),
                    level=level,
                    window_start=st.start,
                    projected_kw=status.window.projected_kw,
                    target_kw=status.target_kw,
                    month_peak_kw=status.month_peak_kw,
                    billing_kw=status.billing_kw,
                    message=msg,
                )
            )
        return out
