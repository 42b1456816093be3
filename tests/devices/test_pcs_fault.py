"""A PCS that rejects or ignores a write (a pymodbus peer): an alert, the planner is told and
plans the ESS at 0 kW until the device confirms a write again; nothing crashes."""

from __future__ import annotations

import asyncio
import json
import socket

import pandas as pd
import pytest

from bitgaram.control.journal import MemoryJournal
from bitgaram.control.live import LiveController
from bitgaram.control.loop import ControlLoop, LoopConfig
from bitgaram.control.planner import ParkPlanner
from bitgaram.control.setpoints import Mode, Setpoint
from bitgaram.devices.fleet import Fleet
from bitgaram.devices.service import DeviceService
from bitgaram.devices.sim import SimPcs, start_modbus_server
from bitgaram.peak import PeakWatch
from bitgaram.site import parse_site
from bitgaram.tariff import load_tariff

PREFIX = "bitgaram"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _site(port: int) -> object:
    return parse_site(
        {
            "site": {
                "id": "faultpark",
                "name": "Fault park",
                "timezone": "Asia/Seoul",
                "tariff": {"name": "kepco-industrial-eul-high-a", "option": "II"},
            },
            "tenants": [{"id": "a", "name": "A"}],
            "meters": [
                {
                    "id": "a-load",
                    "tenant": "a",
                    "kind": "load",
                    "unit": "kWh",
                    "resolution": "5min",
                },
                {"id": "grid", "kind": "grid_import", "unit": "kWh", "resolution": "5min"},
            ],
            "assets": [{"type": "battery", "id": "ess", "capacity_kwh": 200, "power_kw": 100}],
            "devices": [
                {
                    "id": "pcs",
                    "protocol": "modbus",
                    "asset": "ess",
                    "host": "127.0.0.1",
                    "port": port,
                    "model": "generic-pcs",
                    "setpoint": "power_setpoint",
                    "measured": "active_power",
                    "soc": "soc",
                }
            ],
        }
    )


def _battery(setpoints: list[Setpoint]) -> Setpoint:
    return next(s for s in setpoints if s.asset == "ess")


@pytest.mark.parametrize("behaviour", ["reject", "ignore"])
def test_a_faulted_pcs_is_planned_at_zero_until_it_confirms_again(behaviour: str) -> None:
    async def scenario() -> None:
        port = _port()
        pcs = SimPcs(200.0, 100.0, soc=0.5)
        server = await start_modbus_server([pcs.device(1)], port)
        site = _site(port)
        tariff = load_tariff("kepco-industrial-eul-high-a", option="II")
        loop = ControlLoop(
            PeakWatch(site, targets={"park": 5000.0}),  # type: ignore[arg-type]
            ParkPlanner(site, tariff, horizon=8, interval_s=900.0),  # type: ignore[arg-type]
            lambda t, p: None,
            MemoryJournal(),
            ("ess",),
            100.0,
            LoopConfig(interval_s=900.0),
        )
        live = LiveController(loop)
        messages: list[tuple[str, dict[str, object]]] = []

        def publish(topic: str, payload: str) -> None:
            # what the loop's MQTT link does with <prefix>/<site>/<asset>/state
            data = json.loads(payload)
            messages.append((topic, data))
            parts = topic.split("/")
            if parts[-1] == "state":
                live.on_state(parts[-2], data)

        svc = DeviceService(site, Fleet({}, None), publish=publish, prefix=PREFIX)  # type: ignore[arg-type]
        await svc.start()
        now = pd.Timestamp.now(tz="UTC").floor("min")
        for m in ("a-load", "grid"):
            live.on_reading(m, now - pd.Timedelta(minutes=5), 30.0, now)  # 360 kW

        def tick() -> Setpoint:
            live.tick(now)
            return _battery(list(loop.setpoints.values()))

        def sp(kw: float) -> Setpoint:
            return Setpoint(
                "ess", "battery", kw, now, now + pd.Timedelta(minutes=15), Mode.MPC, "plan"
            )

        assert (await svc.apply(sp(30.0))) is not None and svc.writers["ess"].available
        await svc.tick()
        assert live.battery_available and tick().mode is Mode.MPC

        pcs.behaviour = behaviour  # type: ignore[assignment]
        c = await svc.apply(sp(-50.0))
        assert c is not None and not c.ok
        alerts = [d for t, d in messages if t.endswith("/alerts")]
        assert alerts and alerts[-1]["kind"] == "device_fault" and alerts[-1]["point"] == "pcs"
        state = [d for t, d in messages if t.endswith("/ess/state")][-1]
        assert state["available"] is False and state["fault"] == c.message  # told at once
        assert not live.battery_available
        # the planner leaves the ESS out: its problem has no battery, the ESS is set idle
        assert loop.planner.inputs(live.snapshot(now), 0.0, 5000.0).battery is None  # type: ignore[attr-defined]
        idle = tick()
        assert idle.power_kw == 0.0 and idle.mode is Mode.SAFE and "unavailable" in idle.reason
        assert not [b for b in loop.flexibility(now).batteries]  # nor a peak action on it
        await svc.tick()  # the periodic state repeats it
        assert not live.battery_available

        pcs.behaviour = "ok"  # the device takes writes again: the idle setpoint confirms
        assert (await svc.apply(idle)) is not None
        assert live.battery_available
        assert tick().mode is Mode.MPC
        await svc.stop()
        await server.shutdown()

    asyncio.run(scenario())


def test_a_bad_available_flag_is_rejected_and_the_state_kept() -> None:
    site = _site(1)
    loop = ControlLoop(
        PeakWatch(site, targets={"park": 5000.0}),  # type: ignore[arg-type]
        ParkPlanner(site, load_tariff("kepco-industrial-eul-high-a", option="II")),  # type: ignore[arg-type]
        lambda t, p: None,
        MemoryJournal(),
        ("ess",),
        100.0,
    )
    live = LiveController(loop)
    live.on_state("ess", {"available": "no"})
    assert live.rejected == 1 and live.battery_available
    live.on_state("other", {"available": False})  # not a battery of the loop
    assert live.battery_available
