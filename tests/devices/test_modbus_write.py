"""The Modbus write path against a pymodbus server: a PCS whose SoC follows the written power,
a PV inverter honouring an export limit, and PCS faults (rejected and ignored writes)."""

from __future__ import annotations

import asyncio
import socket

import pandas as pd
import pytest

from bitgaram.collect.modbus import load_register_map, parse_register_map
from bitgaram.control.setpoints import Mode, Setpoint
from bitgaram.devices.modbus_write import ModbusLinkConfig, ModbusWriter
from bitgaram.devices.sim import SimInverter, SimPcs, start_modbus_server
from bitgaram.errors import ConfigError


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sp(asset: str, kind: str, kw: float, seconds: float = 60.0) -> Setpoint:
    now = pd.Timestamp.now(tz="UTC")
    return Setpoint(asset, kind, kw, now, now + pd.Timedelta(seconds=seconds), Mode.MPC, "plan")


def _pcs_config(port: int, **kw: object) -> ModbusLinkConfig:
    return ModbusLinkConfig(
        "pcs1",
        "ess",
        "127.0.0.1",
        port,
        1,
        load_register_map("generic-pcs"),
        "power_setpoint",
        measured="active_power",
        soc="soc",
        capacity_kwh=200.0,
        max_kw=100.0,
        min_kw=-100.0,
        **kw,  # type: ignore[arg-type]
    )


def test_pcs_soc_follows_written_power_and_limits_clamp() -> None:
    async def scenario() -> None:
        port = _port()
        pcs = SimPcs(200.0, 150.0, soc=0.5, speed=3600.0)  # one wall second = one hour
        server = await start_modbus_server([pcs.device(1)], port)
        states: list[dict[str, object]] = []
        w = ModbusWriter(_pcs_config(port), on_state=lambda a, d: states.append(d))
        c = await w.apply(_sp("ess", "battery", 40.0))
        assert c.ok and c.readback_kw == pytest.approx(40.0) and c.latency_s < 1.0
        s0 = (await w.read_state())["soc_kwh"]
        await asyncio.sleep(0.5)  # half an hour at 40 kW, 95 % efficient: +19 kWh
        s1 = await w.read_state()
        assert s1["power_kw"] == pytest.approx(40.0)
        assert s1["soc_kwh"] - s0 == pytest.approx(19.0, rel=0.15)
        c = await w.apply(_sp("ess", "battery", -400.0))  # beyond the registry's limit
        assert c.ok and c.sent_kw == -100.0 and "clamped" in c.message
        assert states and "soc_kwh" in states[-1]
        w.client.close()
        await server.shutdown()

    asyncio.run(scenario())


def test_pv_export_limit_is_honoured() -> None:
    async def scenario() -> None:
        port = _port()
        inv = SimInverter(available_kw=80.0, rated_kw=100.0)
        server = await start_modbus_server([inv.device(2)], port)
        cfg = ModbusLinkConfig(
            "pv1",
            "pv",
            "127.0.0.1",
            port,
            2,
            load_register_map("generic-pv-control"),
            "export_limit",
            measured="ac_power",
            safe_kw=100.0,
        )
        w = ModbusWriter(cfg)
        assert (await w.read_state())["power_kw"] == pytest.approx(80.0)
        c = await w.apply(_sp("pv", "export_limit", 30.0))
        assert c.ok
        assert (await w.read_state())["power_kw"] == pytest.approx(30.0)
        c = await w.apply(_sp("pv", "export_limit", -5.0))  # clamped to the map's minimum
        assert c.sent_kw == 0.0
        w.client.close()
        await server.shutdown()

    asyncio.run(scenario())


def test_renewal_and_explicit_safe_state_on_expiry() -> None:
    async def scenario() -> None:
        port = _port()
        pcs = SimPcs(200.0, 150.0, soc=0.5)
        server = await start_modbus_server([pcs.device(1)], port)
        w = ModbusWriter(_pcs_config(port))
        await w.apply(_sp("ess", "battery", -50.0, seconds=0.4))
        assert await w.maintain() == "renewed"
        writes = pcs.writes
        await asyncio.sleep(0.5)
        assert await w.maintain() == "safe"
        assert pcs.writes == writes + 1
        assert (await w.read_state())["power_kw"] == 0.0  # idle
        assert any("plan expired" in f for f in w.status.faults)
        assert await w.maintain() is None  # the safe value is written once
        w.client.close()
        await server.shutdown()

    asyncio.run(scenario())


