"""Modbus TCP poller: register maps per meter model, intervals, timeouts, retries.

A *register map* (a data file per meter model in ``bitgaram/collect/registers/``,
TOML or CSV) says where each quantity lives: address, type, scale, unit, and
whether it is a level (``instant``, e.g. power) or a cumulative energy
(``counter``). A device in the site file names its model and which register
feeds which site meter.

Readings are per *interval* of the meter (its ``resolution``), labelled by the
interval's UTC start, like every other reading. A device is usually polled
more often than that, so samples are aggregated by :class:`IntervalAggregator`:
``instant`` registers give the mean of the samples taken in the interval,
``counter`` registers give the counter's increase from the first sample of the
interval to the first sample of the next. An interval is emitted once the
first sample of a later interval arrives. A device that stops answering leaves
a gap (nothing is invented); polling goes on and picks up when it answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import itertools
import logging
import math
import time
import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from bitgaram.collect.config import ModbusDeviceConfig
from bitgaram.collect.writer import BatchWriter, RawReading, Submission
from bitgaram.errors import ConfigError, DataError
from bitgaram.site import Site

log = logging.getLogger(__name__)

#: Most registers one read request may return (Modbus protocol limit).
MAX_READ = 125


class RegisterType(StrEnum):
    """Data type of a register value; the value is the number of 16-bit words."""

    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"

    @property
    def words(self) -> int:
        """Registers the value spans."""
        return {"16": 1, "32": 2, "64": 4}[self.value[-2:]]


@dataclass(frozen=True)
class Register:
    """One quantity of a meter model.

    Attributes
    ----------
    name : str
        Name the site file maps to a meter (``active_power``).
    address : int
        Zero-based register address on the wire.
    type : RegisterType
    scale : float
        Engineering value = raw value x ``scale`` [unit].
    unit : str
        Unit of the scaled value; must be the meter's unit.
    kind : {"instant", "counter"}
        A level averaged per interval, or a cumulative energy differenced.
    table : {"holding", "input"}
        Holding registers (function 3) or input registers (function 4).
    access : {"r", "rw"}
        ``rw``: a setpoint the device accepts (holding registers only; the write path of
        :mod:`bitgaram.devices.modbus_write`).
    min_value, max_value : float or None
        Limits of a writable value [unit]; writes are clamped to them.
    scale_factor : str or None
        Register holding a power-of-ten exponent applied on top of ``scale`` (SunSpec
        ``sunssf``): value = raw x scale x 10 ** factor.
    """

    name: str
    address: int
    type: RegisterType
    scale: float = 1.0
    unit: str = ""
    kind: Literal["instant", "counter"] = "instant"
    table: Literal["holding", "input"] = "holding"
    access: Literal["r", "rw"] = "r"
    min_value: float | None = None
    max_value: float | None = None
    scale_factor: str | None = None

    @property
    def end(self) -> int:
        """First address after the value."""
        return self.address + self.type.words


@dataclass(frozen=True)
class RegisterMap:
    """The registers of one meter model."""

    model: str
    registers: tuple[Register, ...]
    word_order: Literal["big", "little"] = "big"
    description: str = ""

    def register(self, name: str) -> Register:
        """The register called ``name``; ConfigError if the model has none."""
        for reg in self.registers:
            if reg.name == name:
                return reg
        known = ", ".join(r.name for r in self.registers)
        raise ConfigError(f"register map {self.model!r} has no register {name!r} (has {known})")


def _register(row: dict[str, Any], where: str) -> Register:
    try:
        kind = str(row.get("kind") or "instant")
        table = str(row.get("table") or "holding")
        if kind not in ("instant", "counter") or table not in ("holding", "input"):
            raise ValueError("kind must be instant|counter and table holding|input")
        address = int(row["address"])
        if not 0 <= address <= 65535:
            raise ValueError(f"address {address} outside 0..65535")
        access = str(row.get("access") or "r")
        if access not in ("r", "rw") or (access == "rw" and table != "holding"):
            raise ValueError("access must be r or rw, and rw only on holding registers")
        lo, hi = row.get("min"), row.get("max")
        return Register(
            name=str(row["name"]),
            address=address,
            type=RegisterType(str(row["type"]).lower()),
            scale=float(row.get("scale") or 1.0),
            unit=str(row.get("unit") or ""),
            kind=kind,  # type: ignore[arg-type]
            table=table,  # type: ignore[arg-type]
            access=access,  # type: ignore[arg-type]
            min_value=None if lo in (None, "") else float(lo),  # type: ignore[arg-type]
            max_value=None if hi in (None, "") else float(hi),  # type: ignore[arg-type]
            scale_factor=str(row["scale_factor"]) if row.get("scale_factor") else None,
        )
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"{where}: bad register {row.get('name', '?')!r}: {exc}") from exc


def parse_register_map(text: str, fmt: Literal["toml", "csv"], model: str) -> RegisterMap:
    """Parse a register map from TOML or CSV text.

    Parameters
    ----------
    text : str
        TOML with ``[model]`` and ``[[registers]]``, or CSV with a header
        ``name,address,type,scale,unit,kind,table`` (``#`` lines are comments).
    fmt : {"toml", "csv"}
    model : str
        Name used when the text does not give one, and in error messages.

    Returns
    -------
    RegisterMap

    Raises
    ------
    ConfigError
        On a missing or invalid field, or overlapping registers.

    Examples
    --------
    >>> m = parse_register_map("name,address,type,scale,unit\\np,0,int16,0.1,kW\\n", "csv", "x")
    >>> m.register("p").scale
    0.1
    """
    word_order = "big"
    description = ""
    if fmt == "toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"register map {model}: not valid TOML: {exc}") from exc
        head = data.get("model", {})
        model = str(head.get("name", model))
        word_order = str(head.get("word_order", "big"))
        description = str(head.get("description", ""))
        rows = list(data.get("registers", []))
    else:
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    if word_order not in ("big", "little"):
        raise ConfigError(f"register map {model}: word_order must be 'big' or 'little'")
    regs = tuple(_register(r, f"register map {model}") for r in rows)
    if not regs:
        raise ConfigError(f"register map {model}: no registers")
    for table in ("holding", "input"):
        spans = sorted((r.address, r.end, r.name) for r in regs if r.table == table)
        for (_, end, a), (start, _, b) in itertools.pairwise(spans):
            if start < end:
                raise ConfigError(f"register map {model}: {a!r} and {b!r} overlap")
    return RegisterMap(model, regs, word_order, description)  # type: ignore[arg-type]


def _format(suffix: str) -> Literal["toml", "csv"]:
    return "csv" if suffix.lower().lstrip(".") == "csv" else "toml"


def load_register_map(name_or_path: str | Path) -> RegisterMap:
    """A shipped register map by model name, or a map file (``.toml``/``.csv``) by path.

    Raises
    ------
    ConfigError
        If there is no such map, or it is invalid.
    """
    path = Path(name_or_path)
    if path.suffix in (".toml", ".csv") and path.exists():
        return parse_register_map(path.read_text(encoding="utf-8"), _format(path.suffix), path.stem)
    shipped = resources.files("bitgaram.collect") / "registers"
    for suffix in ("toml", "csv"):
        res = shipped / f"{name_or_path}.{suffix}"
        if res.is_file():
            text = res.read_text(encoding="utf-8")
            return parse_register_map(text, _format(suffix), str(name_or_path))
    names = sorted(p.name.rsplit(".", 1)[0] for p in shipped.iterdir() if p.is_file())
    raise ConfigError(f"no register map {name_or_path!r}; shipped: {', '.join(names)}")


def decode_value(
    words: list[int], reg: Register, word_order: str = "big", exponent: int = 0
) -> float:
    """Scaled value of one register from its 16-bit words (pure).

    ``exponent`` is the value of the register's ``scale_factor`` register, if it has one.

    Examples
    --------
    >>> decode_value([0x4148, 0x0000], Register("p", 0, RegisterType.FLOAT32))
    12.5
    >>> decode_value([0xFFFF], Register("t", 0, RegisterType.INT16, scale=0.1))
    -0.1
    """
    if len(words) != reg.type.words:
        raise DataError(f"register {reg.name}: {len(words)} words, expected {reg.type.words}")
    dtype = AsyncModbusTcpClient.DATATYPE[reg.type.name]
    raw = AsyncModbusTcpClient.convert_from_registers(words, dtype, word_order=word_order)  # type: ignore[arg-type]
    assert isinstance(raw, int | float)
    scale = reg.scale * 10.0**exponent if exponent else reg.scale
    return float(raw) * scale if scale != 1.0 else float(raw)


def encode_value(
    value: float, reg: Register, word_order: str = "big", exponent: int = 0
) -> list[int]:
    """16-bit words of an engineering value for a register (pure; the inverse of decode).

    Integer types are rounded to the nearest step of ``scale`` (x 10 ** ``exponent``).

    Examples
    --------
    >>> encode_value(-12.5, Register("p", 0, RegisterType.INT32, scale=0.1))
    [65535, 65411]
    """
    dtype = AsyncModbusTcpClient.DATATYPE[reg.type.name]
    scale = reg.scale * 10.0**exponent if exponent else reg.scale
    raw: float | int = value / scale
    if not reg.type.name.startswith("FLOAT"):
        raw = round(value / scale)
    words = AsyncModbusTcpClient.convert_to_registers(raw, dtype, word_order=word_order)  # type: ignore[arg-type]
    return list(words)


def read_blocks(registers: list[Register]) -> list[tuple[str, int, int]]:
    """Group registers into as few reads as possible: (table, start, count) each.

    Registers of one table whose span fits :data:`MAX_READ` words are read in
    one request (the gaps between them are read and ignored).
    """
    blocks: list[tuple[str, int, int]] = []
    for table in ("holding", "input"):
        regs = sorted((r for r in registers if r.table == table), key=lambda r: r.address)
        start = end = -1
        for r in regs:
            if start < 0:
                start, end = r.address, r.end
            elif r.end - start <= MAX_READ:
                end = max(end, r.end)
            else:
                blocks.append((table, start, end - start))
                start, end = r.address, r.end
        if start >= 0:
            blocks.append((table, start, end - start))
    return blocks


@dataclass
class IntervalAggregator:
    """Turn samples of one register into readings per interval (pure, no I/O).

    Parameters
    ----------
    interval_s : int
        The meter's resolution [s]; intervals start at multiples of it (UTC).
    kind : {"instant", "counter"}
        ``instant``: mean of the interval's samples. ``counter``: increase of
        the counter from the interval's first sample to the next interval's
        first sample. A counter interval is only emitted when both of its
        boundaries were observed, i.e. both first samples came at most
        ``max_lag_s`` after their interval started: after a start, or across
        an outage, the energy cannot be placed in time and is not booked.
        A counter that went down (reset, wrap) gives nothing for that interval.
    max_lag_s : float
        Largest delay of an interval's first sample after the interval start
        for the interval boundary to count as observed [s] (counters only).
    """

    interval_s: int
    kind: Literal["instant", "counter"] = "instant"
    max_lag_s: float = math.inf
    _bucket: int | None = None
    _sum: float = 0.0
    _n: int = 0
    _first: float = math.nan
    _complete: bool = False
    _pending: list[tuple[int, float]] = field(default_factory=list)

    def add(self, t: float, value: float) -> list[tuple[int, float]]:
        """Add a sample taken at ``t`` [s since epoch]; returns finished (start [s], value)."""
        bucket = int(t // self.interval_s) * self.interval_s
        out: list[tuple[int, float]] = []
        on_time = t - bucket <= self.max_lag_s
        if self._bucket is None:
            self._start(bucket, value, complete=on_time)
            return out
        if bucket < self._bucket:
            return out  # clock went back: ignore rather than rewrite a finished interval
        if bucket == self._bucket:
            self._sum += value
            self._n += 1
            return out
        consecutive = bucket == self._bucket + self.interval_s
        if self.kind == "instant":
            out.append((self._bucket, self._sum / self._n))
        elif self._complete and consecutive and on_time and value >= self._first:
            out.append((self._bucket, value - self._first))
        self._start(bucket, value, complete=on_time)
        return out

    def _start(self, bucket: int, value: float, complete: bool) -> None:
        self._bucket = bucket
        self._sum = value
        self._n = 1
        self._first = value
        self._complete = complete


@dataclass
class _Feed:
    register: Register
    meter_id: str
    unit: str
    aggregator: IntervalAggregator


class ModbusPoller:
    """Poll one Modbus TCP device and feed its meters' readings to a writer.

    Parameters
    ----------
    name : str
        Device name (the ``source`` of its readings: ``modbus:<name>``).
    host, port, device_id
        Where the device answers.
    register_map : RegisterMap
    meters : dict
        Register name -> site meter id.
    site : Site
        Gives each meter's resolution and unit.
    writer : BatchWriter
    interval_s : float
        Time between polls [s].
    timeout_s : float
        Per request [s].
    retries : int
        Retries per request before the poll counts as failed.
    """

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        device_id: int,
        register_map: RegisterMap,
        meters: dict[str, str],
        site: Site,
        writer: BatchWriter,
        *,
        interval_s: float = 60.0,
        timeout_s: float = 1.0,
        retries: int = 2,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.device_id = device_id
        self.map = register_map
        self.writer = writer
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.retries = retries
        self.feeds: list[_Feed] = []
        for reg_name, meter_id in meters.items():
            reg = register_map.register(reg_name)
            meter = site.meter(meter_id)
            if reg.unit and reg.unit != str(meter.unit):
                raise ConfigError(
                    f"modbus device {name}: register {reg_name} is in {reg.unit}, "
                    f"meter {meter_id} in {meter.unit}"
                )
            # A boundary counts as observed if the first poll after it came
            # within one and a half polling intervals.
            agg = IntervalAggregator(meter.resolution_seconds, reg.kind, 1.5 * interval_s)
            self.feeds.append(_Feed(reg, meter_id, reg.unit or str(meter.unit), agg))
        factors = {f.register.scale_factor for f in self.feeds if f.register.scale_factor}
        self.factors = [register_map.register(name) for name in sorted(factors)]
        self.blocks = read_blocks([f.register for f in self.feeds] + self.factors)
        self.polls = 0
        self.failures = 0
        self.last_ok: float | None = None
        self.last_error: str | None = None
        self.last_cycle_s: float | None = None
        self._stop = asyncio.Event()
        self._client: AsyncModbusTcpClient | None = None

    @classmethod
    def from_config(cls, cfg: ModbusDeviceConfig, site: Site, writer: BatchWriter) -> ModbusPoller:
        """A poller for a ``[[collect.modbus]]`` entry of the site file."""
        return cls(
            cfg.name,
            cfg.host,
            cfg.port,
            cfg.device_id,
            load_register_map(cfg.model),
            dict(cfg.meters),
            site,
            writer,
            interval_s=cfg.interval_s,
            timeout_s=cfg.timeout_s,
            retries=cfg.retries,
        )

    def status(self) -> dict[str, Any]:
        """Counters for the status file."""
        return {
            "host": f"{self.host}:{self.port}/{self.device_id}",
            "polls": self.polls,
            "failures": self.failures,
            "last_ok": self.last_ok,
            "last_error": self.last_error,
            "last_cycle_s": self.last_cycle_s,
        }

    def stop(self) -> None:
        """Ask :meth:`run` to return after the current poll."""
        self._stop.set()

    async def read(self) -> dict[str, float]:
        """Read every mapped register once: register name -> scaled value.

        Raises
        ------
        ModbusException, OSError, TimeoutError
            When the device does not answer or answers with an error.
        """
        if self._client is None:
            self._client = AsyncModbusTcpClient(
                self.host,
                port=self.port,
                timeout=self.timeout_s,
                retries=self.retries,
                reconnect_delay=0,  # we reconnect ourselves, once per poll
            )
        client = self._client
        if not client.connected and not await client.connect():
            raise ConnectionError(f"cannot connect to {self.host}:{self.port}")
        words: dict[tuple[str, int], int] = {}
        for table, start, count in self.blocks:
            call = (
                client.read_holding_registers if table == "holding" else client.read_input_registers
            )
            rr = await call(start, count=count, device_id=self.device_id)
            if rr.isError():
                raise ModbusException(f"device {self.device_id} answered {rr}")
            for i, word in enumerate(rr.registers):
                words[(table, start + i)] = word

        def value(reg: Register, exponent: int = 0) -> float:
            raw = [words[(reg.table, a)] for a in range(reg.address, reg.end)]
            return decode_value(raw, reg, self.map.word_order, exponent)

        exps = {r.name: int(value(r)) for r in self.factors}
        return {
            f.register.name: value(f.register, exps.get(f.register.scale_factor or "", 0))
            for f in self.feeds
        }

    async def poll_once(self, now: float | None = None) -> int:
        """Poll the device once and queue the finished intervals; returns readings queued."""
        started = time.monotonic()
        t = time.time() if now is None else now
        self.polls += 1
        try:
            values = await self.read()
        except (ModbusException, OSError, TimeoutError) as exc:
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("modbus %s: poll failed: %s", self.name, exc)
            if self._client is not None:
                self._client.close()
            return 0
        finally:
            self.last_cycle_s = time.monotonic() - started
        self.last_ok = t
        rows = [
            RawReading(f.meter_id, _iso(start), value, f.unit, 0)
            for f in self.feeds
            for start, value in f.aggregator.add(t, values[f.register.name])
        ]
        if rows:
            await self.writer.submit(Submission(f"modbus:{self.name}", rows))
        return len(rows)

    async def run(self) -> None:
        """Poll every ``interval_s`` until :meth:`stop`; missed ticks are skipped, not bunched."""
        next_tick = time.monotonic()
        try:
            while not self._stop.is_set():
                await self.poll_once()
                next_tick += self.interval_s
                now = time.monotonic()
                if next_tick < now:  # a slow poll: skip the ticks it overran
                    next_tick += math.ceil((now - next_tick) / self.interval_s) * self.interval_s
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), next_tick - now)
        finally:
            if self._client is not None:
                self._client.close()


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
