"""Modbus TCP poll cycle time for N meters, against raw sequential reads.

A pymodbus server on localhost simulates ``--meters`` devices (device ids
1..N, the ``generic-power-meter`` register map). One cycle = every device
polled once by its :class:`~bitgaram.collect.modbus.ModbusPoller` (all
concurrently, one TCP connection each, values decoded, aggregated and queued
to the writer). Reference, same run: the same N register blocks read one
after the other by a single raw pymodbus client (no decoding, no queueing).

Usage::

    .venv/bin/python bench/collect_modbus.py --meters 100 --cycles 20
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import time

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from bitgaram.collect.modbus import ModbusPoller, load_register_map
from bitgaram.collect.writer import BatchWriter
from bitgaram.site import parse_site
from bitgaram.store import open_store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def main(meters: int, cycles: int) -> None:
    port = _free_port()
    devices = [
        SimDevice(
            id=i,
            simdata=[
                SimData(address=0, values=[float(i), 0.0], datatype=DataType.FLOAT32),
                SimData(address=4, values=[1000 * i, 0], datatype=DataType.UINT32),
            ],
        )
        for i in range(1, meters + 1)
    ]
    server = ModbusTcpServer(devices, address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    site = parse_site(
        {
            "site": {"id": "modbus-bench", "name": "bench"},
            "meters": [
                m
                for i in range(1, meters + 1)
                for m in (
                    {"id": f"p{i}", "kind": "load", "unit": "kW", "resolution": "1s"},
                    {"id": f"e{i}", "kind": "load", "unit": "kWh", "resolution": "1s"},
                )
            ],
        }
    )
    store = open_store(":memory:")
    store.save_site(site)
    writer = BatchWriter(store, site, max_delay=0.05)
    writer_task = asyncio.create_task(writer.run())
    register_map = load_register_map("generic-power-meter")
    pollers = [
        ModbusPoller(
            f"pm{i}",
            "127.0.0.1",
            port,
            i,
            register_map,
            {"active_power": f"p{i}", "energy_import": f"e{i}"},
            site,
            writer,
            interval_s=1.0,
            timeout_s=2.0,
            retries=1,
        )
        for i in range(1, meters + 1)
    ]
    raw = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2.0)
    await raw.connect()
    poll_times, raw_times = [], []
    for c in range(cycles + 1):
        start = time.perf_counter()
        await asyncio.gather(*(p.poll_once() for p in pollers))
        poll = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(1, meters + 1):
            rr = await raw.read_holding_registers(0, count=8, device_id=i)
            assert not rr.isError()
        ref = time.perf_counter() - start
        if c:  # the first cycle opens the connections
            poll_times.append(poll)
            raw_times.append(ref)
        await asyncio.sleep(0.05)
    failures = sum(p.failures for p in pollers)
    raw.close()
    for p in pollers:
        p.stop()
        if p._client is not None:
            p._client.close()
    await writer.close()
    await writer_task
    await server.shutdown()
    stored = store.count_readings()
    store.close()
    pm, rm = statistics.median(poll_times), statistics.median(raw_times)
    print(
        f"{meters} meters, {cycles} cycles: poll cycle median {pm * 1000:.1f} ms "
        f"(p90 {sorted(poll_times)[int(0.9 * len(poll_times))] * 1000:.1f} ms); raw sequential "
        f"reads {rm * 1000:.1f} ms; ratio {pm / rm:.2f}; {failures} failed polls; "
        f"{stored} interval readings stored"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--meters", type=int, default=100)
    parser.add_argument("--cycles", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.meters, args.cycles))
