"""The Modbus TCP write path: PCS (battery) power and PV export-limit setpoints.

A device is described by a register map (:mod:`bitgaram.collect.modbus`, the collector's
format with ``access = "rw"`` and ``min``/``max`` on writable registers) and a registry entry
(:class:`ModbusLinkConfig`). For every setpoint the writer

1. clamps the power to the register's and the registry's limits,
2. writes it (function 16), reads the register back and confirms the device kept it,
3. reads the measured power (and the SoC of a PCS) for the status and the planner.

A device without its own watchdog gets its setpoint re-written every ``renew_s`` while the
setpoint is valid; when the plan expires without a new one the writer explicitly writes the
device's safe value (a PCS: 0 kW, idle; a PV inverter: its full rating, no curtailment) once.
A write the device rejects (exception response) or ignores (read-back differs) is a failed
:class:`~bitgaram.devices.status.Confirmation`, a fault and a call of ``on_fault`` (the
service turns it into an alert); nothing raises. It also marks the device unavailable
(:attr:`ModbusWriter.available`) until a later write is confirmed: the service tells the
planner in the ESS's state message, and the planner leaves the ESS out (0 kW) meanwhile.

Setpoint kinds: ``battery`` (``power_kw`` + charge / - discharge) and ``export_limit``
(``power_kw`` = the largest export allowed, >= 0 [kW]). Registers in W or in % of a rating
(SunSpec maps of :mod:`bitgaram.devices.sunspec`) are converted from and to kW; SunSpec scale
factors (``sunssf`` registers) are read once per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from bitgaram.collect.modbus import Register, RegisterMap, decode_value, encode_value
from bitgaram.control.setpoints import Setpoint
from bitgaram.devices.status import Confirmation, DeviceStatus
from bitgaram.errors import ConfigError

log = logging.getLogger(__name__)

OnFault = Callable[[str, str], None]
OnState = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class ModbusLinkConfig:
    """One writable Modbus device of the registry.

    Attributes
    ----------
    id : str
        Device id.
    asset : str
        Site asset it drives (setpoints for this asset go here).
    host, port, unit_id
        Where it answers.
    register_map : RegisterMap
    setpoint : str
        Writable register of the power or export limit.
    measured : str or None
        Register of the measured power [kW].
    soc : str or None
        Register of the state of charge [%] (PCS).
    capacity_kwh : float
        Battery capacity, to turn the SoC into kWh for the planner [kWh].
    soc_min : float
        SoC below which energy is not usable [-] (the planner counts energy above it).
    min_kw, max_kw : float or None
        Registry limits, within the register's own.
    safe_kw : float
        Value written when the plan expires [kW].
    watchdog : bool
        The device falls back by itself when not refreshed (no renewals needed).
    renew_s : float
        Renewal period of devices without watchdog [s].
    tolerance_kw : float
        Read-back tolerance [kW] (one scale step of the register).
    timeout_s : float
    rating_kw : float or None
        Rating that ``%`` registers refer to (SunSpec ``WMaxLimPct``: % of WMax) [kW].
    enable : tuple of (register, value)
        Written before each setpoint (SunSpec ``WMaxLim_Ena`` = 1 turns the limit on).
    """

    id: str
    asset: str
    host: str
    port: int
    unit_id: int
    register_map: RegisterMap
    setpoint: str
    measured: str | None = None
    soc: str | None = None
    capacity_kwh: float = 0.0
    soc_min: float = 0.0
    min_kw: float | None = None
    max_kw: float | None = None
    safe_kw: float = 0.0
    watchdog: bool = False
    renew_s: float = 30.0
    tolerance_kw: float = 0.1
    timeout_s: float = 1.0
    rating_kw: float | None = None
    enable: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        reg = self.register_map.register(self.setpoint)
        if reg.access != "rw":
            raise ConfigError(f"device {self.id}: register {self.setpoint!r} is not writable")
        for name in [self.setpoint, self.measured, self.soc, *(n for n, _ in self.enable)]:
            if name is not None:
                self.register_map.register(name)  # ConfigError naming a missing register
        if reg.unit.startswith("%") and self.rating_kw is None:
            raise ConfigError(f"device {self.id}: {self.setpoint!r} is in %; give rating_kw")

    def kw_per_unit(self, reg: Register) -> float:
        """kW per unit of a register's value (W: 0.001, %: rating / 100, kW and others: 1)."""
        if reg.unit == "W":
            return 1e-3
        if reg.unit.startswith("%") and reg.name != self.soc:
            return (self.rating_kw or 0.0) / 100.0
        return 1.0

    def limits(self) -> tuple[float, float]:
        """The clamp range [kW]: the register's limits narrowed by the registry's."""
        reg = self.register_map.register(self.setpoint)
        k = self.kw_per_unit(reg)
        lo_reg = None if reg.min_value is None else reg.min_value * k
        hi_reg = None if reg.max_value is None else reg.max_value * k
        lo = max(x for x in (lo_reg, self.min_kw, -float("inf")) if x is not None)
        hi = min(x for x in (hi_reg, self.max_kw, float("inf")) if x is not None)
        return lo, hi


