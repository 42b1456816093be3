"""Modbus TCP: register maps, decoding, interval aggregation, polling a live pymodbus server."""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
from pathlib import Path

import pytest
from collect_doubles import MemoryStore
from hypothesis import given, settings
from hypothesis import strategies as st
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from bitgaram.collect.modbus import (
    MAX_READ,
    IntervalAggregator,
    ModbusPoller,
    Register,
    RegisterType,
    decode_value,
    load_register_map,
    parse_register_map,
    read_blocks,
)
from bitgaram.collect.writer import BatchWriter
from bitgaram.errors import ConfigError
from bitgaram.site import Site, parse_site


def test_shipped_register_maps_load() -> None:
    meter = load_register_map("generic-power-meter")
    inverter = load_register_map("generic-pv-inverter")
    assert meter.register("energy_import").kind == "counter"
    assert meter.register("energy_import").type is RegisterType.UINT32
    assert inverter.register("energy_total").table == "input"
    assert inverter.register("module_temperature").scale == pytest.approx(0.1)
    with pytest.raises(ConfigError, match="no register"):
        meter.register("voltage_l9")
    with pytest.raises(ConfigError, match="shipped"):
        load_register_map("no-such-model")


def test_register_map_from_a_file_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("# mine\nname,address,type,scale,unit\np,10,int32,0.5,kW\n", "utf-8")
    assert load_register_map(path).register("p").address == 10
    overlap = "name,address,type\na,0,float32\nb,1,int16\n"
    with pytest.raises(ConfigError, match="overlap"):
        parse_register_map(overlap, "csv", "bad")
    with pytest.raises(ConfigError, match="bad register"):
        parse_register_map("name,address,type\na,0,complex128\n", "csv", "bad")


_types = st.sampled_from(list(RegisterType))


@settings(max_examples=60, deadline=None)
@given(_types, st.integers(0, 2**64 - 1), st.floats(-1e6, 1e6, width=32))
def test_decode_round_trips_every_type(kind: RegisterType, n: int, x: float) -> None:
    fmt = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "int64": ">q",
           "uint64": ">Q", "float32": ">f", "float64": ">d"}[kind.value]  # fmt: skip
    if kind.value.startswith("float"):
        value: float = x
    else:
        bits = 16 * kind.words
        value = n % 2**bits
        if not kind.value.startswith("u") and value >= 2 ** (bits - 1):
            value -= 2**bits
    raw = struct.pack(fmt, value)
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    assert decode_value(words, Register("r", 0, kind)) == pytest.approx(value)
    little = list(reversed(words))
    assert decode_value(little, Register("r", 0, kind), "little") == pytest.approx(value)


@given(st.lists(st.tuples(st.integers(0, 2000), _types), min_size=1, max_size=30))
def test_read_blocks_cover_every_register_within_the_protocol_limit(
    spec: list[tuple[int, RegisterType]],
) -> None:
    regs = [Register(f"r{i}", a, t) for i, (a, t) in enumerate(spec)]
    blocks = read_blocks(regs)
    assert all(0 < count <= MAX_READ for _, _, count in blocks)
    for r in regs:
        assert any(s <= r.address and r.end <= s + c for _, s, c in blocks)


@given(st.floats(0, 1e4), st.lists(st.floats(0.01, 7.0), min_size=5, max_size=80))
def test_instant_intervals_average_a_constant_exactly(level: float, steps: list[float]) -> None:
    agg = IntervalAggregator(5, "instant")
    t = 1_700_000_000.0
    out = []
    for dt in steps:
        out += agg.add(t, level)
        t += dt
    assert all(v == pytest.approx(level) for _, v in out)
    starts = [s for s, _ in out]
    assert starts == sorted(set(starts)) and all(s % 5 == 0 for s in starts)


@given(st.floats(0.0, 50.0), st.lists(st.floats(0.1, 4.0), min_size=5, max_size=80))
def test_counter_intervals_add_up_to_the_counter_increase(rate: float, steps: list[float]) -> None:
    """Energy per interval telescopes: consecutive emitted intervals sum to the counter change."""
    agg = IntervalAggregator(5, "counter")
    t = 1_700_000_001.0
    out = []
    for dt in steps:
        out += agg.add(t, 1000.0 + rate * (t - 1_700_000_000.0))
        t += dt
    assert all(v >= 0 for _, v in out)
    for (s1, _v1), (s2, _) in itertools.pairwise(out):
        assert s2 > s1
    # With a constant rate each interval's energy is rate x (time between first samples),
    # which is at most one interval plus one sampling step.
    assert all(v <= rate * (5 + 4.0) + 1e-6 for _, v in out)