def test_watchdog_device_is_not_renewed() -> None:
    async def scenario() -> None:
        port = _port()
        pcs = SimPcs(200.0, 150.0)
        server = await start_modbus_server([pcs.device(1)], port)
        w = ModbusWriter(_pcs_config(port, watchdog=True))
        await w.apply(_sp("ess", "battery", 10.0))
        assert await w.maintain() is None
        w.client.close()
        await server.shutdown()

    asyncio.run(scenario())


@pytest.mark.parametrize("behaviour", ["reject", "ignore"])
def test_pcs_rejecting_or_ignoring_a_write_is_a_fault_not_a_crash(behaviour: str) -> None:
    async def scenario() -> None:
        port = _port()
        pcs = SimPcs(200.0, 150.0)
        server = await start_modbus_server([pcs.device(1)], port)
        faults: list[tuple[str, str]] = []
        w = ModbusWriter(_pcs_config(port), on_fault=lambda d, m: faults.append((d, m)))
        assert (await w.apply(_sp("ess", "battery", 20.0))).ok
        pcs.behaviour = behaviour  # type: ignore[assignment]
        c = await w.apply(_sp("ess", "battery", -60.0))
        assert not c.ok
        assert faults and faults[0][0] == "pcs1"
        assert ("rejected" in c.message) if behaviour == "reject" else ("ignored" in c.message)
        assert w.status.faults[-1] == c.message
        pcs.behaviour = "ok"
        assert (await w.apply(_sp("ess", "battery", -60.0))).ok  # the link still works
        w.client.close()
        await server.shutdown()

    asyncio.run(scenario())


def test_writable_register_format_is_validated() -> None:
    text = "name,address,type,scale,unit,kind,table,access,min,max\np,0,int16,1,kW,,input,rw,,\n"
    with pytest.raises(ConfigError, match="rw only on holding"):
        parse_register_map(text, "csv", "bad")
    m = load_register_map("generic-pcs")
    with pytest.raises(ConfigError, match="not writable"):
        ModbusLinkConfig("x", "ess", "127.0.0.1", 1, 1, m, "soc")


def test_sunspec_inverter_export_limit_through_models_103_and_123() -> None:
    from bitgaram.devices.sim import SimSunSpecInverter
    from bitgaram.devices.sunspec import layout, sunspec_map

    async def scenario() -> None:
        port = _port()
        inv = SimSunSpecInverter(available_kw=80.0, rated_kw=100.0)
        server = await start_modbus_server([inv.device(3)], port)
        cfg = ModbusLinkConfig(
            "pv-sunspec",
            "pv",
            "127.0.0.1",
            port,
            3,
            sunspec_map(layout([103, 123])),
            "123.WMaxLimPct",
            measured="103.W",
            rating_kw=100.0,
            max_kw=100.0,
            min_kw=0.0,
            enable=(("123.WMaxLim_Ena", 1),),
            safe_kw=100.0,
        )
        w = ModbusWriter(cfg)
        assert (await w.read_state())["power_kw"] == pytest.approx(80.0)  # W x 10^W_SF
        c = await w.apply(_sp("pv", "export_limit", 33.3))  # 33.3 % in 0.1 % steps
        assert c.ok and c.readback_kw == pytest.approx(33.3)
        assert (await w.read_state())["power_kw"] == pytest.approx(33.3, abs=0.01)
        # The SunS marker and model headers are where a SunSpec scan looks for them.
        rr = await w.client.read_holding_registers(40000, count=4, device_id=3)
        assert rr.registers == [0x5375, 0x6E53, 103, 50]
        w.client.close()
        await server.shutdown()

    asyncio.run(scenario())


def test_sunspec_percent_register_needs_a_rating() -> None:
    from bitgaram.devices.sunspec import sunspec_map

    with pytest.raises(ConfigError, match="rating_kw"):
        ModbusLinkConfig("x", "pv", "h", 1, 1, sunspec_map({123: 40002}), "123.WMaxLimPct")
    with pytest.raises(ConfigError, match="not known to pysunspec2"):
        sunspec_map({99999: 40002})
