"""The collector as a process: SIGKILL mid-stream and restart, SIGTERM drain, status."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from collect_doubles import SITE_TOML
from mqtt_helpers import Publisher, forget_session, readings, wait_until
from typer.testing import CliRunner

from bitgaram.cli import app
from bitgaram.cli import collect as _collect_commands  # noqa: F401
from bitgaram.collect.mqtt import reading_topic
from bitgaram.collect.service import read_status

pytestmark = pytest.mark.mqtt


def _site_file(tmp_path: Path, run_id: str, host: str, port: int) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(
        SITE_TOML.format(site_id=run_id)
        + f"""
[collect]
state_file = "state.json"
status_interval_s = 0.1

[collect.writer]
max_delay_s = 0.02

[collect.mqtt]
host = "{host}"
port = {port}
client_id = "bitgaram-test-{run_id}"
session_expiry_s = 300
""",
        encoding="utf-8",
    )
    return path


class Collector:
    """``bitgaram collect run`` as a child process."""

    def __init__(self, site: Path, store: str) -> None:
        self.site = site
        self.store = store
        self.state = site.parent / "state.json"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.state.exists():
            self.state.unlink()
        # The `bitgaram collect` commands alone: registering every capability's
        # commands would only add import time to each start.
        boot = "from bitgaram.cli import app, collect; app(prog_name='bitgaram')"
        cmd = [sys.executable, "-c", boot]
        cmd += ["collect", "run", "--site", str(self.site), "--store", self.store]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert wait_until(self._connected, timeout=30), self._output()

    def _connected(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(self._output())
        try:
            return bool(read_status(self.state).get("mqtt", {}).get("connected"))
        except (OSError, ValueError):
            return False

    def status(self) -> dict[str, Any]:
        return read_status(self.state)

    def _output(self) -> str:
        assert self.proc is not None
        if self.proc.poll() is None:
            return "collector still running"
        out = self.proc.stdout.read().decode() if self.proc.stdout else ""
        return f"collector exited with {self.proc.returncode}:\n{out}"

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(20)


@pytest.fixture
def collector(tmp_path: Path, run_id: str, mqtt_server: tuple[str, int]) -> Iterator[Collector]:
    host, port = mqtt_server
    c = Collector(_site_file(tmp_path, run_id, host, port), str(tmp_path / "park.duckdb"))
    yield c
    if c.proc is not None and c.proc.poll() is None:
        c.kill()
    forget_session(host, port, f"bitgaram-test-{run_id}")


def _stored(store_url: str) -> tuple[int, float, int]:
    from bitgaram.store import open_store

    with open_store(store_url) as store:
        frame = store.read_readings()
        quarantined = len(store.list_quarantine(limit=100_000))
        return len(frame), float(frame["value"].sum()), quarantined


def test_sigkill_mid_stream_then_restart_stores_everything_once(
    collector: Collector, mqtt_server: tuple[str, int], run_id: str
) -> None:
    """Kill -9 mid-stream, restart: every reading stored once, bad ones quarantined once."""
    topic = reading_topic("bitgaram", run_id, "acme-load")
    pub = Publisher(*mqtt_server, client_id=f"bitgaram-test-pub-{run_id}")
    messages: list[Any] = [list(readings(i * 10, 10)) for i in range(300)]
    expected_sum = sum(r["value"] for m in messages for r in m)
    bad = {50: b"{]", 150: list(readings(0, 3)), 250: {"timestamp": 0, "value": 1, "unit": "W"}}
    try:
        collector.start()
        for i, m in enumerate(messages):
            pub.publish(topic, m)
            if i in bad:
                ghost = i == 150
                pub.publish(reading_topic("bitgaram", run_id, "ghost") if ghost else topic, bad[i])
            if i == 100:
                pub.flush()
                collector.kill()  # mid-stream, with readings in flight
            if i < 100:
                time.sleep(0.002)
        pub.flush()
        collector.start()
        # A last reading, published after everything else on the same topic: the
        # broker delivers in order and the writer commits in order, so once this
        # newest timestamp is committed, every earlier message has been too.
        sentinel = {"timestamp": 1_714_521_600 + 60 * 100_000, "value": 0.0, "unit": "kWh"}
        pub.publish(topic, sentinel)
        pub.flush()

        def sentinel_stored() -> bool:
            mqtt = collector.status().get("sources", {}).get("mqtt", {})
            return float(mqtt.get("last_reading_ts") or 0) >= sentinel["timestamp"]

        assert wait_until(sentinel_stored, timeout=30)
        result = CliRunner().invoke(app, ["collect", "status", "--site", str(collector.site)])
        assert result.exit_code == 0, result.output
        assert "running" in result.output
        assert "unknown_meter" in result.output
        assert collector.terminate() == 0  # SIGTERM drains and exits cleanly
    finally:
        pub.close()
    final = json.loads(collector.state.read_text())
    assert final["running"] is False
    count, total, quarantined = _stored(collector.store)
    assert count == 3000 + 1  # every published reading, and the sentinel
    assert total == pytest.approx(expected_sum)
    # Each bad message quarantined once (1 + 3 + 1 rows), even the one published
    # before the kill and redelivered after it (its rows carry the message's fingerprint).
    assert quarantined == 5


def test_service_wires_http_and_modbus_from_the_site_file(tmp_path: Path) -> None:
    """No broker needed: HTTP push and a Modbus device configured in [collect], in-process."""
    import socket

    import httpx
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    from bitgaram.collect.config import load_collect_site
    from bitgaram.collect.service import CollectorService
    from bitgaram.store import open_store

    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    http_port, modbus_port = free_port(), free_port()
    site_file = tmp_path / "park.toml"
    site_file.write_text(
        f"""