def test_counter_energy_across_an_outage_is_not_booked() -> None:
    b = 1_700_000_040  # a minute boundary
    agg = IntervalAggregator(60, "counter", max_lag_s=15)
    out = []
    for t, kwh in [(0, 10.0), (30, 11.0), (60, 12.0), (90, 13.0), (120, 14.0)]:
        out += agg.add(b + t, kwh)
    assert out == [(b, 2.0), (b + 60, 2.0)]
    # Silent from 120 s to 215 s: the counter moved 40 kWh, but when is unknown.
    out = agg.add(b + 215, 54.0) + agg.add(b + 240, 55.0) + agg.add(b + 270, 56.0)
    assert out == []
    assert agg.add(b + 300, 57.0) == [(b + 240, 2.0)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _serve(port: int, power_kw: float, energy_kwh: float) -> ModbusTcpServer:
    device = SimDevice(
        id=1,
        simdata=[
            SimData(address=0, values=[power_kw, 0.0], datatype=DataType.FLOAT32),
            SimData(address=4, values=[int(energy_kwh * 10), 0], datatype=DataType.UINT32),
        ],
    )
    server = ModbusTcpServer(device, address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    return server


@pytest.fixture
def fast_site() -> Site:
    return parse_site(
        {
            "site": {"id": "modbus-park", "name": "M"},
            "meters": [
                {"id": "pm-power", "kind": "load", "unit": "kW", "resolution": "1s"},
                {"id": "pm-energy", "kind": "load", "unit": "kWh", "resolution": "1s"},
            ],
        }
    )


def test_unit_mismatch_with_the_meter_is_refused(fast_site: Site) -> None:
    writer = BatchWriter(MemoryStore(), fast_site)
    with pytest.raises(ConfigError, match="kWh"):
        ModbusPoller(
            "pm", "127.0.0.1", 1, 1, load_register_map("generic-power-meter"),
            {"energy_import": "pm-power"}, fast_site, writer,
        )  # fmt: skip


def test_polls_a_live_device_survives_it_going_silent_and_recovers(fast_site: Site) -> None:
    store = MemoryStore()
    port = _free_port()

    async def scenario() -> ModbusPoller:
        writer = BatchWriter(store, fast_site, max_delay=0.02)
        writer_task = asyncio.create_task(writer.run())
        poller = ModbusPoller(
            "pm", "127.0.0.1", port, 1, load_register_map("generic-power-meter"),
            {"active_power": "pm-power", "energy_import": "pm-energy"}, fast_site, writer,
            interval_s=0.1, timeout_s=0.2, retries=0,
        )  # fmt: skip
        server = await _serve(port, 12.5, 100.0)
        task = asyncio.create_task(poller.run())
        await asyncio.sleep(2.3)
        await server.shutdown()  # the device stops answering
        polls_before = poller.polls
        await asyncio.sleep(0.6)
        assert poller.failures >= 2
        assert poller.polls > polls_before  # still polling, not crashed
        served_again = store.count_readings()
        server = await _serve(port, 7.0, 100.0)  # back, with a new power level
        await asyncio.sleep(3.0)
        poller.stop()
        await task
        await server.shutdown()
        await writer.close()
        await writer_task
        assert store.count_readings() > served_again  # recovered by itself
        return poller

    poller = asyncio.run(scenario())
    power = {ts: v for (m, ts), (v, _) in store.rows.items() if m == "pm-power"}
    energy = {ts: v for (m, ts), (v, _) in store.rows.items() if m == "pm-energy"}
    assert len(power) >= 3
    # Interval means: the level before or after the outage, or a mix for the interval
    # that spans the change, never anything outside.
    assert all(7.0 <= v <= 12.5 for v in power.values())
    assert 7.0 in power.values() and 12.5 in power.values()
    # A constant counter: zero energy in every interval whose boundaries were observed.
    assert energy and all(v == pytest.approx(0.0) for v in energy.values())
    assert poller.status()["failures"] == poller.failures
