"""OpenADR 2.0b VEN (openleadr): demand-response events in, import caps out, telemetry back.

The VEN registers with the VTN, polls it, and turns each event into a :class:`DrEvent`:

- ``LOAD_CONTROL`` / ``x-loadControlCapacity``: the payload is the park's import target [kW];
- ``SIMPLE`` (level 0-3): the policy maps the level to a target (``level_caps_kw``).

An opt-in/opt-out policy (:class:`OptPolicy`) answers each event (oadrCreatedEvent): too short
notice, a level without a target, or a target below what the park can reach are opted out,
with the reason logged. Opted-in events are the planner's import caps for their windows
(:meth:`Ven.caps`; :class:`CappedPlanner` applies them). The VEN keeps its own copy of the
events: if the VTN goes away the VEN goes on polling (openleadr logs and retries every poll
period; a failed registration is retried with back-off) and the events it has stay in force
until they end. Telemetry (the park's import [kW]) is reported on the VTN's request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from openleadr import OpenADRClient

from bitgaram.control.planner import ParkPlanner
from bitgaram.control.state import ParkSnapshot
from bitgaram.devices.status import DeviceStatus
from bitgaram.optimize.park import ParkInputs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrEvent:
    """One demand-response event as the VEN understood it.

    Attributes
    ----------
    id : str
    start, end : pandas.Timestamp
        The active period (UTC).
    target_kw : float or None
        Import cap during the event [kW] (None: no usable target).
    signal : str
        ``<signal name>/<signal type>``.
    level : float or None
        Payload of a SIMPLE signal.
    opted_in : bool
    reason : str
        Why the policy opted out.
    """

    id: str
    start: pd.Timestamp
    end: pd.Timestamp
    target_kw: float | None
    signal: str
    level: float | None = None
    opted_in: bool = False
    reason: str = ""


@dataclass(frozen=True)
class OptPolicy:
    """When the park takes part.

    Attributes
    ----------
    min_notice_s : float
        Least notice before the start [s]; shorter is opted out.
    min_target_kw : float
        Lowest import the park can reach [kW]; a lower target is opted out.
    level_caps_kw : mapping
        SIMPLE level -> import cap [kW].
    """

    min_notice_s: float = 0.0
    min_target_kw: float = 0.0
    level_caps_kw: Mapping[int, float] = field(default_factory=dict)

    def decide(self, ev: DrEvent, now: pd.Timestamp) -> DrEvent:
        """The event with the policy's answer."""
        if ev.target_kw is None:
            return replace(ev, opted_in=False, reason=f"no import target for {ev.signal}")
        if (ev.start - now).total_seconds() < self.min_notice_s and ev.start > now:
            return replace(ev, opted_in=False, reason="notice shorter than the policy's minimum")
        if ev.target_kw < self.min_target_kw:
            return replace(
                ev,
                opted_in=False,
                reason=f"target {ev.target_kw:g} kW below {self.min_target_kw:g}",
            )
        return replace(ev, opted_in=True, reason="")


def parse_event(event: Mapping[str, Any], policy: OptPolicy) -> list[DrEvent]:
    """DrEvents (one per interval) of an openleadr event dict.

    Raises
    ------
    KeyError, ValueError, TypeError
        On a malformed event (the caller opts out).
    """
    eid = str(event["event_descriptor"]["event_id"])
    out = []
    for sig in event["event_signals"]:
        name, stype = str(sig["signal_name"]), str(sig.get("signal_type", ""))
        for iv in sig["intervals"]:
            start = pd.Timestamp(iv["dtstart"]).tz_convert("UTC")
            end = start + pd.Timedelta(iv["duration"])
            payload = float(iv["signal_payload"])
            target: float | None = None
            level = None
            if name == "LOAD_CONTROL" and stype == "x-loadControlCapacity":
                target = payload
            elif name == "SIMPLE":
                level = payload
                target = policy.level_caps_kw.get(int(payload))
            if target is not None and not np.isfinite(target):
                raise ValueError(f"event {eid}: target {target} is not a number")
            out.append(
                DrEvent(f"{eid}#{iv.get('uid', 0)}", start, end, target, f"{name}/{stype}", level)
            )
    return out


