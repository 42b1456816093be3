"""The live loop: MQTT readings and states in, a tick every interval, setpoints and alerts out.

Readings reach the peak watch as they arrive (so an alert or a peak action is published within
the same callback); every ``tick_s`` (aligned to the clock) the loop plans with the latest
state. The state kept here is what MQTT told: the ESS's ``soc_kwh`` from its state topic and
the newest reading time. EV sessions and the job queue come from ``evs``/``jobs`` providers
(callables); without them the loop plans the ESS alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from bitgaram.control.loop import ControlLoop
from bitgaram.control.state import EVSession, JobItem, ParkSnapshot
from bitgaram.peak.points import PARK_POINT


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
        self.data_time: pd.Timestamp | None = None
        self._lock = threading.Lock()
        park = next((p for p in loop.watch.points if p.id == PARK_POINT), None)
        self._park_meters = {m for m, _ in park.meters} if park else set()

    def on_reading(self, meter: str, ts: pd.Timestamp, value: float, now: pd.Timestamp) -> None:
        """A reading from MQTT (network thread), ``now`` the time it was received.

        Decisions use the meter's clock: the reading's interval end, or the reception time if
        that is earlier (a meter clock running ahead). Windows are the meter's windows, so the
        time left in one is measured on the same clock.
        """
        with self._lock:
            known = any(m.id == meter for m in self.loop.watch.site.meters)
            res = self.loop.watch.site.meter(meter).resolution_seconds if known else 0
            end = pd.Timestamp(ts) + pd.Timedelta(seconds=res)
            self.loop.on_reading(meter, ts, value, min(now, end))
            if meter in self._park_meters:
                self.data_time = end if self.data_time is None else max(self.data_time, end)

    def on_state(self, asset: str, data: dict[str, Any]) -> None:
        """An asset state from MQTT (network thread)."""
        if asset in self.loop.battery_ids and isinstance(data.get("soc_kwh"), int | float):
            self.soc_kwh = float(data["soc_kwh"])

    def snapshot(self, now: pd.Timestamp) -> ParkSnapshot:
        """The state at ``now``: firm load = park rate minus the assets' current setpoints."""
        rate = 0.0
        if self._park_meters:
            rate = self.loop.watch.status(PARK_POINT).window.rate_kw
        controlled = sum(s.power_kw for s in self.loop.setpoints.values())
        return ParkSnapshot(
            at=now,
            firm_kw=rate - controlled,
            data_time=self.data_time,
            battery_soc_kwh=self.soc_kwh,
            evs=self.evs(now) if self.evs else (),
            jobs=self.jobs(now) if self.jobs else (),
        )

    def tick(self, now: pd.Timestamp | None = None) -> None:
        """Plan now (main thread)."""
        now = now or pd.Timestamp.now(tz="UTC")
        with self._lock:
            self.loop.tick(self.snapshot(now))

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
