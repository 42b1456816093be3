"""OCPP 1.6J central system: EV chargers connect here, sessions in, charging profiles out.

Chargers open a websocket to ``ws://<host>:<port>/<charge point id>`` with the ``ocpp1.6``
subprotocol; only charge points of the registry are accepted (others are closed with 1008).

- **In**: BootNotification, Heartbeat, StatusNotification, Authorize, Start/StopTransaction and
  MeterValues (``Energy.Active.Import.Register`` in Wh or kWh, ``Power.Active.Import`` in W or
  kW, ``SoC`` in %). Each connector's transaction is an :class:`OcppSession`; with fleet data
  (:mod:`~bitgaram.devices.fleet`) it is handed to the planner as an
  :class:`~bitgaram.control.state.EVSession` whose id is the session id ``<cp>.<connector>``.
- **Out**: on every (re)connection the charger gets a ``TxDefaultProfile`` at its safe rate on
  connector 0, so a charger that loses the central system keeps charging within the park's
  limit; an ``ev`` setpoint for a session goes out as a ``TxProfile`` for its transaction,
  valid until the setpoint expires, clamped to ``[0, max_kw]``, and is confirmed by reading the
  charger's composite schedule back (GetCompositeSchedule). After a reconnection a session's
  still valid setpoint is sent again. A session without fleet data gets no TxProfile: it
  charges at the safe rate of the default profile.
- **Malformed input**: frames that are not OCPP are logged and ignored (the ``ocpp`` package
  cannot answer without a message id); calls failing the schema and MeterValues whose values
  are not numbers are answered with a CallError (FormationViolation / FormatViolation), and
  the connection and other chargers carry on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
import websockets
from ocpp.exceptions import FormatViolationError, OCPPError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import (
    Action,
    AuthorizationStatus,
    ChargePointErrorCode,
    ChargingProfileKindType,
    ChargingProfilePurposeType,
    ChargingProfileStatus,
    ChargingRateUnitType,
    RegistrationStatus,
)
from websockets.asyncio.server import Server, ServerConnection
from websockets.exceptions import ConnectionClosed

from bitgaram.control.setpoints import Setpoint
from bitgaram.control.state import EVSession, charger_session
from bitgaram.devices.fleet import Fleet
from bitgaram.devices.status import Confirmation, DeviceStatus

log = logging.getLogger(__name__)

#: Subprotocol of OCPP 1.6 over JSON.
SUBPROTOCOL = "ocpp1.6"
#: Profile ids: one default profile, one TxProfile per connector (a new one replaces it).
DEFAULT_PROFILE_ID = 1
TX_PROFILE_BASE = 100
#: Read-back tolerance [kW]: chargers round limits to whole watts (or amps).
READBACK_TOL_KW = 0.05

OnMeter = Callable[[str, pd.Timestamp, float, float], None]


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
    """

    id: str
    max_kw: float
    safe_kw: float
    asset: str = "ev"
    meter: str | None = None


@dataclass
class OcppSession:
    """One transaction on one connector.

    Energies are at the charger's meter [kWh]; ``departure``/``needed_kwh`` come from the
    fleet file (None: charged at the safe rate, not planned).
    """

    id: str
    cp_id: str
    connector: int
    transaction_id: int
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
        """Energy delivered so far [kWh]."""
        return max(self.register_kwh - self.meter_start_kwh, 0.0)

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


@dataclass
class HandlingStats:
    """Messages handled by the central system and the time each took [s]."""

    messages: int = 0
    durations_s: list[float] = field(default_factory=list)
    malformed: int = 0


def _kwh(value: float, unit: str | None) -> float:
    return value if unit == "kWh" else value / 1000.0


def _kw(value: float, unit: str | None) -> float:
    return value if unit == "kW" else value / 1000.0


