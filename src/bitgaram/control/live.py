"""The live loop: MQTT readings and states in, a tick every interval, setpoints and alerts out.

Readings reach the peak watch as they arrive (so an alert or a peak action is published within
the same callback); every ``tick_s`` (aligned to the clock) the loop plans with the latest
state. The state kept here is what MQTT told, on ``<prefix>/<site>/<asset>/state``:

- an ESS: ``{"soc_kwh": 812.0}`` (energy above its minimum state of charge), with
  ``"available": false`` (and ``"fault"``) while its PCS rejects or ignores setpoints (the
  device service says so): the planner leaves the ESS out until ``"available": true``;
- an EV charger: ``{"sessions": [...]}`` (:func:`~bitgaram.control.state.parse_sessions`), the
  vehicles plugged into it, replacing what it said before;
- a job controller: ``{"jobs": [...]}`` (:func:`~bitgaram.control.state.parse_jobs`).

A bad state message is counted in :attr:`LiveController.rejected` and ignored (the previous
state stays). ``evs``/``jobs`` providers (callables), when given, replace the MQTT states.

Readings come a message at a time (:meth:`LiveController.on_readings`): one lock acquisition
per message, instants as integer nanoseconds, the meter's resolution from a dict built once.
A tick holds the lock only to take its snapshot and to apply the plan: the planner solves
without it (:meth:`~bitgaram.control.loop.ControlLoop.begin_tick`), so readings are never
kept waiting by a solve.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from bitgaram.control.loop import ControlLoop
from bitgaram.control.state import EVSession, JobItem, ParkSnapshot, parse_jobs, parse_sessions
from bitgaram.errors import BitgaramError, DataError
from bitgaram.peak.clock import NS, from_ns, to_ns
from bitgaram.peak.points import PARK_POINT

log = logging.getLogger(__name__)


class LiveController:
    """Glue between :class:`~bitgaram.control.mqtt_link.MqttLink` and a :class:`ControlLoop`.

    Parameters
    ----------
    loop : ControlLoop
        The loop core (its ``publish`` should be the link's).
    evs, jobs : callable, optional
        Providers of the plugged-in vehicles and the job queue at a time.
    """

    def __init__(
        self,
        loop: ControlLoop,
        evs: Callable[[pd.Timestamp], tuple[EVSession, ...]] | None = None,
        jobs: Callable[[pd.Timestamp], tuple[JobItem, ...]] | None = None,
    ) -> None:
        self.loop = loop
        self.evs = evs
        self.jobs = jobs
        self.soc_kwh: float | None = None
        self.battery_available = True
        self.rejected = 0
        self._data_time: int | None = None  # newest park reading's end [ns]
        self._sessions: dict[str, tuple[EVSession, ...]] = {}
        self._queues: dict[str, tuple[JobItem, ...]] = {}
        self._lock = threading.Lock()  # readings, states, snapshot and plan application
        self._ticking = threading.Lock()  # one tick at a time
        park = next((p for p in loop.watch.points if p.id == PARK_POINT), None)
        self._park_meters = {m for m, _ in park.meters} if park else set()
        # interval length of every meter of the site [ns]; a meter the site lacks counts 0
        self._resolution_ns = {m.id: m.resolution_seconds * NS for m in loop.watch.site.meters}

    @property
    def data_time(self) -> pd.Timestamp | None:
        """End of the newest reading of the park's meters (UTC), None before the first."""
        return None if self._data_time is None else from_ns(self._data_time)

    @data_time.setter
    def data_time(self, value: pd.Timestamp | None) -> None:
        self._data_time = None if value is None else to_ns(value)

    def on_reading(self, meter: str, ts: pd.Timestamp, value: float, now: pd.Timestamp) -> None:
        """A reading from MQTT (network thread), ``now`` the time it was received.

        Decisions use the meter's clock: the reading's interval end, or the reception time if
        that is earlier (a meter clock running ahead). Windows are the meter's windows, so the
        time left in one is measured on the same clock.
        """
        self.on_readings(meter, ((to_ns(ts), value),), to_ns(now))

    def on_readings(
        self, meter: str, readings: Iterable[tuple[int, float]], received_ns: int
    ) -> None:
        """The readings of one message (network thread), in their order; see :meth:`on_reading`.

        Parameters
        ----------
        meter : str
            The meter the message is from.
        readings : iterable of (int, float)
            Interval start [ns since the epoch, UTC] and value [the meter's unit] of each.
        received_ns : int
            When the message was received [ns since the epoch, UTC].
        """
        res = self._resolution_ns.get(meter, 0)
        park = meter in self._park_meters
        take = self.loop.take_reading
        with self._lock:
            for ts, value in readings:
                end = ts + res
                take(meter, ts, value, received_ns if received_ns <= end else end)
                if park and (self._data_time is None or end > self._data_time):
                    self._data_time = end

    def on_state(self, asset: str, data: dict[str, Any]) -> None:
        """An asset state from MQTT (network thread); a bad one is counted and ignored."""
        try:
            with self._lock:
                if "soc_kwh" in data and asset in self.loop.battery_ids:
                    soc = data["soc_kwh"]
                    if isinstance(soc, bool) or not isinstance(soc, int | float) or soc < 0:
                        raise DataError(f"{asset}: soc_kwh must be a number >= 0, got {soc!r}")
                    self.soc_kwh = float(soc)
                if "available" in data and asset in self.loop.battery_ids:
                    ok = data["available"]
                    if not isinstance(ok, bool):
                        raise DataError(f"{asset}: available must be true or false, got {ok!r}")
                    if ok != self.battery_available:
                        log.warning(
                            "ESS %s %s", asset, "available again" if ok else
                            f"unavailable ({data.get('fault', 'device fault')}): planned at 0 kW",
                        )  # fmt: skip
                    self.battery_available = ok
                if "sessions" in data:
                    self._sessions[asset] = parse_sessions(data)
                if "jobs" in data:
                    self._queues[asset] = parse_jobs(data)
        except BitgaramError as exc:
            self.rejected += 1
            log.warning("state of %s ignored: %s", asset, exc)

    def snapshot(self, now: pd.Timestamp) -> ParkSnapshot:
        """The state at ``now``: firm load = park rate minus the assets' setpoints in force."""
        rate = 0.0
        if self._park_meters:
            rate = self.loop.watch.status(PARK_POINT).window.rate_kw
        controlled = sum(s.power_kw for s in self.loop.setpoints.values() if s.valid_until > now)
        if self.evs is not None:
            evs = self.evs(now)
        else:
            evs = tuple(v for vs in self._sessions.values() for v in vs if v.departure > now)
        if self.jobs is not None:
            jobs = self.jobs(now)
        else:
            jobs = tuple(
                j
                for js in self._queues.values()
                for j in js
                if j.remaining_steps > 0 and j.deadline > now
            )
        return ParkSnapshot(
            at=now,
            firm_kw=rate - controlled,
            data_time=self.data_time,
            battery_soc_kwh=self.soc_kwh,
            evs=evs,
            jobs=jobs,
            battery_available=self.battery_available,
        )

    def tick(self, now: pd.Timestamp | None = None) -> None:
        """Plan now (main thread): snapshot under the lock, solve without it, apply under it."""
        now = now or pd.Timestamp.now(tz="UTC")
        with self._ticking:
            with self._lock:
                try:
                    snap = self.snapshot(now)
                except Exception:  # never stop the loop: plan on what is known
                    log.exception("snapshot failed; planning without meter data")
                    snap = ParkSnapshot(now, 0.0, None, self.soc_kwh)
                job = self.loop.begin_tick(snap)
            try:
                outcome = self.loop.solve(job)
            except BaseException:  # interrupted: no peak check may stay deferred
                with self._lock:
                    self.loop.finish_tick(job, RuntimeError("planning interrupted"))
                raise
            with self._lock:
                self.loop.finish_tick(job, outcome)

    def run(self, stop: threading.Event, tick_s: float, max_ticks: int | None = None) -> None:
        """Tick at every multiple of ``tick_s`` on the wall clock until ``stop`` is set."""
        n = 0
        while not stop.is_set():
            self.tick(pd.Timestamp.now(tz="UTC").floor(f"{int(tick_s)}s"))
            n += 1
            if max_ticks is not None and n >= max_ticks:
                return
            wait = tick_s - (time.time() % tick_s)
            stop.wait(wait)