class Ven:
    """The VEN of one site.

    Parameters
    ----------
    vtn_url : str
        ``http://host:port/OpenADR2/Simple/2.0b``.
    ven_name : str
    policy : OptPolicy
    telemetry : callable, optional
        Returns the park's import now [kW] (reported to the VTN).
    report_s : float
        Telemetry sampling period [s].
    retry_s : float
        First back-off of a failed registration [s] (doubles, at most 60 s).
    """

    def __init__(
        self,
        vtn_url: str,
        ven_name: str,
        policy: OptPolicy | None = None,
        telemetry: Callable[[], float] | None = None,
        report_s: float = 60.0,
        retry_s: float = 1.0,
    ) -> None:
        self.vtn_url, self.ven_name = vtn_url, ven_name
        self.policy = policy or OptPolicy()
        self.telemetry = telemetry
        self.report_s, self.retry_s = report_s, retry_s
        self.events: dict[str, DrEvent] = {}
        self.status = DeviceStatus(ven_name, "openadr2.0b")
        self.client: OpenADRClient | None = None
        self.registrations = 0
        self._task: asyncio.Task[None] | None = None

    def _new_client(self) -> OpenADRClient:
        c = OpenADRClient(ven_name=self.ven_name, vtn_url=self.vtn_url, allow_jitter=False)
        c.add_handler("on_event", self._on_event)
        c.add_handler("on_update_event", self._on_event)
        if self.telemetry is not None:
            tel = self.telemetry
            c.add_report(
                callback=lambda: float(tel()),
                resource_id="park",
                measurement="power_real",
                unit="W",
                scale="k",
                report_specifier_id="park-import",
                r_id="import",
                sampling_rate=timedelta(seconds=self.report_s),
                report_duration=timedelta(hours=1),
            )
        return c

    async def _on_event(self, event: dict[str, Any]) -> str:
        self.status.last_seen = asyncio.get_running_loop().time()
        now = pd.Timestamp.now(tz="UTC")
        try:
            parsed = parse_event(event, self.policy)
        except (KeyError, ValueError, TypeError) as exc:
            self.status.fault(f"malformed event: {exc}; opted out")
            log.warning("openadr: malformed event %s: %s; opting out", event, exc)
            return "optOut"
        status = str(event.get("event_descriptor", {}).get("event_status", ""))
        decided = [self.policy.decide(e, now) for e in parsed]
        for e in decided:
            if status == "cancelled":
                self.events.pop(e.id, None)
            else:
                self.events[e.id] = e
            if not e.opted_in:
                log.info("openadr: opting out of %s: %s", e.id, e.reason)
        return "optIn" if decided and all(e.opted_in for e in decided) else "optOut"

    async def start(self) -> None:
        """Register (retrying in the background until the VTN answers)."""
        self._task = asyncio.ensure_future(self._register_loop())

    async def _register_loop(self) -> None:
        delay = self.retry_s
        while True:
            client = self._new_client()
            await client.run()
            if client.registration_id:
                self.client = client
                self.registrations += 1
                self.status.connected = True
                return
            self.status.fault(f"VTN {self.vtn_url} did not register us; retry in {delay:g} s")
            with contextlib.suppress(Exception):
                await client.stop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)

    async def wait_registered(self, timeout: float = 10.0) -> None:
        """Wait for the registration (TimeoutError after ``timeout`` [s])."""
        assert self._task is not None
        await asyncio.wait_for(asyncio.shield(self._task), timeout)

    async def stop(self) -> None:
        """Stop polling."""
        if self._task is not None:
            self._task.cancel()
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.stop()

    def prune(self, now: pd.Timestamp) -> None:
        """Forget events that have ended."""
        for k in [k for k, e in self.events.items() if e.end <= now]:
            del self.events[k]

    def caps(self, starts: pd.DatetimeIndex, step_s: float) -> np.ndarray:
        """Import cap per interval [kW] from the opted-in events (see :func:`import_caps`)."""
        return import_caps(self.events.values(), starts, step_s)


