"""Simulated peers on the real protocol packages, for tests, benches and demonstrations.

- :class:`SimCharger`: an OCPP 1.6J charge point built on ``ocpp``'s ChargePoint class over a
  real websocket. It honours charging profiles the way chargers do: a valid TxProfile for its
  transaction first, else the TxDefaultProfile, else its own maximum; it keeps charging while
  disconnected and reports the meter when it is back. (OCPP 2.0.1:
  :class:`bitgaram.devices.sim_ocpp201.SimStation`.)
- :class:`SimPcs` / :class:`SimInverter` with :func:`start_modbus_server`: a pymodbus TCP server
  holding the project's register maps (:mod:`bitgaram.devices.modbus_write`), where the PCS's
  SoC follows the power written to it and the PV inverter caps its export at the written limit.

Energy runs ``speed`` times faster than the wall clock (1: real time).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import (
    Action,
    ChargePointErrorCode,
    ChargePointStatus,
    ChargingProfileStatus,
    ClearChargingProfileStatus,
    GetCompositeScheduleStatus,
    Measurand,
    UnitOfMeasure,
)
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from bitgaram.collect.modbus import (
    Register,
    RegisterMap,
    decode_value,
    encode_value,
    load_register_map,
)
from bitgaram.devices.sunspec import SUNS_MARKER, layout, model_length, sunspec_map


@dataclass
class _Profile:
    limit_kw: float
    valid_to: pd.Timestamp | None
    tx: int | str | None


class ChargerSimCore:
    """What a simulated charger does whatever OCPP version it speaks (a mixin before the
    version's ``ChargePoint``): its websocket, the profiles it honours, the energy it delivers.
    """

    #: Websocket subprotocol the charger offers.
    subprotocol = "ocpp1.6"
    id: str
    tx: int | str | None

    if TYPE_CHECKING:  # provided by ocpp's ChargePoint

        async def start(self) -> None: ...
        async def call(self, payload: Any, suppress: bool = True) -> Any: ...

    def _setup(self, url: str, max_kw: float, meter_interval_s: float, speed: float) -> None:
        self.url, self.max_kw = url.rstrip("/"), max_kw
        self.meter_interval_s, self.speed = meter_interval_s, speed
        self.profiles: dict[str, _Profile] = {}
        self.register_wh = 0.0
        self.power_kw = 0.0
        self.tx = None
        self.online = False
        self.sent = 0
        self._reader: asyncio.Task[None] | None = None
        self._ws: Any = None

    async def _open(self, subprotocol: str | None = None) -> None:
        self._ws = await websockets.connect(
            f"{self.url}/{self.id}",
            subprotocols=[subprotocol or self.subprotocol],  # type: ignore[list-item]
        )
        self._connection = self._ws
        self._response_queue: asyncio.Queue[Any] = asyncio.Queue()
        self._reader = asyncio.ensure_future(self._read())
        self.online = True

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.start()
        self.online = False

    async def disconnect(self) -> None:
        """Drop the connection (the charger keeps charging on its own)."""
        self.online = False
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    def _heartbeat(self) -> Any:
        raise NotImplementedError

    async def heartbeats(self, interval_s: float) -> None:
        """Send a Heartbeat every ``interval_s`` [s] while online (until cancelled)."""
        while True:
            await asyncio.sleep(interval_s)
            if self.online:
                with contextlib.suppress(Exception):
                    await self.call(self._heartbeat())
                    self.sent += 1

    def limit_kw(self, now: pd.Timestamp | None = None) -> float:
        """The limit in force: valid TxProfile, else default profile, else ``max_kw``."""
        now = now or pd.Timestamp.now(tz="UTC")
        for purpose in ("TxProfile", "TxDefaultProfile"):
            p = self.profiles.get(purpose)
            if p is None or (p.valid_to is not None and p.valid_to <= now):
                continue
            if purpose == "TxProfile" and p.tx is not None and p.tx != self.tx:
                continue
            return min(p.limit_kw, self.max_kw)
        return self.max_kw

    def _take_profile(self, profile: dict[str, Any], schedule: dict[str, Any]) -> bool:
        """Keep a TxProfile or TxDefaultProfile (False: a purpose it does not support)."""
        purpose = profile["charging_profile_purpose"]
        if purpose not in ("TxProfile", "TxDefaultProfile"):
            return False
        limit = float(schedule["charging_schedule_period"][0]["limit"]) / 1000.0
        valid_to = pd.Timestamp(profile["valid_to"]) if profile.get("valid_to") else None
        self.profiles[purpose] = _Profile(limit, valid_to, profile.get("transaction_id"))
        return True

    async def _deliver(
        self,
        needed_kwh: float,
        ev_kw: float | None,
        max_s: float,
        report: Callable[[float], Awaitable[None]],
    ) -> float:
        """Charge until ``needed_kwh`` or ``max_s``; ``report(now)`` each interval while online.

        Returns the register at the start [Wh].
        """
        start = self.register_wh
        t_last = time.monotonic()
        t_end = t_last + max_s
        while (self.register_wh - start) / 1000.0 < needed_kwh and time.monotonic() < t_end:
            await asyncio.sleep(self.meter_interval_s)
            now = time.monotonic()
            self.power_kw = min(self.limit_kw(), ev_kw if ev_kw is not None else self.max_kw)
            left_wh = needed_kwh * 1000.0 - (self.register_wh - start)
            self.register_wh += min(self.power_kw * (now - t_last) * self.speed / 3.6, left_wh)
            t_last = now
            if self.online:
                with contextlib.suppress(Exception):
                    await report(now)
        self.power_kw = 0.0
        return start


class SimCharger(ChargerSimCore, ChargePoint):  # type: ignore[misc]
    """A simulated single-connector OCPP 1.6J charger.

    Parameters
    ----------
    cp_id : str
    url : str
        Central system base URL (``ws://127.0.0.1:9000``); the id is appended.
    max_kw : float
        Hardware limit [kW].
    meter_interval_s : float
        Wall-clock seconds between MeterValues.
    speed : float
        Simulated seconds per wall-clock second.
    """

    def __init__(
        self, cp_id: str, url: str, max_kw: float, meter_interval_s: float = 1.0, speed: float = 1.0
    ) -> None:
        ChargePoint.__init__(self, cp_id, None, response_timeout=10)
        self._setup(url, max_kw, meter_interval_s, speed)

    # -- connection -----------------------------------------------------------------
    async def connect(self, boot: bool = True) -> None:
        """Open the websocket (and boot)."""
        await self._open()
        if boot:
            await self.call(call.BootNotification("sim", "bitgaram"))
            await self.status(ChargePointStatus.available)

    def _heartbeat(self) -> Any:
        return call.Heartbeat()

    async def send_raw(self, text: str) -> None:
        """Send a frame as is (malformed-message tests)."""
        await self._ws.send(text)

    async def status(self, status: ChargePointStatus) -> None:
        """StatusNotification of connector 1."""
        await self.call(call.StatusNotification(1, ChargePointErrorCode.no_error, status))

    # -- behaviour ------------------------------------------------------------------
    async def charge(
        self, id_tag: str, needed_kwh: float, ev_kw: float | None = None, max_s: float = 1e9
    ) -> float:
        """Run one session until the vehicle has ``needed_kwh``; returns the energy [kWh]."""
        await self.call(call.Authorize(id_tag))
        res = await self.call(call.StartTransaction(1, id_tag, int(self.register_wh), _iso()))
        self.tx = res.transaction_id
        await self.status(ChargePointStatus.charging)
        start = await self._deliver(needed_kwh, ev_kw, max_s, lambda _: self.meter_values())
        if self.online:
            await self.call(call.StopTransaction(int(self.register_wh), _iso(), self.tx))
            await self.status(ChargePointStatus.available)
        self.tx = None
        return (self.register_wh - start) / 1000.0

    async def meter_values(self) -> None:
        """Send the register and the power now."""
        energy = Measurand.energy_active_import_register
        sv = [
            {"value": f"{self.register_wh:.1f}", "measurand": energy, "unit": UnitOfMeasure.wh},
            {
                "value": f"{self.power_kw * 1000:.1f}",
                "measurand": Measurand.power_active_import,
                "unit": UnitOfMeasure.w,
            },
        ]
        await self.call(call.MeterValues(1, [{"timestamp": _iso(), "sampled_value": sv}], self.tx))
        self.sent += 1

    # -- central system's calls -----------------------------------------------------
    @on(Action.set_charging_profile)
    def on_set_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any]) -> Any:
        p = cs_charging_profiles
        if not self._take_profile(p, p["charging_schedule"]):
            return call_result.SetChargingProfile(ChargingProfileStatus.not_supported)
        return call_result.SetChargingProfile(ChargingProfileStatus.accepted)

    @on(Action.get_composite_schedule)
    def on_composite(self, connector_id: int, duration: int, **_: Any) -> Any:
        schedule = {
            "charging_rate_unit": "W",
            "charging_schedule_period": [{"start_period": 0, "limit": self.limit_kw() * 1000}],
        }
        return call_result.GetCompositeSchedule(
            GetCompositeScheduleStatus.accepted, connector_id, _iso(), schedule
        )

    @on(Action.clear_charging_profile)
    def on_clear(self, **_: Any) -> Any:
        self.profiles.pop("TxProfile", None)
        return call_result.ClearChargingProfile(ClearChargingProfileStatus.accepted)


def _iso() -> str:
    return pd.Timestamp.now(tz="UTC").isoformat()


Behaviour = Literal["ok", "reject", "ignore"]


class _SimModbus:
    """A register block whose ``action`` hook runs the device's physics on every access."""

    def __init__(self, model: str | RegisterMap, speed: float) -> None:
        self.map: RegisterMap = load_register_map(model) if isinstance(model, str) else model
        self.speed = speed
        self.behaviour: Behaviour = "ok"
        self.writes = 0
        self._t = time.monotonic()
        self.words = max(r.end for r in self.map.registers)

    def _exp(self, regs: list[int], r: Register) -> int:
        if r.scale_factor is None:
            return 0
        return int(self._get(regs, r.scale_factor))

    def _get(self, regs: list[int], name: str) -> float:
        r = self.map.register(name)
        return decode_value(regs[r.address : r.end], r, self.map.word_order, self._exp(regs, r))

    def _set(self, regs: list[int], name: str, value: float) -> None:
        r = self.map.register(name)
        words = encode_value(value, r, self.map.word_order, self._exp(regs, r))
        regs[r.address : r.end] = words

    def _elapsed_h(self) -> float:
        now = time.monotonic()
        dt, self._t = now - self._t, now
        return dt * self.speed / 3600.0

    def step(self, regs: list[int], hours: float) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    async def action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        regs: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        self.step(regs, self._elapsed_h())
        if values is not None:
            if self.behaviour == "reject":
                return ExcCodes.DEVICE_FAILURE
            if self.behaviour == "ignore":
                values[:] = regs[address : address + count]  # type: ignore[assignment]
            self.writes += 1
        return None

    def device(self, unit_id: int = 1) -> SimDevice:
        """The pymodbus device (shared registers from address 0)."""
        return SimDevice(
            id=unit_id,
            simdata=[SimData(address=0, count=self.words, values=0, datatype=DataType.REGISTERS)],
            action=self.action,
        )


class SimPcs(_SimModbus):
    """A PCS whose SoC follows the written power (``generic-pcs`` map).

    Parameters
    ----------
    capacity_kwh, max_kw : float
    soc : float
        Initial state of charge [-].
    efficiency : float
        One-way efficiency [-].
    speed : float
        Simulated seconds per wall-clock second.
    """

    def __init__(
        self,
        capacity_kwh: float,
        max_kw: float,
        soc: float = 0.5,
        efficiency: float = 0.95,
        speed: float = 1.0,
    ) -> None:
        super().__init__("generic-pcs", speed)
        self.capacity_kwh, self.max_kw, self.efficiency = capacity_kwh, max_kw, efficiency
        self.soc_kwh = soc * capacity_kwh
        self.power_kw = 0.0

    def step(self, regs: list[int], hours: float) -> None:
        target = max(min(self._get(regs, "power_setpoint"), self.max_kw), -self.max_kw)
        if target > 0 and self.soc_kwh >= self.capacity_kwh:
            target = 0.0
        if target < 0 and self.soc_kwh <= 0:
            target = 0.0
        flow = target * self.efficiency if target > 0 else target / self.efficiency
        self.soc_kwh = min(max(self.soc_kwh + flow * hours, 0.0), self.capacity_kwh)
        self.power_kw = target
        self._set(regs, "active_power", target)
        self._set(regs, "soc", 100.0 * self.soc_kwh / self.capacity_kwh)


class SimInverter(_SimModbus):
    """A PV inverter producing ``available_kw`` capped at the written export limit.

    The site behind it consumes nothing, so its export is its AC power.
    """

    def __init__(self, available_kw: float, rated_kw: float, speed: float = 1.0) -> None:
        super().__init__("generic-pv-control", speed)
        self.available_kw, self.rated_kw = available_kw, rated_kw
        self.initialised = False

    def step(self, regs: list[int], hours: float) -> None:
        if not self.initialised:
            self._set(regs, "export_limit", self.rated_kw)
            self.initialised = True
        limit = self._get(regs, "export_limit")
        self._set(regs, "ac_power", min(self.available_kw, limit, self.rated_kw))


class SimSunSpecInverter(_SimModbus):
    """A SunSpec PV inverter: model 103 (output ``W``) and 123 (``WMaxLimPct``, ``WMaxLim_Ena``).

    It produces ``available_kw`` capped at ``WMaxLimPct`` % of its rating while
    ``WMaxLim_Ena`` is 1; scale factors: ``W_SF`` = 1 (10 W steps), ``WMaxLimPct_SF`` = -1.
    """

    MODELS = (103, 123)

    def __init__(self, available_kw: float, rated_kw: float, speed: float = 1.0) -> None:
        self.addresses = layout(list(self.MODELS))
        super().__init__(sunspec_map(self.addresses, "sim-sunspec"), speed)
        self.end = max(a + 2 + model_length(m) for m, a in self.addresses.items())
        self.words = self.end + 2  # the end marker
        self.available_kw, self.rated_kw = available_kw, rated_kw
        self.initialised = False

    def _init(self, regs: list[int]) -> None:
        base = min(self.addresses.values()) - len(SUNS_MARKER)
        regs[base : base + 2] = list(SUNS_MARKER)
        for m, a in self.addresses.items():
            regs[a], regs[a + 1] = m, model_length(m)
        regs[self.end], regs[self.end + 1] = 0xFFFF, 0
        self._set(regs, "103.W_SF", 1)
        self._set(regs, "123.WMaxLimPct_SF", -1)
        self._set(regs, "123.WMaxLimPct", 100.0)
        self.initialised = True

    def step(self, regs: list[int], hours: float) -> None:
        if not self.initialised:
            self._init(regs)
        cap = self.rated_kw
        if self._get(regs, "123.WMaxLim_Ena") == 1:
            cap = self.rated_kw * self._get(regs, "123.WMaxLimPct") / 100.0
        self._set(regs, "103.W", 1000.0 * min(self.available_kw, cap))


async def start_modbus_server(devices: list[SimDevice], port: int) -> ModbusTcpServer:
    """Serve simulated devices on 127.0.0.1:``port`` (one unit id each)."""
    device = devices if len(devices) > 1 else devices[0]
    server = ModbusTcpServer(device, address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    return server
