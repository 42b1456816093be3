"""The OCPP central system: EV chargers connect here, sessions in, charging profiles out.

Chargers open a websocket to ``ws://<host>:<port>/<charge point id>``, offering the
``ocpp1.6`` or ``ocpp2.0.1`` subprotocol; only charge points of the registry are accepted
(others are closed with 1008), and only on the version the registry gives them (else 1002).
Each version's messages are handled by its link, :mod:`~bitgaram.devices.ocpp16` or
:mod:`~bitgaram.devices.ocpp201`; what follows holds for both.

- **In**: boot, heartbeat, connector status, authorisation, transactions and their meter
  values (energy register, active power, SoC). Each connector's (EVSE's) transaction is an
  :class:`~bitgaram.devices.ocpp_session.OcppSession`; with fleet data
  (:mod:`~bitgaram.devices.fleet`) it is handed to the planner as an
  :class:`~bitgaram.control.state.EVSession` whose id is the session id ``<cp>.<connector>``.
- **Out**: on every (re)connection the charger gets a ``TxDefaultProfile`` at its safe rate
  for all connectors, so a charger that loses the central system keeps charging within the
  park's limit; an ``ev`` setpoint for a session goes out as a ``TxProfile`` for its
  transaction, valid until the setpoint expires, clamped to ``[0, max_kw]``, and is confirmed
  by reading the charger's composite schedule back. After a reconnection a session's still
  valid setpoint is sent again. A session without fleet data gets no TxProfile: it charges at
  the safe rate of the default profile.
- **Malformed input**: frames that are not OCPP are logged and ignored (the ``ocpp`` package
  cannot answer without a message id); calls failing the schema and meter values that are
  not numbers are answered with a CallError (FormationViolation / FormatViolation), and the
  connection and other chargers carry on.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd
import websockets
from ocpp.exceptions import OCPPError
from websockets.asyncio.server import Server, ServerConnection
from websockets.exceptions import ConnectionClosed

from bitgaram.control.setpoints import Setpoint
from bitgaram.control.state import EVSession
from bitgaram.devices.fleet import Fleet
from bitgaram.devices.ocpp_session import (
    READBACK_TOL_KW,
    SUBPROTOCOLS,
    ChargerConfig,
    ChargerLink,
    HandlingStats,
    MeterSample,
    OcppSession,
    now_utc,
)
from bitgaram.devices.status import Confirmation, DeviceStatus

log = logging.getLogger(__name__)

OnMeter = Callable[[str, pd.Timestamp, float, float], None]


class CentralSystem:
    """The OCPP central system (1.6J and 2.0.1) of one site.

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
        self.status = {c.id: DeviceStatus(c.id, c.protocol) for c in chargers}
        self.sessions: dict[str, OcppSession] = {}
        self.finished: list[OcppSession] = []
        self.stats = HandlingStats()
        self.booted: set[str] = set()
        self.links: dict[str, ChargerLink] = {}
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
            subprotocols=list(SUBPROTOCOLS),  # type: ignore[arg-type]
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

    def _link(self, cp_id: str, ws: ServerConnection) -> ChargerLink:
        from bitgaram.devices.ocpp16 import Ocpp16Link
        from bitgaram.devices.ocpp201 import Ocpp201Link

        if self.chargers[cp_id].protocol == "ocpp2.0.1":
            return Ocpp201Link(cp_id, ws, self)
        return Ocpp16Link(cp_id, ws, self)

    async def _connection(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else "/"
        cp_id = path.rstrip("/").rsplit("/", 1)[-1]
        if cp_id not in self.chargers:
            log.warning("ocpp: unknown charge point %r refused", cp_id)
            await ws.close(1008, f"unknown charge point {cp_id}")
            return
        wanted = self.chargers[cp_id].protocol
        if ws.subprotocol != wanted:
            log.warning(
                "ocpp: charge point %r offered %s, registered as %s: refused",
                cp_id,
                ws.subprotocol or "no subprotocol",
                wanted,
            )
            await ws.close(1002, f"charge point {cp_id} is registered for subprotocol {wanted}")
            return
        link = self._link(cp_id, ws)
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

    async def _configure_unless_booting(self, link: ChargerLink, wait_s: float) -> None:
        await asyncio.sleep(wait_s)
        if not link.booted and self.links.get(link.id) is link:
            await self.configure(link.id)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- sessions -------------------------------------------------------------------
    def start_session(
        self,
        cp_id: str,
        connector: int,
        id_tag: str,
        meter_start_kwh: float,
        started: pd.Timestamp,
        transaction_id: str | None = None,
    ) -> str:
        """Open a session; returns its transaction id (a new number unless the charger's)."""
        if transaction_id is None:
            transaction_id = str(self._next_tx)
            self._next_tx += 1
        s = OcppSession(
            f"{cp_id}.{connector}",
            cp_id,
            connector,
            transaction_id,
            id_tag,
            started,
            meter_start_kwh,
            meter_start_kwh,
        )
        self.sessions[s.id] = s
        self.authorise(s, id_tag)
        return transaction_id

    def authorise(self, session: OcppSession, id_tag: str) -> None:
        """Bind a session to the vehicle planned for ``id_tag`` (if the fleet knows one)."""
        session.id_tag = id_tag
        if not id_tag:
            return
        plan = self.fleet.plan_for(id_tag, session.started_at)
        if plan is not None:
            session.vehicle, session.departure, session.needed_kwh, session.capacity_kwh = plan

    def session_of(self, cp_id: str, transaction_id: str) -> OcppSession | None:
        """The open session of a charger's transaction (None if there is none)."""
        for s in self.sessions.values():
            if s.cp_id == cp_id and s.transaction_id == transaction_id:
                return s
        return None

    def stop_session(
        self, cp_id: str, transaction_id: str, meter_stop_kwh: float | None, ended: pd.Timestamp
    ) -> None:
        """Close the session of a transaction (its register as last metered if not given)."""
        s = self.session_of(cp_id, transaction_id)
        if s is None:
            return
        if meter_stop_kwh is not None:
            s.register_kwh = meter_stop_kwh
        s.ended_at, s.power_kw = ended, 0.0
        self.finished.append(self.sessions.pop(s.id))

    def book_samples(
        self, cp_id: str, session: OcppSession | None, samples: Sequence[MeterSample]
    ) -> None:
        """Book a charger's meter samples: on its session, and as readings of its meter."""
        for m in samples:
            if session is not None:
                session.meter_values += 1
                if m.energy_kwh is not None:
                    if math.isnan(session.meter_start_kwh):
                        session.meter_start_kwh = m.energy_kwh
                    session.register_kwh = m.energy_kwh
                if m.power_kw is not None:
                    session.power_kw = m.power_kw
                if m.soc_pct is not None:
                    session.soc_pct = m.soc_pct
            if m.energy_kwh is not None and self.on_meter is not None:
                power = m.power_kw if m.power_kw is not None else float("nan")
                self.on_meter(cp_id, m.ts, m.energy_kwh, power)

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
        try:
            refused = await link.set_default_limit(cfg.safe_kw)
            if refused is not None:
                self.status[cp_id].fault(f"default profile {refused}")
        except (TimeoutError, OCPPError, ConnectionClosed) as exc:
            self.status[cp_id].fault(f"default profile not set: {type(exc).__name__}: {exc}")
            return
        now = now_utc()
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
                refused = await link.set_session_limit(s, kw)
                if refused is not None:
                    message = f"TxProfile {refused}"
                else:
                    readback = await link.read_limit(s)
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
