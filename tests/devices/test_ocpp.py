"""The OCPP 1.6J central system against simulated chargers (ocpp ChargePoint, real websockets)."""

from __future__ import annotations

import asyncio
import json
import logging

import pandas as pd
import pytest
import websockets
from ocpp.v16 import call

from bitgaram.control.setpoints import Mode, Setpoint
from bitgaram.devices.fleet import Fleet, FleetDefault, Vehicle
from bitgaram.devices.ocpp_central import CentralSystem
from bitgaram.devices.ocpp_session import ChargerConfig
from bitgaram.devices.sim import SimCharger

N = 10


def _setpoint(asset: str, kw: float, seconds: float = 60.0) -> Setpoint:
    now = pd.Timestamp.now(tz="UTC")
    return Setpoint(asset, "ev", kw, now, now + pd.Timedelta(seconds=seconds), Mode.MPC, "plan")


async def _system(n: int = N) -> tuple[CentralSystem, str, list[tuple[str, pd.Timestamp, float]]]:
    seen: list[tuple[str, pd.Timestamp, float]] = []
    fleet = Fleet(
        {f"tag{i}": Vehicle(f"tag{i}", f"van{i}", "23:59", 30.0, 60.0) for i in range(n - 1)},
        default=None,
    )
    cs = CentralSystem(
        [ChargerConfig(f"cp{i}", max_kw=22.0, safe_kw=7.0, asset="hub") for i in range(n)],
        fleet,
        heartbeat_s=30,
        on_meter=lambda cp, ts, kwh, kw: seen.append((cp, ts, kwh)),
    )
    port = await cs.start()
    return cs, f"ws://127.0.0.1:{port}", seen


def test_ten_chargers_sessions_profiles_and_readback() -> None:
    async def scenario() -> None:
        cs, url, seen = await _system()
        cps = [SimCharger(f"cp{i}", url, 22.0, meter_interval_s=0.05, speed=3600) for i in range(N)]
        await asyncio.gather(*(cp.connect() for cp in cps))
        await asyncio.sleep(0.2)
        # Every charger got the safe default profile on boot.
        assert all(cp.limit_kw() == pytest.approx(7.0) for cp in cps)
        # Sessions of the fleet (tag0..8) are planned; tag9 has no data (safe rate, not planned).
        tasks = [asyncio.ensure_future(cp.charge(f"tag{i}", 5.0)) for i, cp in enumerate(cps)]
        await asyncio.sleep(0.2)
        assert len(cs.sessions) == N
        planned = cs.ev_sessions()["hub"]
        assert len(planned) == N - 1 and {e.id for e in planned} == {f"cp{i}.1" for i in range(9)}
        confs = await asyncio.gather(
            *(cs.apply(_setpoint(f"cp{i}.1", 3.0 + i)) for i in range(N - 1))
        )
        assert all(c.ok for c in confs), [c.message for c in confs if not c.ok]
        assert [cps[i].limit_kw() for i in range(N - 1)] == [3.0 + i for i in range(N - 1)]
        assert cps[9].limit_kw() == pytest.approx(7.0)  # the safe rate
        over = await cs.apply(_setpoint("cp0.1", 50.0))
        assert over.ok and over.sent_kw == 22.0 and "clamped" in over.message
        done = await asyncio.gather(*tasks)
        assert done == pytest.approx([5.0] * N)
        assert len(cs.finished) == N and not cs.sessions
        assert all(s.delivered_kwh == pytest.approx(5.0, abs=0.01) for s in cs.finished)
        assert {cp for cp, _, _ in seen} == {f"cp{i}" for i in range(N)}
        assert cs.stats.messages > 10 * N
        await asyncio.gather(*(cp.disconnect() for cp in cps))
        await cs.stop()

    asyncio.run(scenario())


def test_disconnect_mid_session_falls_back_and_resumes() -> None:
    async def scenario() -> None:
        cs, url, _ = await _system(2)
        cp = SimCharger("cp0", url, 22.0, meter_interval_s=0.05, speed=60)
        await cp.connect()
        task = asyncio.ensure_future(cp.charge("tag0", 1e6, max_s=3.0))
        await asyncio.sleep(0.2)
        c = await cs.apply(_setpoint("cp0.1", 15.0, seconds=0.6))
        assert c.ok and cp.limit_kw() == 15.0
        await cp.disconnect()
        await asyncio.sleep(0.1)
        assert not cs.status["cp0"].connected and "disconnected" in cs.status["cp0"].faults
        offline = await cs.apply(_setpoint("cp0.1", 12.0, seconds=30))
        assert not offline.ok and "offline" in offline.message
        await asyncio.sleep(0.6)
        assert cp.limit_kw() == pytest.approx(7.0)  # TxProfile expired: the default profile
        await cp.connect(boot=False)
        await asyncio.sleep(0.3)
        assert cs.status["cp0"].connected
        assert cp.limit_kw() == pytest.approx(12.0)  # the still valid setpoint was re-sent
        await task
        await cp.disconnect()
        await cs.stop()

    asyncio.run(scenario())


def test_malformed_messages_answered_and_others_undisturbed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        cs, url, _ = await _system(2)
        cs.boot_wait_s = 60.0  # the raw connection below never boots: no profile interleaved
        good = SimCharger("cp1", url, 22.0)
        await good.connect()
        async with websockets.connect(f"{url}/cp0", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            await ws.send("this is not json")
            await ws.send(json.dumps([2, "m1", "BootNotification", {"chargePointVendor": 5}]))
            reply = json.loads(await ws.recv())
            assert reply[0] == 4 and reply[1] == "m1"  # CallError
            bad_mv = {
                "connectorId": 1,
                "meterValue": [
                    {"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "lots"}]}
                ],
            }
            await ws.send(json.dumps([2, "m2", "MeterValues", bad_mv]))
            reply = json.loads(await ws.recv())
            assert reply[:3] == [4, "m2", "FormatViolation"]
            await ws.send(json.dumps([2, "m3", "Heartbeat", {}]))
            assert json.loads(await ws.recv())[:2] == [3, "m3"]  # still served
        # An unknown charge point is refused; the good charger carries on.
        async with websockets.connect(f"{url}/intruder", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
        res = await good.call(call.Heartbeat())
        assert res.current_time
        assert cs.stats.malformed == 1
        await good.disconnect()
        await cs.stop()

    with caplog.at_level(logging.WARNING):
        asyncio.run(scenario())
    assert "unknown charge point" in caplog.text


def test_fleet_default_plans_unknown_tags() -> None:
    fleet = Fleet({}, default=FleetDefault(dwell_h=8, needed_kwh=20))
    t = pd.Timestamp("2026-03-08 09:00", tz="America/Los_Angeles")  # the DST day
    vehicle, dep, need, _ = fleet.plan_for("x", t) or ("", t, 0.0, 0.0)
    assert vehicle == "x" and need == 20 and dep - t == pd.Timedelta(hours=8)


def test_charger_that_never_boots_still_gets_the_default_profile() -> None:
    async def scenario() -> None:
        cs, url, _ = await _system(2)
        cs.boot_wait_s = 0.2
        cp = SimCharger("cp1", url, 22.0)
        await cp.connect(boot=False)  # e.g. the central system restarted under it
        await asyncio.sleep(0.6)
        assert cp.limit_kw() == pytest.approx(7.0)
        await cp.disconnect()
        await cs.stop()

    asyncio.run(scenario())
