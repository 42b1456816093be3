"""The central system with OCPP 2.0.1 stations (ocpp's 2.0.1 ChargePoint, real websockets)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pandas as pd
import pytest
import websockets
from ocpp.v201.enums import TransactionEventEnumType, TriggerReasonEnumType

from bitgaram.control.setpoints import Mode, Setpoint
from bitgaram.devices.fleet import Fleet, FleetDefault, Vehicle
from bitgaram.devices.ocpp201 import meter_samples
from bitgaram.devices.ocpp_central import CentralSystem
from bitgaram.devices.ocpp_session import ChargerConfig
from bitgaram.devices.service import DeviceService
from bitgaram.devices.sim import SimCharger
from bitgaram.devices.sim_ocpp201 import SimStation
from bitgaram.site import load_site
from bitgaram.store import open_store


def _setpoint(asset: str, kw: float, seconds: float = 60.0) -> Setpoint:
    now = pd.Timestamp.now(tz="UTC")
    return Setpoint(asset, "ev", kw, now, now + pd.Timedelta(seconds=seconds), Mode.MPC, "plan")


async def _system(
    n: int, protocols: tuple[str, ...] = ("ocpp2.0.1",)
) -> tuple[CentralSystem, str, list[tuple[str, pd.Timestamp, float]]]:
    seen: list[tuple[str, pd.Timestamp, float]] = []
    fleet = Fleet(
        {f"tag{i}": Vehicle(f"tag{i}", f"van{i}", "23:59", 30.0, 60.0) for i in range(n - 1)},
        default=None,
    )
    cs = CentralSystem(
        [
            ChargerConfig(
                f"cp{i}",
                max_kw=22.0,
                safe_kw=7.0,
                asset="hub",
                protocol=protocols[i % len(protocols)],  # type: ignore[arg-type]
            )
            for i in range(n)
        ],
        fleet,
        heartbeat_s=30,
        on_meter=lambda cp, ts, kwh, kw: seen.append((cp, ts, kwh)),
    )
    port = await cs.start()
    return cs, f"ws://127.0.0.1:{port}", seen


def test_stations_sessions_profiles_and_readback() -> None:
    n = 6

    async def scenario() -> None:
        cs, url, seen = await _system(n)
        # Half of the stations report their register in kWh (Wh x 10^3).
        stations = [
            SimStation(f"cp{i}", url, 22.0, 0.05, speed=3600, energy_multiplier=3 * (i % 2))
            for i in range(n)
        ]
        await asyncio.gather(*(s.connect() for s in stations))
        await asyncio.sleep(0.2)
        assert all(s.limit_kw() == pytest.approx(7.0) for s in stations)  # the default profile
        tasks = [asyncio.ensure_future(s.charge(f"tag{i}", 5.0)) for i, s in enumerate(stations)]
        await asyncio.sleep(0.2)
        assert len(cs.sessions) == n
        # The station names the transaction; the central system keeps its id.
        assert {s.transaction_id for s in cs.sessions.values()} == {st.tx for st in stations}
        planned = cs.ev_sessions()["hub"]
        assert {e.id for e in planned} == {f"cp{i}.1" for i in range(n - 1)}  # tag5: no data
        confs = await asyncio.gather(
            *(cs.apply(_setpoint(f"cp{i}.1", 3.0 + i)) for i in range(n - 1))
        )
        assert all(c.ok for c in confs), [c.message for c in confs if not c.ok]
        assert [stations[i].limit_kw() for i in range(n - 1)] == [3.0 + i for i in range(n - 1)]
        assert stations[n - 1].limit_kw() == pytest.approx(7.0)
        over = await cs.apply(_setpoint("cp0.1", 50.0))
        assert over.ok and over.sent_kw == 22.0 and "clamped" in over.message
        done = await asyncio.gather(*tasks)
        assert done == pytest.approx([5.0] * n)
        assert len(cs.finished) == n and not cs.sessions
        # Delivered energy is right whatever the register's multiplier.
        assert all(s.delivered_kwh == pytest.approx(5.0, abs=0.01) for s in cs.finished)
        assert {cp for cp, _, _ in seen} == {f"cp{i}" for i in range(n)}
        assert max(kwh for _, _, kwh in seen) == pytest.approx(5.0, abs=0.01)
        await asyncio.gather(*(s.disconnect() for s in stations))
        await cs.stop()

    asyncio.run(scenario())


def test_a_token_after_the_plug_binds_the_session_to_its_vehicle() -> None:
    async def scenario() -> None:
        cs, url, _ = await _system(2)
        st = SimStation("cp0", url, 22.0, 0.05, speed=60)
        await st.connect()
        task = asyncio.ensure_future(st.charge("tag0", 1e6, max_s=1.0, badge_after_s=0.3))
        await asyncio.sleep(0.15)
        (session,) = cs.sessions.values()
        assert session.id_tag == "" and cs.ev_sessions()["hub"] == ()  # plugged, not known
        await asyncio.sleep(0.4)
        assert session.id_tag == "tag0" and session.vehicle == "van0"
        assert [e.id for e in cs.ev_sessions()["hub"]] == ["cp0.1"]
        await task
        assert cs.finished[0].delivered_kwh > 0
        await st.disconnect()
        await cs.stop()

    asyncio.run(scenario())


def test_disconnect_mid_session_falls_back_and_resumes() -> None:
    async def scenario() -> None:
        cs, url, _ = await _system(2)
        st = SimStation("cp0", url, 22.0, 0.05, speed=60)
        await st.connect()
        task = asyncio.ensure_future(st.charge("tag0", 1e6, max_s=3.0))
        await asyncio.sleep(0.2)
        c = await cs.apply(_setpoint("cp0.1", 15.0, seconds=0.6))
        assert c.ok and st.limit_kw() == 15.0
        await st.disconnect()
        await asyncio.sleep(0.1)
        assert not cs.status["cp0"].connected
        offline = await cs.apply(_setpoint("cp0.1", 12.0, seconds=30))
        assert not offline.ok and "offline" in offline.message
        await asyncio.sleep(0.6)
        assert st.limit_kw() == pytest.approx(7.0)  # TxProfile expired: the default profile
        await st.connect(boot=False)
        await asyncio.sleep(0.3)
        assert cs.status["cp0"].connected
        assert st.limit_kw() == pytest.approx(12.0)  # the still valid setpoint was re-sent
        await task
        await st.disconnect()
        await cs.stop()

    asyncio.run(scenario())


def test_a_transaction_seen_first_mid_way_is_adopted() -> None:
    """The central system restarted under a charging station: its next event opens the session."""

    async def scenario() -> None:
        cs, url, _ = await _system(2)
        st = SimStation("cp0", url, 22.0)
        await st.connect()
        st.tx, st.register_wh = "tx-from-before", 12_000.0
        periodic = TriggerReasonEnumType.meter_value_periodic
        await st.event(TransactionEventEnumType.updated, periodic)
        assert list(cs.sessions) == []  # no EVSE named yet: metered, not planned
        assert "no event has named its EVSE" in cs.status["cp0"].faults[-1]
        await st.event(TransactionEventEnumType.updated, periodic, "tag0", with_evse=True)
        (s,) = cs.sessions.values()
        assert (s.id, s.transaction_id, s.vehicle) == ("cp0.1", "tx-from-before", "van0")
        assert s.meter_start_kwh == 12.0 and s.delivered_kwh == 0.0
        st.register_wh = 15_500.0
        await st.event(TransactionEventEnumType.ended, TriggerReasonEnumType.ev_departed)
        assert cs.finished[-1].delivered_kwh == pytest.approx(3.5)
        await st.disconnect()
        await cs.stop()

    asyncio.run(scenario())


def test_one_park_speaks_both_versions_and_each_charger_only_its_own() -> None:
    async def scenario() -> None:
        cs, url, _ = await _system(2, protocols=("ocpp1.6", "ocpp2.0.1"))
        old, new = SimCharger("cp0", url, 22.0), SimStation("cp1", url, 22.0)
        await old.connect()
        await new.connect()
        await asyncio.sleep(0.2)
        assert old.limit_kw() == new.limit_kw() == pytest.approx(7.0)
        assert cs.status["cp0"].protocol == "ocpp1.6" and cs.status["cp1"].protocol == "ocpp2.0.1"
        await old.disconnect()
        await new.disconnect()
        # A charger on the version it is not registered for is refused with the reason.
        for cp, offered in (("cp0", "ocpp2.0.1"), ("cp1", "ocpp1.6")):
            async with websockets.connect(f"{url}/{cp}", subprotocols=[offered]) as ws:  # type: ignore[list-item]
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1002
            assert "registered for subprotocol" in closed.value.rcvd.reason
        await cs.stop()

    asyncio.run(scenario())


def test_malformed_events_are_answered_and_the_station_carries_on() -> None:
    async def scenario() -> None:
        cs, url, _ = await _system(2)
        cs.boot_wait_s = 60.0
        async with websockets.connect(f"{url}/cp0", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
            sv = {"value": "lots", "measurand": "Energy.Active.Import.Register"}
            values = [{"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [sv]}]
            bad = {"evseId": 1, "meterValue": values}
            await ws.send(json.dumps([2, "m1", "MeterValues", bad]))
            reply = json.loads(await ws.recv())
            assert reply[0] == 4 and reply[1] == "m1"  # the schema's CallError
            event = {
                "eventType": "Started",
                "timestamp": "2026-01-01T00:00:00",
                "triggerReason": "Authorized",
                "seqNo": 0,
                "transactionInfo": {"transactionId": "t1"},
                "meterValue": [{"timestamp": "2026-01-01T00:00:00Z",
                                "sampledValue": [{"value": float("inf")}]}],
            }  # fmt: skip
            await ws.send(json.dumps([2, "m2", "TransactionEvent", event]))  # Infinity
            reply = json.loads(await ws.recv())
            assert reply[:3] == [4, "m2", "FormatViolation"] and "finite" in reply[3]
            await ws.send(json.dumps([2, "m3", "Heartbeat", {}]))
            assert json.loads(await ws.recv())[:2] == [3, "m3"]  # still served
        assert not cs.sessions
        await cs.stop()

    asyncio.run(scenario())


def test_sampled_values_follow_their_unit_and_multiplier() -> None:
    ts = "2026-03-08T10:00:00-07:00"  # Los Angeles, the DST day: stored as UTC
    (s,) = meter_samples(
        [
            {
                "timestamp": ts,
                "sampled_value": [
                    {"value": 12.5, "unit_of_measure": {"unit": "kWh"}},
                    {
                        "value": 7.2,
                        "measurand": "Power.Active.Import",
                        "unit_of_measure": {"unit": "W", "multiplier": 3},
                    },
                    {"value": 40, "measurand": "SoC", "unit_of_measure": {"unit": "Percent"}},
                ],
            }
        ]
    )
    assert (s.energy_kwh, s.power_kw, s.soc_pct) == (12.5, 7.2, 40.0)
    assert s.ts == pd.Timestamp("2026-03-08T17:00:00Z")
    with pytest.raises(ValueError, match="finite"):
        meter_samples([{"timestamp": ts, "sampled_value": [{"value": float("nan")}]}])


SITE = """
[site]
id = "ev201"
name = "Station park"
timezone = "America/Los_Angeles"

