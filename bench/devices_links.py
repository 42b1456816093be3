"""Device links under load: 100 OCPP chargers at once, and setpoint -> confirmation latency.

The OCPP central system (:class:`bitgaram.devices.ocpp_central.CentralSystem`) runs in this process;
the simulated chargers (``ocpp`` ChargePoint over real websockets, 127.0.0.1) run in a child
process, each with a session sending MeterValues and a Heartbeat every ``--interval`` seconds.
Reported per phase (10 chargers = the reference, then ``--chargers``): messages handled per
second and the median / p99 time the central system spends on one message (parse, validate,
handle, answer). While the large phase runs, every session gets a setpoint every 2 s
(SetChargingProfile + GetCompositeSchedule read-back): median / p99 setpoint -> confirmation.
Then the Modbus write path: a PCS on a pymodbus server, setpoint -> write -> read-back
confirmation, against a plain register read measured in the same run.

``--protocol ocpp2.0.1`` runs the same phases with OCPP 2.0.1 stations
(:class:`bitgaram.devices.sim_ocpp201.SimStation`: TransactionEvent and MeterValues in,
the same profiles out).

    .venv/bin/python bench/devices_links.py --chargers 100 --seconds 20
    .venv/bin/python bench/devices_links.py --chargers 100 --seconds 20 --protocol ocpp2.0.1
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import socket
import time

import numpy as np
import pandas as pd

from bitgaram.collect.modbus import load_register_map
from bitgaram.control.setpoints import Mode, Setpoint
from bitgaram.devices.fleet import Fleet, FleetDefault
from bitgaram.devices.modbus_write import ModbusLinkConfig, ModbusWriter
from bitgaram.devices.ocpp_central import CentralSystem
from bitgaram.devices.ocpp_session import ChargerConfig
from bitgaram.devices.sim import SimCharger, SimPcs, start_modbus_server
from bitgaram.devices.sim_ocpp201 import SimStation


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _chargers(url: str, first: int, n: int, interval: float, seconds: float, protocol: str) -> None:
    sim = SimStation if protocol == "ocpp2.0.1" else SimCharger

    async def main() -> None:
        cps = [sim(f"cp{i}", url, 22.0, interval, speed=1.0) for i in range(first, first + n)]
        for cp in cps:  # connect in a row, like a depot after a power cut
            await cp.connect()
        beats = [asyncio.ensure_future(cp.heartbeats(interval)) for cp in cps]
        await asyncio.gather(*(cp.charge(f"tag{cp.id}", 1e6, max_s=seconds) for cp in cps))
        for b in beats:
            b.cancel()
        for cp in cps:
            await cp.disconnect()

    asyncio.run(main())


async def _phase(
    cs: CentralSystem, url: str, n: int, args: argparse.Namespace, setpoints: bool
) -> dict[str, float]:
    proc = mp.Process(
        target=_chargers, args=(url, 0, n, args.interval, args.seconds, args.protocol)
    )
    proc.start()
    while len(cs.sessions) < n:
        await asyncio.sleep(0.1)
    cs.stats.messages, cs.stats.durations_s = 0, []
    t0 = time.perf_counter()
    latencies: list[float] = []
    while proc.is_alive() and time.perf_counter() - t0 < args.seconds - 1:
        if setpoints:
            now = pd.Timestamp.now(tz="UTC")
            sps = [
                Setpoint(
                    sid, "ev", 3.0 + (hash(sid) % 15), now, now + pd.Timedelta("1min"), Mode.MPC
                )
                for sid in list(cs.sessions)
            ]
            confs = await asyncio.gather(*(cs.apply(sp) for sp in sps))
            latencies += [c.latency_s for c in confs if c.ok]
        await asyncio.sleep(2.0)
    wall = time.perf_counter() - t0
    msgs, durs = cs.stats.messages, np.array(cs.stats.durations_s)
    await asyncio.to_thread(proc.join)
    out = {
        "chargers": n,
        "msg_per_s": msgs / wall,
        "p50_ms": 1e3 * float(np.median(durs)),
        "p99_ms": 1e3 * float(np.percentile(durs, 99)),
    }
    if latencies:
        lat = np.array(latencies)
        out |= {
            "sp_n": len(lat),
            "sp_p50_ms": 1e3 * float(np.median(lat)),
            "sp_p99_ms": 1e3 * float(np.percentile(lat, 99)),
        }
    return out


async def _modbus(n: int) -> dict[str, float]:
    port = _port()
    server = await start_modbus_server([SimPcs(500.0, 250.0).device(1)], port)
    cfg = ModbusLinkConfig(
        "pcs",
        "ess",
        "127.0.0.1",
        port,
        1,
        load_register_map("generic-pcs"),
        "power_setpoint",
        measured="active_power",
        soc="soc",
    )
    w = ModbusWriter(cfg)
    await w.read_state()
    reads, writes = [], []
    for i in range(n):
        t = time.perf_counter()
        await w.client.read_holding_registers(0, count=6, device_id=1)
        reads.append(time.perf_counter() - t)
        now = pd.Timestamp.now(tz="UTC")
        c = await w.apply(
            Setpoint(
                "ess", "battery", float(i % 200 - 100), now, now + pd.Timedelta("1min"), Mode.MPC
            )
        )
        assert c.ok, c.message
        writes.append(c.latency_s)
    w.client.close()
    await server.shutdown()
    return {
        "n": n,
        "read_p50_ms": 1e3 * float(np.median(reads)),
        "write_p50_ms": 1e3 * float(np.median(writes)),
        "write_p99_ms": 1e3 * float(np.percentile(writes, 99)),
    }


async def main(args: argparse.Namespace) -> None:
    chargers = [
        ChargerConfig(f"cp{i}", 22.0, 7.0, "hub", protocol=args.protocol)
        for i in range(args.chargers)
    ]
    cs = CentralSystem(chargers, Fleet({}, FleetDefault(8.0, 30.0)), heartbeat_s=args.interval)
    port = await cs.start("127.0.0.1", 0)
    url = f"ws://127.0.0.1:{port}"
    ref = await _phase(cs, url, 10, args, setpoints=False)
    big = await _phase(cs, url, args.chargers, args, setpoints=True)
    await cs.stop()
    mb = await _modbus(args.modbus_n)
    print(f"protocol {args.protocol}")
    print(f"{'chargers':>8} {'msg/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for r in (ref, big):
        print(f"{r['chargers']:>8} {r['msg_per_s']:>8.1f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}")
    print(f"p99 ratio {args.chargers} vs 10 chargers: {big['p99_ms'] / ref['p99_ms']:.2f}x")
    print(
        f"OCPP setpoint -> confirmation ({big['sp_n']} setpoints): median "
        f"{big['sp_p50_ms']:.1f} ms, p99 {big['sp_p99_ms']:.1f} ms"
    )
    print(
        f"Modbus setpoint -> read-back confirmation ({mb['n']}): median {mb['write_p50_ms']:.2f}"
        f" ms, p99 {mb['write_p99_ms']:.2f} ms; plain read median {mb['read_p50_ms']:.2f} ms "
        f"(ratio {mb['write_p50_ms'] / mb['read_p50_ms']:.1f}x)"
    )


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chargers", type=int, default=100)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--interval", type=float, default=1.0, help="MeterValues/Heartbeat period [s]")
    p.add_argument("--modbus-n", type=int, default=300)
    p.add_argument("--protocol", choices=("ocpp1.6", "ocpp2.0.1"), default="ocpp1.6")
    asyncio.run(main(p.parse_args()))