class _ChargePointLink(ChargePoint):  # type: ignore[misc]
    """One connected charger, handled by the central system."""

    def __init__(self, cp_id: str, connection: ServerConnection, cs: CentralSystem) -> None:
        super().__init__(cp_id, connection, response_timeout=cs.response_timeout_s)
        self.cs = cs
        self.booted = False

    async def route_message(self, raw_msg: str) -> None:  # type: ignore[override]
        t0 = time.perf_counter()
        self.cs.status[self.id].last_seen = time.time()
        await super().route_message(raw_msg)
        st = self.cs.stats
        st.messages += 1
        st.durations_s.append(time.perf_counter() - t0)

    @on(Action.boot_notification)
    def on_boot(self, charge_point_vendor: str, charge_point_model: str, **_: Any) -> Any:
        return call_result.BootNotification(
            current_time=_now().isoformat(),
            interval=int(self.cs.heartbeat_s),
            status=RegistrationStatus.accepted,
        )

    @after(Action.boot_notification)
    async def after_boot(self, **_: Any) -> None:
        self.booted = True
        self.cs.booted.add(self.id)
        await self.cs.configure(self.id)

    @on(Action.heartbeat)
    def on_heartbeat(self) -> Any:
        return call_result.Heartbeat(current_time=_now().isoformat())

    @on(Action.status_notification)
    def on_status(self, connector_id: int, error_code: str, status: str, **kw: Any) -> Any:
        if error_code != ChargePointErrorCode.no_error:
            self.cs.status[self.id].fault(f"connector {connector_id}: {error_code} ({status})")
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str) -> Any:
        return call_result.Authorize(id_tag_info={"status": AuthorizationStatus.accepted})

    @on(Action.start_transaction)
    def on_start(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **_: Any
    ) -> Any:
        tx = self.cs.start_session(self.id, connector_id, id_tag, meter_start, timestamp)
        return call_result.StartTransaction(
            transaction_id=tx, id_tag_info={"status": AuthorizationStatus.accepted}
        )

    @on(Action.stop_transaction)
    def on_stop(self, meter_stop: int, timestamp: str, transaction_id: int, **_: Any) -> Any:
        self.cs.stop_session(self.id, transaction_id, meter_stop, timestamp)
        return call_result.StopTransaction(id_tag_info={"status": AuthorizationStatus.accepted})

    @on(Action.meter_values)
    def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], **_: Any
    ) -> Any:
        try:
            self.cs.meter_values(self.id, connector_id, meter_value)
        except (ValueError, KeyError, TypeError) as exc:
            self.cs.stats.malformed += 1
            self.cs.status[self.id].fault(f"malformed MeterValues: {exc}")
            raise FormatViolationError(description=f"bad sampled value: {exc}") from exc
        return call_result.MeterValues()