def import_caps(events: Iterable[DrEvent], starts: pd.DatetimeIndex, step_s: float) -> np.ndarray:
    """Import cap per interval [kW] from opted-in events (inf: none).

    An interval overlapping an event is capped at the event's target (the lowest of several).
    """
    out = np.full(len(starts), np.inf)
    ends = starts + pd.Timedelta(seconds=step_s)
    for e in events:
        if e.opted_in and e.target_kw is not None:
            hit = np.asarray((starts < e.end) & (ends > e.start))
            out[hit] = np.minimum(out[hit], e.target_kw)
    return out


def event_json(e: DrEvent) -> dict[str, Any]:
    """An event as published by the device service (``<prefix>/<site>/dr/state``)."""
    return {
        "id": e.id,
        "start": e.start.isoformat(),
        "end": e.end.isoformat(),
        "target_kw": e.target_kw,
        "signal": e.signal,
        "opted_in": e.opted_in,
        "reason": e.reason,
    }


class DrCaps:
    """The DR events of the device service's state messages, as the planner's import caps.

    For ``bitgaram control run --dr``: the loop's MQTT link hands the ``dr`` asset's state
    (``{"events": [...]}``, retained) to :meth:`on_state`; :class:`CappedPlanner` calls
    :meth:`caps`. A bad message is logged and the previous events stay.
    """

    def __init__(self) -> None:
        self.events: tuple[DrEvent, ...] = ()
        self._lock = threading.Lock()

    def on_state(self, data: Mapping[str, Any]) -> None:
        """Replace the events by those of a state message."""
        try:
            events = tuple(
                DrEvent(
                    str(d["id"]),
                    pd.Timestamp(d["start"]).tz_convert("UTC"),
                    pd.Timestamp(d["end"]).tz_convert("UTC"),
                    None if d.get("target_kw") is None else float(d["target_kw"]),
                    str(d.get("signal", "")),
                    opted_in=bool(d["opted_in"]),
                )
                for d in data["events"]
            )
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("dr state message ignored: %s", exc)
            return
        with self._lock:
            self.events = events

    def caps(self, starts: pd.DatetimeIndex, step_s: float) -> np.ndarray:
        """Import cap per interval [kW]."""
        with self._lock:
            events = self.events
        return import_caps(events, starts, step_s)


class CappedPlanner(ParkPlanner):
    """The park planner with demand-response import caps on the intervals they cover.

    Parameters
    ----------
    caps : callable
        ``caps(interval starts (UTC), step [s]) -> import cap per interval [kW]``, e.g.
        :meth:`Ven.caps`.
    *args, **kwargs
        Passed to :class:`~bitgaram.control.planner.ParkPlanner`.
    """

    def __init__(
        self, *args: Any, caps: Callable[[pd.DatetimeIndex, float], np.ndarray], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.caps = caps

    def inputs(self, snap: ParkSnapshot, month_peak_kw: float, target_kw: float) -> ParkInputs:
        """The park problem with the caps folded into the per-interval import limit."""
        inp = super().inputs(snap, month_peak_kw, target_kw)
        starts = pd.date_range(snap.at, periods=inp.horizon, freq=f"{int(self.interval_s)}s")
        cap = self.caps(starts, self.interval_s)
        if not np.isfinite(cap).any():
            return inp
        base = np.inf if inp.limit_kw is None else inp.limit_kw
        return replace(inp, limit_kw=np.minimum(base, cap))
