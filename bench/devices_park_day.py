"""End to end: a day of the sample industrial park with its chargers and ESS behind real protocols.

The park simulation (:func:`bitgaram.simulate.park.simulate_park`, the MPC controller) runs
twice on the same day:

1. in process: the controller's decisions go straight to the simulated physics;
2. through the devices: every step, the ESS decision goes out as a ``battery`` setpoint over
   Modbus TCP to a PCS on a pymodbus server (write, read back) and every plugged vehicle's as an
   ``ev`` setpoint over OCPP 1.6J to a simulated charger on ``ocpp``'s ChargePoint (TxProfile,
   GetCompositeSchedule read-back), through the central system of :mod:`bitgaram.devices`.
   Vehicles plug in (Authorize, StartTransaction) when they arrive, report MeterValues every
   step and leave (StopTransaction) at departure. The physics then applies what the devices
   **read back**, not what was asked, so anything lost or distorted on the way shows in the
   figures.

Printed: both runs' bill, peak, import, EVs short and jobs late with the relative difference,
the connection-limit and target checks, and setpoint -> confirmation latency (median, p99) per
protocol. Vehicles' V2G is switched off in both runs (OCPP 1.6 charging profiles only limit
charging). Jobs have no device link (the simulator runs them in both runs).

    .venv/bin/python bench/devices_park_day.py --day 2026-06-10
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import threading
import time
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from ocpp.v16 import call
from rich.progress import Progress

from bitgaram.collect.modbus import load_register_map
from bitgaram.control.setpoints import Mode, Setpoint
from bitgaram.devices.fleet import Fleet
from bitgaram.devices.modbus_write import ModbusLinkConfig, ModbusWriter
from bitgaram.devices.ocpp_central import CentralSystem
from bitgaram.devices.ocpp_session import ChargerConfig
from bitgaram.devices.sim import SimCharger, SimPcs, start_modbus_server
from bitgaram.devices.status import Confirmation
from bitgaram.simulate.park import (
    Decision,
    MPCControl,
    ParkCase,
    ParkController,
    ParkState,
    load_park_case,
    park_table,
    simulate_park,
)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DeviceControl:
    """A park controller whose decisions reach the physics only through the device links."""

    def __init__(self, inner: ParkController, case: ParkCase) -> None:
        self.inner, self.case = inner, case
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        day = [
            v for v in case.vehicles if v.departure > case.sim_start and v.arrival < case.sim_end
        ]
        self.vehicles = {v.id: v for v in day}
        self.confs: dict[str, list[Confirmation]] = {"ocpp": [], "modbus": []}
        self.plugged: dict[str, SimCharger] = {}
        self.registers: dict[str, float] = {}
        self._run(self._start())

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def _start(self) -> None:
        chargers = [
            ChargerConfig(f"cp-{v.id}", v.charger_kw, v.charger_kw / 2, "fleet")
            for v in self.vehicles.values()
        ]
        self.cs = CentralSystem(chargers, Fleet({}))
        self.url = f"ws://127.0.0.1:{await self.cs.start()}"
        bat = self.case.battery
        assert bat is not None
        port = _port()
        self.server = await start_modbus_server([SimPcs(2000.0, 1000.0, speed=0.0).device(1)], port)
        p = float(np.atleast_1d(bat.nominal_power_kw)[0])
        self.pcs = ModbusWriter(
            ModbusLinkConfig(
                "pcs",
                "park-ess",
                "127.0.0.1",
                port,
                1,
                load_register_map("generic-pcs"),
                "power_setpoint",
                measured="active_power",
                min_kw=-p,
                max_kw=p,
            )
        )

    async def _plug(self, vid: str) -> None:
        v = self.vehicles[vid]
        cp = SimCharger(f"cp-{vid}", self.url, v.charger_kw)
        await cp.connect()
        await cp.call(call.Authorize(vid))
        res = await cp.call(
            call.StartTransaction(1, vid, 0, pd.Timestamp.now(tz="UTC").isoformat())
        )
        cp.tx = res.transaction_id
        self.plugged[vid] = cp
        self.registers[vid] = 0.0

    async def _unplug(self, vid: str) -> None:
        cp = self.plugged.pop(vid)
        now = pd.Timestamp.now(tz="UTC").isoformat()
        await cp.call(call.StopTransaction(int(cp.register_wh), now, cp.tx))
        await cp.disconnect()

    async def _step(self, sps: list[Setpoint]) -> list[Confirmation]:
        for vid, cp in self.plugged.items():
            cp.register_wh = self.registers[vid] * 1000.0
            await cp.meter_values()
        calls = [self.pcs.apply(sp) if sp.kind == "battery" else self.cs.apply(sp) for sp in sps]
        return list(await asyncio.gather(*calls))

    def decide(self, case: ParkCase, state: ParkState) -> Decision:
        """The inner decision, sent to the devices; returns what they read back."""
        dec = self.inner.decide(case, state)
        t, dt = state.step, case.step_hours
        active = {v for v, x in self.vehicles.items() if x.arrival <= t < x.departure}
        for vid in sorted(set(self.plugged) - active):
            self._run(self._unplug(vid))
        for vid in sorted(active - set(self.plugged)):
            self._run(self._plug(vid))
        now = pd.Timestamp.now(tz="UTC")
        until = now + pd.Timedelta(minutes=5)
        sps = [
            Setpoint("park-ess", "battery", float(dec.battery_kwh[0]) / dt, now, until, Mode.MPC)
        ]
        sps += [
            Setpoint(f"cp-{vid}.1", "ev", dec.ev_kwh.get(vid, 0.0) / dt, now, until, Mode.MPC)
            for vid in sorted(active)
        ]
        confs = self._run(self._step(sps))
        self.confs["modbus"].append(confs[0])
        self.confs["ocpp"] += confs[1:]
        bat = np.array([(confs[0].readback_kw or 0.0) * dt])
        ev = {}
        for vid, c in zip(sorted(active), confs[1:], strict=True):
            ev[vid] = (c.readback_kw or 0.0) * dt
            self.registers[vid] += max(ev[vid], 0.0)  # the charger's meter, for MeterValues
        return Decision(bat, ev, dec.run, dec.import_cap_kwh)

    def close(self) -> None:
        """Stop the links."""

        async def stop() -> None:
            for vid in list(self.plugged):
                await self._unplug(vid)
            self.pcs.client.close()
            await self.cs.stop()
            await self.server.shutdown()

        self._run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)


def _case(day: str) -> ParkCase:
    case = load_park_case("data/industrial_park", day[:7])
    start = case.sim_start + (pd.Timestamp(day).day - 1) * case.steps_per_day
    vehicles = tuple(replace(v, v2g_kw=0.0) for v in case.vehicles)
    return replace(case, sim_start=start, sim_end=start + case.steps_per_day, vehicles=vehicles)


def _ms(confs: list[Confirmation]) -> str:
    lat = np.array([c.latency_s for c in confs]) * 1e3
    ok = sum(c.ok for c in confs)
    return (
        f"{len(confs)} setpoints, {ok} confirmed; median {np.median(lat):.1f} ms, "
        f"p99 {np.percentile(lat, 99):.1f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--day", default="2026-06-10", help="Simulated day of June 2026.")
    args = ap.parse_args()
    case = _case(args.day)
    tic = time.perf_counter()
    with Progress() as progress:
        task = progress.add_task("in process", total=case.steps_per_day)
        ref = simulate_park(
            case,
            MPCControl(case),
            "in process",
            on_step=lambda k: progress.update(task, completed=k + 1),
        )
        t_ref = time.perf_counter() - tic
        devices = DeviceControl(MPCControl(case), case)
        task2 = progress.add_task("via devices", total=case.steps_per_day)
        tic = time.perf_counter()
        dev = simulate_park(
            case, devices, "via devices", on_step=lambda k: progress.update(task2, completed=k + 1)
        )
        t_dev = time.perf_counter() - tic
    devices.close()
    rows = park_table([ref, dev])
    keys = (
        "total_krw",
        "energy_krw",
        "demand_krw",
        "peak_kw",
        "max_import_kw",
        "import_kwh",
        "carbon_kg",
        "limit_violations",
        "ev_short",
        "jobs_late",
    )
    print(f"day {args.day}: {len(devices.vehicles)} vehicles on OCPP chargers, ESS on Modbus")
    print(f"{'figure':>18} {'in process':>16} {'via devices':>16} {'diff':>8}")
    for k in keys:
        a, b = float(rows[0][k]), float(rows[1][k])
        diff = (b - a) / abs(a) * 100 if a else 0.0
        print(f"{k:>18} {a:>16,.1f} {b:>16,.1f} {diff:>7.3f}%")
    metered = ref.bill.max_demand_kw
    print(
        f"max 15-min import via devices {dev.peak_kw:,.1f} kW; limit {case.limit_kw:,.0f} kW; "
        f"in-process billing peak {metered:,.1f} kW"
    )
    print(f"OCPP   setpoint -> confirmation: {_ms(devices.confs['ocpp'])}")
    print(f"Modbus setpoint -> confirmation: {_ms(devices.confs['modbus'])}")
    print(f"wall: in process {t_ref:.1f} s, via devices {t_dev:.1f} s ({t_dev / t_ref:.2f}x)")


if __name__ == "__main__":
    main()
