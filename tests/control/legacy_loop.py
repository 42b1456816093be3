"""The loop's per-reading path and tick as they were before issue 20 (a pandas Timestamp per
reading, the meter found by a scan, the whole status per check, the plan solved under the
lock). Kept as the oracle the rewritten :class:`~bitgaram.control.loop.ControlLoop` and
:class:`~bitgaram.control.live.LiveController` must agree with; only these methods changed,
the rest is inherited.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pandas as pd

from bitgaram.control.live import LiveController
from bitgaram.control.loop import ControlLoop
from bitgaram.control.safe import safe_setpoints
from bitgaram.control.setpoints import Mode, Setpoint
from bitgaram.control.state import ParkSnapshot
from bitgaram.peak.actions import needed_cut_kw, recommend_actions
from bitgaram.peak.alerts import Alert, AlertEvent, AlertKind
from bitgaram.peak.points import PARK_POINT

log = logging.getLogger(__name__)


class LegacyControlLoop(ControlLoop):
    """:class:`ControlLoop` with the per-reading path and tick of before issue 20."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._legacy_pending: list[tuple[pd.Timestamp, float]] = []

    def on_reading(  # type: ignore[override]
        self, meter_id: str, ts: pd.Timestamp, value: float, now: pd.Timestamp | None = None
    ) -> list[Alert]:
        try:
            alerts = self.watch.observe(meter_id, ts, value, now)
            self._legacy_pending = [(t, c) for t, c in self._legacy_pending if t > pd.Timestamp(ts)]
            return self._legacy_after_watch(alerts, now or pd.Timestamp(ts))
        except Exception:
            log.exception("peak watch failed on a reading of %s", meter_id)
            return []

    def on_clock(self, now: pd.Timestamp) -> list[Alert]:
        try:
            return self._legacy_after_watch(self.watch.evaluate(now), now)
        except Exception:
            log.exception("peak watch failed on the clock")
            return []

    def _legacy_after_watch(self, alerts: list[Alert], now: pd.Timestamp) -> list[Alert]:
        out: list[Alert] = []
        actions_dicts: tuple[dict[str, object], ...] = ()
        if any(p.id == PARK_POINT for p in self.watch.points):
            actions_dicts = self._legacy_peak_actions(now)
        for a in alerts:
            if a.event == AlertEvent.RAISED and a.point == PARK_POINT:
                a = replace(a, actions=actions_dicts or self._recommend(now, 0.0))
            self._alert(a)
            out.append(a)
        return out

    def _legacy_peak_actions(self, now: pd.Timestamp) -> tuple[dict[str, object], ...]:
        status = self.watch.status(PARK_POINT)
        caps = [status.target_kw] if status.metered and status.target_kw > 0 else []
        planned = getattr(self.planner, "peak_cap_kw", None)
        if status.metered and planned is not None and planned > 0:
            caps.append(float(planned))
        if self.config.limit_kw is not None:
            caps.append(self.config.limit_kw)
        if not caps or self.snapshot is None:
            return ()
        cap = min(caps)
        w = status.window
        remaining = (w.end - now).total_seconds()
        if remaining <= 0:
            return ()
        pending = sum(c for _, c in self._legacy_pending) * remaining / w.window_s
        projected = w.projected_kw - pending
        goal = (1.0 - self.config.margin) * cap
        if projected < goal:
            return ()
        needed = needed_cut_kw(projected - goal, remaining, w.window_s)
        acts = recommend_actions(self.flexibility(now), needed, remaining)
        chosen = [a for a in acts if a.selected]
        if not chosen or not self.config.act:
            return tuple(a.to_dict() for a in acts)
        until = (
            self.setpoints[chosen[0].asset].valid_until
            if chosen[0].asset in self.setpoints
            else w.end
        )
        kinds = {"battery_discharge": "battery", "ev_slow": "ev", "defer_load": "job"}
        new = [
            Setpoint(
                a.asset,
                kinds[a.kind],
                a.setpoint_kw,
                now,
                max(until, w.end),
                Mode.PEAK,
                f"peak: {PARK_POINT} projected {projected:,.0f} kW vs cap {cap:,.0f} kW",
            )
            for a in chosen
        ]
        self.stats.actions += len(new)
        self._legacy_pending.append((now, sum(a.cut_kw for a in chosen)))
        self._issue(now, new)
        return tuple(a.to_dict() for a in acts)

    def tick(self, snapshot: ParkSnapshot) -> list[Setpoint]:
        at = snapshot.at
        self.stats.ticks += 1
        self.snapshot = snapshot
        self._legacy_pending = []
        self.on_clock(at)
        setpoints: list[Setpoint]
        age = snapshot.data_age_s()
        if age > self.config.stale_after_s:
            reason = f"stale meter data: newest reading {age:,.0f} s old"
            self._fault(AlertKind.STALE_DATA, at, reason + "; safe setpoints")
            setpoints = safe_setpoints(snapshot, self.battery_ids, self.config.interval_s, reason)
            self.stats.fallbacks += 1
        else:
            try:
                status = self.watch.status(PARK_POINT)
                setpoints = self.planner.plan(snapshot, status.month_peak_kw, status.target_kw)
                self.stats.plans += 1
                self._resume(at)
            except Exception as exc:
                reason = f"planner failed: {type(exc).__name__}: {exc}"
                log.warning(reason)
                self._fault(AlertKind.SOLVER_FAILED, at, reason + "; safe setpoints")
                setpoints = safe_setpoints(
                    snapshot, self.battery_ids, self.config.interval_s, reason
                )
                self.stats.fallbacks += 1
        self._issue(at, setpoints)
        self._status(at)
        return setpoints


class LegacyLiveController(LiveController):
    """:class:`LiveController` with the per-reading glue and tick of before issue 20."""

    def on_reading(self, meter: str, ts: pd.Timestamp, value: float, now: pd.Timestamp) -> None:
        with self._lock:
            known = any(m.id == meter for m in self.loop.watch.site.meters)
            res = self.loop.watch.site.meter(meter).resolution_seconds if known else 0
            end = pd.Timestamp(ts) + pd.Timedelta(seconds=res)
            self.loop.on_reading(meter, ts, value, min(now, end))
            if meter in self._park_meters:
                self.data_time = end if self.data_time is None else max(self.data_time, end)

    def tick(self, now: pd.Timestamp | None = None) -> None:
        now = now or pd.Timestamp.now(tz="UTC")
        with self._lock:
            try:
                snap = self.snapshot(now)
            except Exception:
                log.exception("snapshot failed; planning without meter data")
                snap = ParkSnapshot(now, 0.0, None, self.soc_kwh)
            self.loop.tick(snap)