[[meters]]
id = "st-energy"
kind = "ev_charger"
unit = "kWh"
resolution = "1s"

[[assets]]
type = "ev_charger"
id = "hub"
chargers = 1
power_kw = 22

[[devices]]
id = "st0"
protocol = "ocpp2.0.1"
asset = "hub"
max_kw = 22
safe_kw = 7
meter = "st-energy"
"""


def test_the_device_service_stores_a_stations_session_under_its_own_id(tmp_path: Path) -> None:
    (tmp_path / "site.toml").write_text(SITE, encoding="utf-8")
    site = load_site(tmp_path / "site.toml")
    store = open_store(tmp_path / "ev.duckdb")
    store.save_site(site)

    async def scenario() -> str:
        svc = DeviceService(
            site,
            Fleet({}, FleetDefault(8.0, 20.0)),
            sessions_path=tmp_path / "sessions.jsonl",
            store=store,
            ocpp_port=0,
            tick_s=0.2,
        )
        await svc.start()
        st = SimStation("st0", f"ws://127.0.0.1:{svc.ocpp_port}", 22.0, 0.05, speed=60)
        await st.connect()
        task = asyncio.ensure_future(st.charge("anyone", 0.5))
        await asyncio.sleep(0.3)
        tx = st.tx
        assert tx is not None
        now = pd.Timestamp.now(tz="UTC")
        c = await svc.apply(
            Setpoint("st0.1", "ev", 11.0, now, now + pd.Timedelta("1min"), Mode.MPC)
        )
        assert c.ok and st.limit_kw() == 11.0
        await task
        await asyncio.sleep(0.3)
        await st.disconnect()
        await svc.stop()
        return tx

    tx = asyncio.run(scenario())
    (kept,) = store.read_ev_sessions("ev201")
    assert kept.transaction_id == tx and kept.id_tag == "anyone" and kept.ended_at is not None
    assert kept.delivered_kwh == pytest.approx(0.5, abs=0.01)
    assert store.count_readings("st-energy") >= 1
    line = json.loads((tmp_path / "sessions.jsonl").read_text().splitlines()[0])
    assert line["transaction_id"] == tx
    store.close()
