"""What every OCPP version shares: the charger registry, transactions and meter samples.

The central system (:mod:`~bitgaram.devices.ocpp_central`) keeps one :class:`OcppSession` per
transaction, whichever protocol version the charger speaks; each version's link
(:mod:`~bitgaram.devices.ocpp16`, :mod:`~bitgaram.devices.ocpp201`) turns its messages into
:class:`MeterSample` values and its charging-profile calls into the :class:`ChargerLink`
operations the central system asks for.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import pandas as pd

from bitgaram.control.setpoints import Setpoint
from bitgaram.control.state import EVSession, charger_session

if TYPE_CHECKING:
    from bitgaram.devices.ocpp_central import CentralSystem

#: OCPP versions the central system speaks, by their websocket subprotocol.
OcppVersion = Literal["ocpp1.6", "ocpp2.0.1"]
#: Subprotocols offered to connecting chargers, preferred first.
SUBPROTOCOLS: tuple[OcppVersion, ...] = ("ocpp2.0.1", "ocpp1.6")
#: Profile ids: one default profile, one TxProfile per connector (a new one replaces it).
DEFAULT_PROFILE_ID = 1
TX_PROFILE_BASE = 100
#: Read-back tolerance [kW]: chargers round limits to whole watts (or amps).
READBACK_TOL_KW = 0.05


@dataclass(frozen=True)
class ChargerConfig:
    """One charge point of the registry.

    Attributes
    ----------
    id : str
        Charge point id (last path segment of its websocket URL).
    max_kw : float
        Charger limit [kW].
    safe_kw : float
        Rate of the default profile [kW]: safe for the park if every charger draws it.
    asset : str
        Site asset (``ev_charger``) whose state message carries this charger's sessions.
    meter : str or None
        Site meter its energy is stored under.
    protocol : {"ocpp1.6", "ocpp2.0.1"}
        The OCPP version it speaks; a connection negotiating another one is refused.
    """

    id: str
    max_kw: float
    safe_kw: float
    asset: str = "ev"
    meter: str | None = None
    protocol: OcppVersion = "ocpp1.6"


@dataclass
class OcppSession:
    """One transaction on one connector (OCPP 1.6) or EVSE (OCPP 2.0.1).

    Energies are at the charger's meter [kWh]; ``departure``/``needed_kwh`` come from the
    fleet file (None: charged at the safe rate, not planned). ``transaction_id`` is the
    central system's number in OCPP 1.6 and the charging station's id in OCPP 2.0.1.
    ``meter_start_kwh`` is NaN until the register is first metered (an OCPP 2.0.1
    transaction that starts without an energy sample).
    """

    id: str
    cp_id: str
    connector: int
    transaction_id: str
    id_tag: str
    started_at: pd.Timestamp
    meter_start_kwh: float
    register_kwh: float
    vehicle: str | None = None
    departure: pd.Timestamp | None = None
    needed_kwh: float | None = None
    capacity_kwh: float = 100.0
    power_kw: float = 0.0
    soc_pct: float | None = None
    ended_at: pd.Timestamp | None = None
    last_setpoint: Setpoint | None = None
    meter_values: int = 0

    @property
    def delivered_kwh(self) -> float:
        """Energy delivered so far [kWh] (0 before the register is first metered)."""
        delivered = self.register_kwh - self.meter_start_kwh
        return delivered if delivered > 0.0 else 0.0

    def to_ev(self, charger_kw: float) -> EVSession | None:
        """The planner's view of the session (None without fleet data)."""
        return charger_session(
            self.id,
            self.delivered_kwh,
            self.needed_kwh,
            self.capacity_kwh,
            self.departure,
            charger_kw,
        )


@dataclass(frozen=True)
class MeterSample:
    """One metered instant of a connector, in the central system's units.

    Attributes
    ----------
    ts : pandas.Timestamp
        When it was measured (UTC).
    energy_kwh : float or None
        Import register [kWh].
    power_kw : float or None
        Active import power [kW].
    soc_pct : float or None
        Vehicle state of charge [%].
    """

    ts: pd.Timestamp
    energy_kwh: float | None = None
    power_kw: float | None = None
    soc_pct: float | None = None