[site]
id = "inproc"
name = "In-process park"

[[meters]]
id = "push"
kind = "load"
unit = "kWh"

[[meters]]
id = "pm-power"
kind = "load"
unit = "kW"
resolution = "1s"

[collect]
status_interval_s = 0.1

[collect.mqtt]
enabled = false

[collect.http]
enabled = true
port = {http_port}

[[collect.modbus]]
name = "pm"
host = "127.0.0.1"
port = {modbus_port}
model = "generic-power-meter"
interval_s = 0.1
meters = {{ active_power = "pm-power" }}
""",
        encoding="utf-8",
    )
    site, config, state = load_collect_site(site_file)
    assert state == tmp_path / ".collect-inproc.json"
    store = open_store(":memory:")
    store.save_site(site)

    async def scenario() -> dict[str, Any]:
        device = SimDevice(
            id=1, simdata=[SimData(address=0, values=[3.5, 0.0], datatype=DataType.FLOAT32)]
        )
        server = ModbusTcpServer(device, address=("127.0.0.1", modbus_port))
        await server.serve_forever(background=True)
        service = CollectorService(site, store, config, state)
        task = asyncio.create_task(service.run())
        url = f"http://127.0.0.1:{http_port}/api/v1/readings"
        body = [
            {"meter": "push", "timestamp": "2024-05-01T00:00Z", "value": 1.5, "unit": "kWh"},
            {"meter": "push", "timestamp": "2024-05-01T01:00Z", "value": "x", "unit": "kWh"},
        ]
        async with httpx.AsyncClient() as client:
            for _ in range(100):
                try:
                    response = await client.post(url, json=body)
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
        await asyncio.sleep(2.2)  # a couple of 1 s Modbus intervals
        service.stop()
        await task
        await server.shutdown()
        return dict(response.json())

    import asyncio

    answer = asyncio.run(scenario())
    assert answer["accepted"] == 1 and answer["quarantined"] == 1
    status = read_status(state)
    assert status["running"] is False
    assert status["sources"]["http"]["accepted"] == 1
    assert status["modbus"]["pm"]["polls"] >= 10
    assert store.count_readings("push") == 1
    power = store.read_readings(["pm-power"])
    assert len(power) >= 1 and (power["value"] == 3.5).all()
    store.close()