class ModbusWriter:
    """Setpoints to one Modbus TCP device, confirmed by reading back.

    Parameters
    ----------
    config : ModbusLinkConfig
    on_fault : callable, optional
        ``on_fault(device_id, message)`` on a rejected or ignored write.
    on_state : callable, optional
        ``on_state(asset, {"soc_kwh": ...})`` after each read of a PCS.
    client : AsyncModbusTcpClient, optional
        Injected client (default: one built from the config).
    """

    def __init__(
        self,
        config: ModbusLinkConfig,
        on_fault: OnFault | None = None,
        on_state: OnState | None = None,
        client: AsyncModbusTcpClient | None = None,
    ) -> None:
        self.config = config
        self.on_fault = on_fault
        self.on_state = on_state
        self.client = client or AsyncModbusTcpClient(
            config.host, port=config.port, timeout=config.timeout_s, retries=1, reconnect_delay=0
        )
        self.status = DeviceStatus(config.id, "modbus")
        self.current: Setpoint | None = None
        self.safe_written = False
        self.writes = 0
        self.last_state: dict[str, float] = {}
        #: False from a rejected or ignored write until a write is confirmed again.
        self.available = True
        self.last_fault = ""
        self._exponents: dict[str, int] = {}

    def _reg(self, name: str) -> Register:
        return self.config.register_map.register(name)

    async def _connect(self) -> None:
        if not self.client.connected:
            self._exponents.clear()  # a restarted device may have changed its scale factors
            if not await self.client.connect():
                raise ConnectionError(f"cannot connect to {self.config.host}:{self.config.port}")
        self.status.connected = True

    async def _exponent(self, reg: Register) -> int:
        if reg.scale_factor is None:
            return 0
        if reg.scale_factor not in self._exponents:
            self._exponents[reg.scale_factor] = int(await self._read(reg.scale_factor))
        return self._exponents[reg.scale_factor]

    async def _read(self, name: str) -> float:
        """A register's value in its unit."""
        reg = self._reg(name)
        call = (
            self.client.read_holding_registers
            if reg.table == "holding"
            else self.client.read_input_registers
        )
        rr = await call(reg.address, count=reg.type.words, device_id=self.config.unit_id)
        if rr.isError():
            raise ModbusException(f"read {name}: device answered {rr}")
        self.status.last_seen = time.time()
        exponent = await self._exponent(reg)
        return decode_value(list(rr.registers), reg, self.config.register_map.word_order, exponent)

    async def _read_kw(self, name: str) -> float:
        return await self._read(name) * self.config.kw_per_unit(self._reg(name))

    async def _put(self, reg: Register, value: float) -> None:
        words = encode_value(
            value, reg, self.config.register_map.word_order, await self._exponent(reg)
        )
        rr = await self.client.write_registers(reg.address, words, device_id=self.config.unit_id)
        if rr.isError():
            raise ModbusException(f"write rejected: {rr}")

    async def _write(self, kw: float) -> float:
        """Write, read back; returns the value the device holds [kW]."""
        reg = self._reg(self.config.setpoint)
        await self._connect()
        for name, value in self.config.enable:
            await self._put(self._reg(name), value)
        await self._put(reg, kw / self.config.kw_per_unit(reg))
        self.writes += 1
        self.status.last_setpoint_kw = kw
        return await self._read_kw(self.config.setpoint)

    async def apply(self, setpoint: Setpoint) -> Confirmation:
        """Clamp, write, read back and confirm one setpoint. Never raises."""
        t0 = time.perf_counter()
        lo, hi = self.config.limits()
        kw = min(max(setpoint.power_kw, lo), hi)
        self.current, self.safe_written = setpoint, False
        msg = "" if kw == setpoint.power_kw else f"clamped to {kw:g} kW"
        back, ok = await self._confirmed_write(kw)
        if not ok:
            msg = back if isinstance(back, str) else f"device ignored the write: holds {back:g} kW"
        c = Confirmation(
            self.config.id,
            setpoint.asset,
            setpoint.power_kw,
            kw,
            back if isinstance(back, float) else None,
            ok,
            time.perf_counter() - t0,
            msg,
        )
        self.status.confirm(c)
        self.available = ok
        if not ok:
            self.last_fault = msg
            if self.on_fault is not None:
                self.on_fault(self.config.id, msg)
        return c

    async def _confirmed_write(self, kw: float) -> tuple[float | str, bool]:
        try:
            back = await self._write(kw)
        except (ModbusException, OSError, TimeoutError) as exc:
            self.status.connected = self.client.connected
            return f"{type(exc).__name__}: {exc}", False
        return back, abs(back - kw) <= self.config.tolerance_kw

    async def read_state(self) -> dict[str, float]:
        """Measured power [kW] and SoC [kWh above the minimum] where the map has them."""
        out: dict[str, float] = {}
        await self._connect()
        if self.config.measured:
            out["power_kw"] = await self._read_kw(self.config.measured)
            self.status.last_readback_kw = out["power_kw"]
        if self.config.soc:
            pct = await self._read(self.config.soc)
            usable = max(pct / 100.0 - self.config.soc_min, 0.0)
            out["soc_kwh"] = usable * self.config.capacity_kwh
        self.last_state = out
        if "soc_kwh" in out and self.on_state is not None:
            self.on_state(self.config.asset, {"soc_kwh": out["soc_kwh"]})
        return out

    async def maintain(self, now: pd.Timestamp | None = None) -> str | None:
        """Renew a valid setpoint (devices without watchdog) or return to the safe state.

        Returns what was done (``renewed``, ``safe``) or None.
        """
        now = now or pd.Timestamp.now(tz="UTC")
        sp = self.current
        if sp is not None and sp.valid_until > now:
            if self.config.watchdog:
                return None
            c = await self.apply(sp)
            return "renewed" if c.ok else None
        if sp is not None and not self.safe_written:
            _, ok = await self._confirmed_write(self.config.safe_kw)
            self.safe_written = ok
            self.available = self.available or ok  # the device confirmed a write again
            self.status.fault(f"plan expired at {sp.valid_until}: safe state {self.config.safe_kw}")
            return "safe" if ok else None
        return None

    async def run(self, stop: asyncio.Event) -> None:
        """Renew, fall back and read the state every ``renew_s`` until ``stop``."""
        while not stop.is_set():
            try:
                await self.maintain()
                await self.read_state()
            except (ModbusException, OSError, TimeoutError) as exc:
                self.status.connected = False
                self.status.fault(f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.renew_s)
        self.client.close()
