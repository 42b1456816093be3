"""What the control loop reads at the start of each interval, and its MQTT state messages."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from bitgaram.errors import DataError
from bitgaram.store.base import Store

#: A stored EV session not rewritten for this long is not planned: the device service that
#: kept it up to date is gone, and the vehicle may have left unseen [s].
STORED_SESSION_MAX_AGE_S = 600.0


@dataclass(frozen=True)
class EVSession:
    """A vehicle plugged in now.

    Attributes
    ----------
    id : str
        Session id.
    stored_kwh : float
        Energy in its battery now [kWh].
    required_kwh : float
        Energy needed at departure [kWh].
    capacity_kwh : float
        Battery capacity [kWh].
    departure : pandas.Timestamp
        When it leaves (UTC).
    charger_kw : float
        Charger limit [kW].
    v2g_kw : float
        Discharge limit [kW].
    efficiency : float
        One-way efficiency [-].
    """

    id: str
    stored_kwh: float
    required_kwh: float
    capacity_kwh: float
    departure: pd.Timestamp
    charger_kw: float
    v2g_kw: float = 0.0
    efficiency: float = 0.95

    def min_rate_kw(self, now: pd.Timestamp) -> float:
        """Lowest constant charging power that still meets the departure energy [kW].

        The even rate ``need / time left``, at most the charger limit: charging at it from
        now on delivers exactly the required energy at departure.

        Examples
        --------
        >>> ev = EVSession("v", 10.0, 29.0, 60.0, pd.Timestamp("2026-08-03 12:00", tz="UTC"), 11.0,
        ...                efficiency=0.95)
        >>> ev.min_rate_kw(pd.Timestamp("2026-08-03 10:00", tz="UTC"))
        10.0
        """
        hours = (self.departure - now).total_seconds() / 3600.0
        need = max(self.required_kwh - self.stored_kwh, 0.0) / self.efficiency
        if need <= 0:
            return 0.0
        if hours <= 0:
            return self.charger_kw
        return float(min(need / hours, self.charger_kw))


def charger_session(
    session_id: str,
    delivered_kwh: float,
    needed_kwh: float | None,
    capacity_kwh: float,
    departure: pd.Timestamp | datetime | None,
    charger_kw: float,
) -> EVSession | None:
    """The planner's view of a session at a charger, energies at the charger's meter.

    The energy delivered so far stands for the stored energy and the energy needed by the
    departure for the required energy (both counted at the meter, so efficiency 1). None
    without a departure or a need (such a vehicle is charged at the charger's safe rate).

    Examples
    --------
    >>> ev = charger_session("cp1.1", 5.0, 30.0, 60.0, pd.Timestamp("2026-06-10 18:00+09:00"), 22.0)
    >>> ev.required_kwh - ev.stored_kwh, str(ev.departure)
    (25.0, '2026-06-10 09:00:00+00:00')
    """
    if departure is None or needed_kwh is None:
        return None
    return EVSession(
        session_id,
        stored_kwh=delivered_kwh,
        required_kwh=needed_kwh,
        capacity_kwh=max(capacity_kwh, needed_kwh),
        departure=pd.Timestamp(departure).tz_convert("UTC"),
        charger_kw=charger_kw,
        efficiency=1.0,
    )


def stored_sessions(
    store: Store, site_id: str, max_age_s: float = STORED_SESSION_MAX_AGE_S
) -> Callable[[pd.Timestamp], tuple[EVSession, ...]]:
    """The vehicles plugged in at a time, from the store's ``ev_sessions`` (OCPP chargers).

    For :class:`~bitgaram.control.live.LiveController`'s ``evs``: the sessions the device
    service keeps in the store (``bitgaram devices run --store``), plugged in at ``now``,
    rewritten within ``max_age_s`` [s], with a departure still ahead.
    """

    def evs(now: pd.Timestamp) -> tuple[EVSession, ...]:
        out = []
        for r in store.read_ev_sessions(site_id, at=now):
            if (now - pd.Timestamp(r.updated_at)).total_seconds() > max_age_s:
                continue
            ev = charger_session(
                r.session_id, r.delivered_kwh, r.needed_kwh, r.capacity_kwh, r.departure,
                r.charger_kw,
            )  # fmt: skip
            if ev is not None and ev.departure > now:
                out.append(ev)
        return tuple(out)

    return evs


@dataclass(frozen=True)
class JobItem:
    """A deferrable job in the queue.

    Attributes
    ----------
    id : str
        Job id.
    power_kw : float
        Power while running [kW].
    remaining_steps : int
        Running steps left.
    earliest : pandas.Timestamp
        When it may start (UTC).
    deadline : pandas.Timestamp
        When it must be finished (UTC).
    interruptible : bool
        Whether it may pause.
    started : bool
        Whether it has run (a non-interruptible one then continues).
    priority : int
        Lower is deferred first by peak actions.
    """

    id: str
    power_kw: float
    remaining_steps: int
    earliest: pd.Timestamp
    deadline: pd.Timestamp
    interruptible: bool = True
    started: bool = False
    priority: int = 0


@dataclass(frozen=True)
class ParkSnapshot:
    """The park's state at the start of an interval.

    Attributes
    ----------
    at : pandas.Timestamp
        Start of the interval (UTC).
    firm_kw : float
        Latest measured inflexible net load (loads - PV, without the controlled assets) [kW].
    data_time : pandas.Timestamp or None
        End of the newest meter reading behind ``firm_kw`` (None: no data yet).
    battery_soc_kwh : float or None
        Stored energy of the ESS above its minimum [kWh] (None: unknown).
    evs : tuple of EVSession
        Vehicles plugged in.
    jobs : tuple of JobItem
        Jobs not finished.
    firm_forecast_kw : numpy.ndarray or None
        Forecast of ``firm_kw`` for the next steps [kW]; None = the planner's own forecast.
    battery_available : bool
        Whether the ESS takes setpoints (False: its PCS rejected or ignored the last write;
        the planner leaves it out, 0 kW, until the device confirms a write again).
    """

    at: pd.Timestamp
    firm_kw: float
    data_time: pd.Timestamp | None
    battery_soc_kwh: float | None = None
    evs: tuple[EVSession, ...] = ()
    jobs: tuple[JobItem, ...] = ()
    firm_forecast_kw: np.ndarray | None = None
    battery_available: bool = True

    def data_age_s(self) -> float:
        """Age of the newest reading at ``at`` [s] (infinite without data)."""
        if self.data_time is None:
            return float("inf")
        return float((self.at - self.data_time).total_seconds())


def _ts(value: object, field: str) -> pd.Timestamp:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise DataError(f"{field}: expected ISO 8601 text or epoch seconds, got {value!r}")
    ts = pd.Timestamp(value, unit="s") if isinstance(value, int | float) else pd.Timestamp(value)
    if ts.tzinfo is None:
        raise DataError(f"{field}: timestamp {value!r} has no UTC offset")
    return ts.tz_convert("UTC")


def _num(item: Mapping[str, object], key: str, default: float | None = None) -> float:
    value = item.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataError(f"{key}: expected a number, got {value!r}")
    return float(value)


def parse_sessions(data: Mapping[str, object]) -> tuple[EVSession, ...]:
    """EV sessions from a charger's state message.

    ``{"sessions": [{"id": ..., "stored_kwh": ..., "required_kwh": ..., "capacity_kwh": ...,
    "departure": ISO 8601, "charger_kw": ..., "v2g_kw": 0, "efficiency": 0.95}, ...]}``

    Raises
    ------
    DataError
        Naming the first bad field.
    """
    items = data.get("sessions")
    if not isinstance(items, list):
        raise DataError("sessions: expected a list")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            raise DataError(f"sessions[{i}]: expected an object with a text id")
        out.append(
            EVSession(
                id=str(item["id"]),
                stored_kwh=_num(item, "stored_kwh"),
                required_kwh=_num(item, "required_kwh"),
                capacity_kwh=_num(item, "capacity_kwh"),
                departure=_ts(item.get("departure"), f"sessions[{i}].departure"),
                charger_kw=_num(item, "charger_kw"),
                v2g_kw=_num(item, "v2g_kw", 0.0),
                efficiency=_num(item, "efficiency", 0.95),
            )
        )
    return tuple(out)


def parse_jobs(data: Mapping[str, object]) -> tuple[JobItem, ...]:
    """The job queue from a state message.

    ``{"jobs": [{"id": ..., "power_kw": ..., "remaining_steps": ..., "earliest": ISO 8601,
    "deadline": ISO 8601, "interruptible": true, "started": false, "priority": 0}, ...]}``

    Raises
    ------
    DataError
        Naming the first bad field.
    """
    items = data.get("jobs")
    if not isinstance(items, list):
        raise DataError("jobs: expected a list")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            raise DataError(f"jobs[{i}]: expected an object with a text id")
        out.append(
            JobItem(
                id=str(item["id"]),
                power_kw=_num(item, "power_kw"),
                remaining_steps=int(_num(item, "remaining_steps")),
                earliest=_ts(item.get("earliest"), f"jobs[{i}].earliest"),
                deadline=_ts(item.get("deadline"), f"jobs[{i}].deadline"),
                interruptible=bool(item.get("interruptible", True)),
                started=bool(item.get("started", False)),
                priority=int(_num(item, "priority", 0)),
            )
        )
    return tuple(out)