class CentralSystem:
    """The OCPP 1.6J central system of one site.

    Parameters
    ----------
    chargers : sequence of ChargerConfig
        The registry's charge points.
    fleet : Fleet
        idTag -> vehicle plans.
    heartbeat_s : float
        Heartbeat interval given to chargers [s].
    response_timeout_s : float
        How long to wait for a charger's answer [s].
    on_meter : callable, optional
        ``on_meter(cp_id, ts, register_kwh, power_kw)`` per meter value (store readings).
    """

    def __init__(
        self,
        chargers: Sequence[ChargerConfig],
        fleet: Fleet,
        *,
        heartbeat_s: float = 60.0,
        response_timeout_s: float = 10.0,
        on_meter: OnMeter | None = None,
    ) -> None:
        self.chargers = {c.id: c for c in chargers}
        self.fleet = fleet
        self.heartbeat_s = heartbeat_s
        self.response_timeout_s = response_timeout_s
        self.on_meter = on_meter
        #: How long a new connection may take to boot before it is configured anyway [s].
        self.boot_wait_s = 2.0
        self.status = {c.id: DeviceStatus(c.id, "ocpp1.6") for c in chargers}
        self.sessions: dict[str, OcppSession] = {}
        self.finished: list[OcppSession] = []
        self.stats = HandlingStats()
        self.booted: set[str] = set()
        self.links: dict[str, _ChargePointLink] = {}
        self._next_tx = 1
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- server ---------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; returns the port (0 picks a free one)."""
        self._server = await websockets.serve(
            self._connection,
            host,
            port,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
        )
        sock = next(iter(self._server.sockets))
        return int(sock.getsockname()[1])

    async def stop(self) -> None:
        """Close every connection and the server."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for t in list(self._tasks):
            t.cancel()

    async def _connection(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else "/"
        cp_id = path.rstrip("/").rsplit("/", 1)[-1]
        if ws.subprotocol != SUBPROTOCOL:
            await ws.close(1002, "subprotocol ocpp1.6 required")
            return
        if cp_id not in self.chargers:
            log.warning("ocpp: unknown charge point %r refused", cp_id)
            await ws.close(1008, f"unknown charge point {cp_id}")
            return
        link = _ChargePointLink(cp_id, ws, self)
        self.links[cp_id] = link
        st = self.status[cp_id]
        st.connected, st.last_seen = True, time.time()
        # A charger that does not boot again (a reconnection, or a central system restarted
        # under it) still gets its default profile: at once if it booted here before, else
        # after ``boot_wait_s`` without a BootNotification.
        wait = 0.0 if cp_id in self.booted else self.boot_wait_s
        self._spawn(self._configure_unless_booting(link, wait))
        try:
            await link.start()
        except ConnectionClosed:
            pass
        finally:
            if self.links.get(cp_id) is link:
                del self.links[cp_id]
                st.connected = False
                st.fault("disconnected")

    async def _configure_unless_booting(self, link: _ChargePointLink, wait_s: float) -> None:
        await asyncio.sleep(wait_s)
        if not link.booted and self.links.get(link.id) is link:
            await self.configure(link.id)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- sessions -------------------------------------------------------------------
    def start_session(
        self, cp_id: str, connector: int, id_tag: str, meter_start_wh: int, timestamp: str
    ) -> int:
        """Open a session; returns its transaction id."""
        tx = self._next_tx
        self._next_tx += 1
        started = _parse_ts(timestamp)
        start_kwh = meter_start_wh / 1000.0
        s = OcppSession(
            f"{cp_id}.{connector}", cp_id, connector, tx, id_tag, started, start_kwh, start_kwh
        )
        plan = self.fleet.plan_for(id_tag, started)
        if plan is not None:
            s.vehicle, s.departure, s.needed_kwh, s.capacity_kwh = plan
        self.sessions[s.id] = s
        return tx

    def stop_session(self, cp_id: str, tx: int, meter_stop_wh: int, timestamp: str) -> None:
        """Close the session of transaction ``tx``."""
        for sid, s in list(self.sessions.items()):
            if s.cp_id == cp_id and s.transaction_id == tx:
                s.register_kwh = meter_stop_wh / 1000.0
                s.ended_at, s.power_kw = _parse_ts(timestamp), 0.0
                self.finished.append(self.sessions.pop(sid))

    def meter_values(self, cp_id: str, connector: int, values: list[dict[str, Any]]) -> None:
        """Book one MeterValues request (ValueError on a value that is not a number)."""
        session = self.sessions.get(f"{cp_id}.{connector}")
        for mv in values:
            ts = _parse_ts(mv["timestamp"])
            energy = power = None
            for sv in mv["sampled_value"]:
                measurand = sv.get("measurand", "Energy.Active.Import.Register")
                value = float(sv["value"])
                if measurand == "Energy.Active.Import.Register":
                    energy = _kwh(value, sv.get("unit"))
                elif measurand == "Power.Active.Import":
                    power = _kw(value, sv.get("unit"))
                elif measurand == "SoC" and session is not None:
                    session.soc_pct = value
            if session is not None:
                session.meter_values += 1
                if energy is not None:
                    session.register_kwh = energy
                if power is not None:
                    session.power_kw = power
            if energy is not None and self.on_meter is not None:
                self.on_meter(cp_id, ts, energy, power if power is not None else float("nan"))

    def ev_sessions(self) -> dict[str, tuple[EVSession, ...]]:
        """Planned sessions per site asset (the ``{"sessions": ...}`` state messages)."""
        out: dict[str, list[EVSession]] = {c.asset: [] for c in self.chargers.values()}
        for s in self.sessions.values():
            cfg = self.chargers[s.cp_id]
            ev = s.to_ev(cfg.max_kw)
            if ev is not None:
                out[cfg.asset].append(ev)
        return {k: tuple(v) for k, v in out.items()}

    # -- profiles -------------------------------------------------------------------
    async def configure(self, cp_id: str) -> None:
        """Send the safe default profile, then re-send still valid session setpoints."""
        cfg = self.chargers[cp_id]
        link = self.links.get(cp_id)
        if link is None:
            return
        profile = {
            "charging_profile_id": DEFAULT_PROFILE_ID,
            "stack_level": 0,
            "charging_profile_purpose": ChargingProfilePurposeType.tx_default_profile,
            "charging_profile_kind": ChargingProfileKindType.relative,
            "charging_schedule": {
                "charging_rate_unit": ChargingRateUnitType.watts,
                "charging_schedule_period": [{"start_period": 0, "limit": cfg.safe_kw * 1000}],
            },
        }
        try:
            res = await link.call(call.SetChargingProfile(0, profile), suppress=False)
            if res.status != ChargingProfileStatus.accepted:
                self.status[cp_id].fault(f"default profile {res.status}")
        except (TimeoutError, OCPPError, ConnectionClosed) as exc:
            self.status[cp_id].fault(f"default profile not set: {type(exc).__name__}: {exc}")
            return
        now = _now()
        for s in list(self.sessions.values()):
            sp = s.last_setpoint
            if s.cp_id == cp_id and sp is not None and sp.valid_until > now:
                await self.apply(sp)

    async def apply(self, setpoint: Setpoint) -> Confirmation:
        """Send an ``ev`` setpoint to its session's charger and read it back.

        Never raises: an offline charger, a rejection or a timeout is a failed
        :class:`Confirmation` and a fault in the charger's status.
        """
        t0 = time.perf_counter()
        s = self.sessions.get(setpoint.asset)
        if s is None:
            return Confirmation(
                "ocpp",
                setpoint.asset,
                setpoint.power_kw,
                0.0,
                None,
                False,
                time.perf_counter() - t0,
                "no active session",
            )
        cfg = self.chargers[s.cp_id]
        kw = min(max(setpoint.power_kw, 0.0), cfg.max_kw)
        s.last_setpoint = replace(setpoint, power_kw=kw)
        st = self.status[s.cp_id]
        st.last_setpoint_kw = kw
        readback: float | None = None
        message = "" if kw == setpoint.power_kw else f"clamped to {kw:g} kW"
        link = self.links.get(s.cp_id)
        ok = False
        if link is None:
            message = "charger offline: its default profile applies"
        else:
            try:
                res = await link.call(
                    call.SetChargingProfile(s.connector, _tx_profile(s, kw)), suppress=False
                )
                if res.status != ChargingProfileStatus.accepted:
                    message = f"TxProfile {res.status}"
                else:
                    readback = await self._readback(link, s.connector)
                    ok = readback is not None and abs(readback - kw) <= READBACK_TOL_KW
                    if not ok:
                        message = f"read back {readback} kW, sent {kw:g} kW"
            except (TimeoutError, OCPPError, ConnectionClosed) as exc:
                message = f"{type(exc).__name__}: {exc}"
        c = Confirmation(
            s.cp_id,
            setpoint.asset,
            setpoint.power_kw,
            kw,
            readback,
            ok,
            time.perf_counter() - t0,
            message,
        )
        st.confirm(c)
        return c

    async def _readback(self, link: _ChargePointLink, connector: int) -> float | None:
        res = await link.call(
            call.GetCompositeSchedule(connector, 60, ChargingRateUnitType.watts), suppress=False
        )
        periods = (res.charging_schedule or {}).get("charging_schedule_period") or []
        return float(periods[0]["limit"]) / 1000.0 if periods else None


def _tx_profile(s: OcppSession, kw: float) -> dict[str, Any]:
    sp = s.last_setpoint
    assert sp is not None
    return {
        "charging_profile_id": TX_PROFILE_BASE + s.connector,
        "stack_level": 1,
        "charging_profile_purpose": ChargingProfilePurposeType.tx_profile,
        "charging_profile_kind": ChargingProfileKindType.absolute,
        "transaction_id": s.transaction_id,
        "valid_to": sp.valid_until.isoformat(),
        "charging_schedule": {
            "charging_rate_unit": ChargingRateUnitType.watts,
            "start_schedule": sp.valid_from.isoformat(),
            "charging_schedule_period": [{"start_period": 0, "limit": round(kw * 1000, 1)}],
        },
    }


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def _parse_ts(text: str) -> pd.Timestamp:
    ts = pd.Timestamp(text)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")  # OCPP 1.6 timestamps are UTC
    return ts.tz_convert("UTC")