@dataclass
class HandlingStats:
    """Messages handled by the central system and the time each took [s]."""

    messages: int = 0
    durations_s: list[float] = field(default_factory=list)
    malformed: int = 0


class ChargerLink(Protocol):
    """What the central system asks of one connected charger, whatever its OCPP version.

    Each operation raises ``TimeoutError``, :class:`ocpp.exceptions.OCPPError` or
    :class:`websockets.exceptions.ConnectionClosed` when the charger does not answer.
    """

    id: str
    booted: bool

    async def start(self) -> None:
        """Serve the connection until it closes."""

    async def set_default_limit(self, kw: float) -> str | None:
        """Install the default profile at ``kw`` [kW]; None if accepted, else the status."""

    async def set_session_limit(self, session: OcppSession, kw: float) -> str | None:
        """Install a TxProfile of ``kw`` [kW] until the session's setpoint expires."""

    async def read_limit(self, session: OcppSession) -> float | None:
        """The limit in force on the session's connector now [kW] (composite schedule)."""


class CentralLinkCore:
    """What every version's link shares (a mixin before the version's ``ChargePoint``): its
    central system, its boot flag, and the time each message takes (``cs.stats``)."""

    id: str

    if TYPE_CHECKING:  # provided by ocpp's ChargePoint

        def __init__(self, *args: Any, **kwargs: Any) -> None: ...
        async def route_message(self, raw_msg: str) -> None: ...

    def _attach(self, cs: CentralSystem) -> None:
        self.cs = cs
        self.booted = False

    async def _timed_route(self, raw_msg: str, route: Callable[[str], Any]) -> None:
        t0 = time.perf_counter()
        self.cs.status[self.id].last_seen = time.time()
        await route(raw_msg)
        st = self.cs.stats
        st.messages += 1
        st.durations_s.append(time.perf_counter() - t0)


#: A sampled value's unit and power-of-ten multiplier, as its version carries them.
UnitOf = Callable[[dict[str, Any]], tuple[str | None, int]]


def samples_of(values: Iterable[dict[str, Any]], unit_of: UnitOf) -> list[MeterSample]:
    """``meterValue`` entries (either version, keys in snake case) as samples.

    Parameters
    ----------
    values : iterable of dict
        Entries with ``timestamp`` and ``sampled_value``.
    unit_of : callable
        A sampled value's (unit, multiplier).

    Raises
    ------
    ValueError, KeyError, TypeError
        On a value that is not a finite number or an entry without its fields.
    """
    out = []
    for mv in values:
        energy = power = soc = None
        for sv in mv["sampled_value"]:
            measurand = sv.get("measurand", "Energy.Active.Import.Register")
            value = float(sv["value"])
            if not math.isfinite(value):
                raise ValueError(f"sampled value {sv['value']!r} is not a finite number")
            unit, multiplier = unit_of(sv)
            if measurand == "Energy.Active.Import.Register":
                energy = energy_kwh(value, unit, multiplier)
            elif measurand == "Power.Active.Import":
                power = power_kw(value, unit, multiplier)
            elif measurand == "SoC":
                soc = value
        out.append(MeterSample(parse_ts(mv["timestamp"]), energy, power, soc))
    return out


def energy_kwh(value: float, unit: str | None, multiplier: int = 0) -> float:
    """An energy register in kWh from its value, unit (``Wh`` default) and power of ten."""
    value *= 10.0**multiplier
    return value if unit == "kWh" else value / 1000.0


def power_kw(value: float, unit: str | None, multiplier: int = 0) -> float:
    """A power in kW from its value, unit (``W`` default) and power of ten."""
    value *= 10.0**multiplier
    return value if unit == "kW" else value / 1000.0


def now_utc() -> pd.Timestamp:
    """The current time (UTC)."""
    return pd.Timestamp.now(tz="UTC")


def parse_ts(text: str) -> pd.Timestamp:
    """An OCPP timestamp as UTC (one without an offset is UTC, as OCPP specifies)."""
    ts = pd.Timestamp(text)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert("UTC")
