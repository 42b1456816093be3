"""The control loop core: peak watch, actions, planning, safe fallback. No I/O of its own.

Two entry points, both never raising (a fault becomes safe setpoints and an alert):

- :meth:`ControlLoop.on_reading` for every meter reading: the peak watch updates the windows;
  alert events are published and journaled at once, and when the park's projection reaches
  ``(1 - margin) x cap`` (the cap: in metered windows the target, or the planner's
  ``peak_cap_kw`` when it has one and it is lower; the connection limit in all)
  the cheapest actions that bring it back are applied as ``peak``-mode setpoints for the rest
  of the window.
- :meth:`ControlLoop.tick` at the start of every interval: if the newest reading is older than
  ``stale_after_s`` the loop publishes the safe setpoints (:mod:`~bitgaram.control.safe`) and a
  ``stale_data`` alert; otherwise it asks the planner, and on any planner error publishes the
  safe setpoints and a ``solver_failed`` alert. A fault alert is raised once and cleared (a
  ``resumed`` event) on the first good interval after it: the loop resumes by itself.
  After every interval the loop publishes its status (mode, active faults, counters) on
  ``<prefix>/<site>/control/status``.

A tick is three steps, so that a live caller can let readings in while the planner solves:
:meth:`~ControlLoop.begin_tick` (snapshot taken, windows closed, what to plan decided),
:meth:`~ControlLoop.solve` (the planner alone: it reads only the snapshot, never the loop) and
:meth:`~ControlLoop.finish_tick` (setpoints issued, status published). Readings taken between
the first and the last step update the watch and raise their alerts at once, but the peak
actions they would cause wait for the plan: they are sized against the planned setpoints
(which replace the previous ones) in :meth:`~ControlLoop.finish_tick`, at the latest such
reading's time, as if those readings had arrived just after the tick.

The per-reading path (:meth:`~ControlLoop.take_reading`) keeps instants as integer
nanoseconds (:mod:`bitgaram.peak.clock`) and makes pandas objects only when it alerts or acts.

Publishing goes through an injected ``publish(topic, payload)`` callable, so the same core runs
live on MQTT, in replay, and in tests.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pandas as pd

from bitgaram.control.journal import Journal
from bitgaram.control.planner import Planner
from bitgaram.control.safe import job_must_run, safe_setpoints
from bitgaram.control.setpoints import (
    Mode,
    Setpoint,
    alert_topic,
    setpoint_topic,
    status_topic,
)
from bitgaram.control.state import ParkSnapshot
from bitgaram.peak.actions import (
    BatteryFlex,
    EVFlex,
    Flexibility,
    LoadFlex,
    needed_cut_kw,
    recommend_actions,
)
from bitgaram.peak.alerts import Alert, AlertEvent, AlertKind
from bitgaram.peak.clock import NS, from_ns, to_ns
from bitgaram.peak.points import PARK_POINT
from bitgaram.peak.watch import PeakWatch

log = logging.getLogger(__name__)

Publish = Callable[[str, str], None]


@dataclass(frozen=True)
class LoopConfig:
    """Settings of the loop.

    Attributes
    ----------
    interval_s : float
        Control interval [s] (the demand window, 900).
    stale_after_s : float
        Meter data older than this at a tick is stale [s]. Default 600: two 5-minute readings
        missed; one late reading must not drop the plan.
    margin : float
        Act when the projection reaches ``(1 - margin)`` of the target [-]: 2 % covers the
        persistence error of the last minutes of a window.
    prefix : str
        First topic level.
    battery_wear : float
        Battery cost per kWh discharged in actions [KRW/kWh].
    limit_kw : float, optional
        Connection limit [kW]: the loop also acts to hold the park's projection under it, in
        every window (metered or not).
    act : bool
        Apply peak actions automatically; False = advisory (alerts carry the recommended
        actions, setpoints come from the planner only).
    """

    interval_s: float = 900.0
    stale_after_s: float = 600.0
    margin: float = 0.02
    prefix: str = "bitgaram"
    battery_wear: float = 5.0
    limit_kw: float | None = None
    act: bool = True


@dataclass(frozen=True)
class PlanJob:
    """What :meth:`ControlLoop.begin_tick` decided to do this interval.

    Attributes
    ----------
    snapshot : ParkSnapshot
        The state the interval is planned on.
    month_peak_kw, target_kw : float
        The park's month peak and target at the tick [kW] (for the planner).
    stale : str, optional
        Why the data is too old to plan on (safe setpoints instead of a plan).
    error : Exception, optional
        Why the planner's inputs could not be read (safe setpoints instead of a plan).
    """

    snapshot: ParkSnapshot
    month_peak_kw: float = 0.0
    target_kw: float = 0.0
    stale: str | None = None
    error: Exception | None = None


#: What :meth:`ControlLoop.solve` gives back: the planned setpoints, or why planning failed.
PlanOutcome = list[Setpoint] | Exception


@dataclass
class LoopStats:
    """Counters of what the loop did."""

    ticks: int = 0
    plans: int = 0
    fallbacks: int = 0
    actions: int = 0
    alerts: int = 0
    publish_errors: int = 0
    faults: dict[str, int] = field(default_factory=dict)


class ControlLoop:
    """The loop core (see the module docstring).

    Parameters
    ----------
    watch : PeakWatch
        The peak watch of the site.
    planner : Planner
        Plans each interval.
    publish : callable
        ``publish(topic, payload)``; must not block for long.
    journal : Journal
        Keeps alerts and setpoints.
    battery_ids : tuple of str
        The site's batteries (for safe setpoints).
    battery_power_kw, battery_min_kwh : float
        ESS discharge limit [kW] and energy kept in reserve [kWh] (for actions).
    config : LoopConfig
    """

    def __init__(
        self,
        watch: PeakWatch,
        planner: Planner,
        publish: Publish,
        journal: Journal,
        battery_ids: tuple[str, ...] = (),
        battery_power_kw: float = 0.0,
        config: LoopConfig | None = None,
    ) -> None:
        self.watch = watch
        self.planner = planner
        self.publish = publish
        self.journal = journal
        self.battery_ids = battery_ids
        self.battery_power_kw = battery_power_kw
        self.config = config or LoopConfig()
        self.site_id = watch.site_id
        self.stats = LoopStats()
        self.setpoints: dict[str, Setpoint] = {}
        self.snapshot: ParkSnapshot | None = None
        self._faults: set[AlertKind] = set()
        # peak cuts applied in the running window: (when [ns], kW)
        self._pending: list[tuple[int, float]] = []
        self._park = any(p.id == PARK_POINT for p in watch.points)
        self._solving = False  # between begin_tick and finish_tick
        self._deferred: int | None = None  # latest reading time [ns] whose peak check waits

    # -- output ------------------------------------------------------------------
    def _send(self, topic: str, payload: str) -> None:
        try:
            self.publish(topic, payload)
        except Exception:  # a broker outage must not stop the loop
            self.stats.publish_errors += 1
            log.exception("publish to %s failed", topic)

    def _alert(self, alert: Alert) -> None:
        self.stats.alerts += 1
        self._send(alert_topic(self.config.prefix, self.site_id), alert.to_json())
        try:
            self.journal.record_alert(alert)
        except Exception:
            log.exception("could not journal alert")

    def _issue(self, at: pd.Timestamp, setpoints: list[Setpoint]) -> None:
        for s in setpoints:
            self.setpoints[s.asset] = s
            self._send(setpoint_topic(self.config.prefix, self.site_id, s.asset), s.to_json())
        try:
            self.journal.record_setpoints(self.site_id, at, setpoints)
        except Exception:
            log.exception("could not journal setpoints")

    # -- readings ----------------------------------------------------------------
    def on_reading(
        self, meter_id: str, ts: pd.Timestamp, value: float, now: pd.Timestamp | None = None
    ) -> list[Alert]:
        """Take one reading; publish alerts and peak actions it causes. Never raises."""
        try:
            now_ns = None if now is None else to_ns(now)
            return self.take_reading(meter_id, to_ns(ts), value, now_ns)
        except Exception:
            log.exception("peak watch failed on a reading of %s", meter_id)
            return []

    def take_reading(
        self, meter_id: str, ts_ns: int, value: float, now_ns: int | None = None
    ) -> list[Alert]:
        """:meth:`on_reading` with the instants as integers. Never raises.

        Parameters
        ----------
        meter_id : str
            The meter (readings of meters the watch does not use are ignored by it).
        ts_ns : int
            Interval start of the reading [ns since the epoch, UTC].
        value : float
            The reading in the meter's unit [kWh or kW].
        now_ns : int, optional
            When it is taken [ns] (default: ``ts_ns``).

        Returns
        -------
        list of Alert
            The alert events the reading caused (already published and journaled).
        """
        try:
            alerts = self.watch.observe_ns(meter_id, ts_ns, value, now_ns)
            if self._pending:
                self._pending = [(t, c) for t, c in self._pending if t > ts_ns]
            return self._after_watch(alerts, ts_ns if now_ns is None else now_ns)
        except Exception:
            log.exception("peak watch failed on a reading of %s", meter_id)
            return []

    def on_clock(self, now: pd.Timestamp) -> list[Alert]:
        """Let the watch close windows the clock passed. Never raises."""
        try:
            return self._after_watch(self.watch.evaluate(now), to_ns(now))
        except Exception:
            log.exception("peak watch failed on the clock")
            return []

    def _after_watch(self, alerts: list[Alert], now_ns: int) -> list[Alert]:
        actions_dicts: tuple[dict[str, object], ...] = ()
        if self._park:
            if self._solving:  # act on the plan, not on the setpoints it replaces
                self._deferred = now_ns if self._deferred is None else max(self._deferred, now_ns)
            else:
                actions_dicts = self._peak_actions(now_ns)
        if not alerts:
            return []
        out: list[Alert] = []
        now = from_ns(now_ns)
        for a in alerts:
            if a.event == AlertEvent.RAISED and a.point == PARK_POINT:
                a = replace(a, actions=actions_dicts or self._recommend(now, 0.0))
            self._alert(a)
            out.append(a)
        return out

    def flexibility(self, now: pd.Timestamp) -> Flexibility:
        """What can cut import now, from the current setpoints and the latest snapshot."""
        snap = self.snapshot
        bats = []
        # a faulted ESS (its PCS rejected or ignored a write) is no flexibility
        usable = snap is None or snap.battery_available
        for b in self.battery_ids if usable else ():
            cur = self.setpoints.get(b)
            soc = snap.battery_soc_kwh if snap is not None and snap.battery_soc_kwh else 0.0
            bats.append(
                BatteryFlex(
                    b,
                    self.battery_power_kw,
                    cur.power_kw if cur else 0.0,
                    soc,
                    self.config.battery_wear,
                )
            )
        evs, loads = [], []
        if snap is not None:
            for ev in snap.evs:
                cur = self.setpoints.get(ev.id)
                if cur is not None and cur.power_kw > 0:
                    evs.append(EVFlex(ev.id, cur.power_kw, ev.min_rate_kw(now)))
            for j in snap.jobs:
                cur = self.setpoints.get(j.id)
                if (
                    cur is not None
                    and cur.power_kw > 0
                    and not job_must_run(j, snap.at, self.config.interval_s)
                ):
                    loads.append(LoadFlex(j.id, cur.power_kw, j.priority))
        return Flexibility(tuple(bats), tuple(evs), tuple(loads))

    def _recommend(self, now: pd.Timestamp, needed: float) -> tuple[dict[str, object], ...]:
        status = self.watch.status(PARK_POINT)
        remaining = max((status.window.end - now).total_seconds(), 1.0)
        acts = recommend_actions(self.flexibility(now), needed, remaining)
        return tuple(a.to_dict() for a in acts)

    def _peak_actions(self, now_ns: int) -> tuple[dict[str, object], ...]:
        """Apply the cheapest actions when the park's projection nears its target.

        Runs after every reading: up to the comparison with the goal it works on numbers only
        (:meth:`~bitgaram.peak.watch.PeakWatch.glance`).
        """
        if self.snapshot is None:
            return ()
        g = self.watch.glance(PARK_POINT)
        caps = [g.target_kw] if g.metered and g.target_kw > 0 else []
        # A planner under uncertainty holds the interval to its own level (the billing demand
        # the month pays already, or the new peak it planned), often below the target.
        planned = getattr(self.planner, "peak_cap_kw", None)
        if g.metered and planned is not None and planned > 0:
            caps.append(float(planned))
        if self.config.limit_kw is not None:
            caps.append(self.config.limit_kw)
        if not caps:
            return ()
        cap = min(caps)
        window_s = self.watch.window_s
        end_ns = g.start_ns + self.watch.window_ns
        remaining = (end_ns - now_ns) / NS
        if remaining <= 0:
            return ()
        projected = g.projected_kw
        if self._pending:
            projected -= sum(c for _, c in self._pending) * remaining / window_s
        goal = (1.0 - self.config.margin) * cap
        if projected < goal:
            return ()
        now, end = from_ns(now_ns), from_ns(end_ns)
        needed = needed_cut_kw(projected - goal, remaining, window_s)
        acts = recommend_actions(self.flexibility(now), needed, remaining)
        chosen = [a for a in acts if a.selected]
        if not chosen or not self.config.act:
            return tuple(a.to_dict() for a in acts)
        until = (
            self.setpoints[chosen[0].asset].valid_until
            if chosen[0].asset in self.setpoints
            else end
        )
        kinds = {"battery_discharge": "battery", "ev_slow": "ev", "defer_load": "job"}
        new = [
            Setpoint(
                a.asset,
                kinds[a.kind],
                a.setpoint_kw,
                now,
                max(until, end),
                Mode.PEAK,
                f"peak: {PARK_POINT} projected {projected:,.0f} kW vs cap {cap:,.0f} kW",
            )
            for a in chosen
        ]
        self.stats.actions += len(new)
        self._pending.append((now_ns, sum(a.cut_kw for a in chosen)))
        self._issue(now, new)
        return tuple(a.to_dict() for a in acts)

    # -- interval ----------------------------------------------------------------
    def _fault(self, kind: AlertKind, at: pd.Timestamp, message: str) -> None:
        self.stats.faults[kind.value] = self.stats.faults.get(kind.value, 0) + 1
        if kind in self._faults:
            return
        self._faults.add(kind)
        self._alert(Alert(self.site_id, "control", kind, AlertEvent.RAISED, at, message=message))

    def _resume(self, at: pd.Timestamp) -> None:
        for kind in sorted(self._faults):
            self._alert(
                Alert(
                    self.site_id,
                    "control",
                    AlertKind.RESUMED,
                    AlertEvent.CLEARED,
                    at,
                    message=f"{kind.value} cleared: planning resumed",
                )
            )
        self._faults.clear()

    def tick(self, snapshot: ParkSnapshot) -> list[Setpoint]:
        """Plan the interval starting at ``snapshot.at`` and publish. Never raises."""
        job = self.begin_tick(snapshot)
        return self.finish_tick(job, self.solve(job))

    def begin_tick(self, snapshot: ParkSnapshot) -> PlanJob:
        """First step of a tick: close the windows the clock passed, decide what to plan.

        Call it and :meth:`finish_tick` under the lock readings are taken under; call
        :meth:`solve` between the two without it. Until :meth:`finish_tick`, readings raise
        their alerts but their peak actions wait for the plan.
        """
        at = snapshot.at
        self.stats.ticks += 1
        self.snapshot = snapshot
        self._pending = []
        self.on_clock(at)
        self._solving = True
        age = snapshot.data_age_s()
        if age > self.config.stale_after_s:
            return PlanJob(snapshot, stale=f"stale meter data: newest reading {age:,.0f} s old")
        try:
            status = self.watch.status(PARK_POINT)
        except Exception as exc:
            return PlanJob(snapshot, error=exc)
        return PlanJob(snapshot, status.month_peak_kw, status.target_kw)

    def solve(self, job: PlanJob) -> PlanOutcome:
        """Second step: the planner's setpoints for ``job``, or the error it raised.

        Touches nothing of the loop but the planner, so it may run while readings are taken.
        """
        if job.stale is not None:
            return []
        if job.error is not None:
            return job.error
        try:
            return self.planner.plan(job.snapshot, job.month_peak_kw, job.target_kw)
        except Exception as exc:
            return exc

    def finish_tick(self, job: PlanJob, outcome: PlanOutcome) -> list[Setpoint]:
        """Last step: issue the plan (or the safe setpoints) and the status. Never raises.

        Then the peak check the readings taken since :meth:`begin_tick` deferred runs once,
        against the setpoints just issued.
        """
        snapshot, at = job.snapshot, job.snapshot.at
        self._solving = False
        setpoints: list[Setpoint]
        if job.stale is not None or isinstance(outcome, Exception):
            if job.stale is not None:
                kind, reason = AlertKind.STALE_DATA, job.stale
            else:
                kind, reason = (
                    AlertKind.SOLVER_FAILED,
                    (f"planner failed: {type(outcome).__name__}: {outcome}"),
                )
                log.warning(reason)
            self._fault(kind, at, reason + "; safe setpoints")
            setpoints = safe_setpoints(snapshot, self.battery_ids, self.config.interval_s, reason)
            self.stats.fallbacks += 1
        else:
            setpoints = outcome
            self.stats.plans += 1
            self._resume(at)
        self._issue(at, setpoints)
        self._status(at)
        deferred, self._deferred = self._deferred, None
        if deferred is not None:
            try:
                self._peak_actions(deferred)
            except Exception:
                log.exception("peak check after the plan failed")
        return setpoints

    def _status(self, at: pd.Timestamp) -> None:
        # A fault stays active from the tick that fell back to the next one that planned.
        status = {
            "at": at.isoformat(),
            "mode": str(Mode.SAFE if self._faults else Mode.MPC),
            "faults": sorted(k.value for k in self._faults),
            "ticks": self.stats.ticks,
            "plans": self.stats.plans,
            "fallbacks": self.stats.fallbacks,
        }
        self._send(status_topic(self.config.prefix, self.site_id), json.dumps(status))
