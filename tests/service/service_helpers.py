"""Helpers of the service tests: a site file for `bitgaram run`, the process, its admin port."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

#: The drain time of the test's site file [s]: with the shutdown grace, under 10 s.
DRAIN_S = 4

SITE = """\
[site]
id = "{site_id}"
name = "Service test park"
timezone = "Asia/Seoul"
tariff = {{ name = "kepco-industrial-eul-high-a", option = "II", contract_kw = 1000 }}

[[tenants]]
id = "a"
name = "A"

[[tenants]]
id = "b"
name = "B"

[[meters]]
id = "a-load"
tenant = "a"
kind = "load"
unit = "kWh"
resolution = "5min"

[[meters]]
id = "b-load"
tenant = "b"
kind = "load"
unit = "kWh"
resolution = "5min"

[[assets]]
type = "battery"
id = "ess"
tenant = "a"
capacity_kwh = 400
power_kw = 200
initial_soc = 0.5

[collect]
status_interval_s = 0.2

[collect.writer]
max_delay_s = 0.02

[collect.mqtt]
host = "{host}"
port = {port}
topic_prefix = "{prefix}"
client_id = "bitgaram-svc-{site_id}"
session_expiry_s = 300

[service]
store = "park.duckdb"
drain_s = {drain_s}

[service.admin]
port = {admin_port}

[service.api]
port = {api_port}

[service.control]
enabled = true
target_kw = 600
interval_s = 2

[service.restart]
initial_s = 0.2
max_s = 2
"""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float = 30.0, step: float = 0.05) -> bool:
    """Poll ``check`` until it holds or ``timeout`` [s] passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


class RunningService:
    """``bitgaram run --site`` as a child process."""

    def __init__(self, folder: Path, site_id: str, host: str, port: int) -> None:
        self.folder = folder
        self.site_id = site_id
        self.prefix = f"bgsvc{site_id}"
        self.admin_port, self.api_port = free_port(), free_port()
        self.site = folder / "park.toml"
        self.site.write_text(
            SITE.format(
                site_id=site_id,
                host=host,
                port=port,
                prefix=self.prefix,
                admin_port=self.admin_port,
                api_port=self.api_port,
                drain_s=DRAIN_S,
            ),
            encoding="utf-8",
        )
        self.store = folder / "park.duckdb"
        self.log = folder / "service.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self, timeout: float = 90.0) -> None:
        # The service's commands alone: registering every capability only adds import time.
        boot = "from bitgaram.cli import app, service; app(prog_name='bitgaram')"
        cmd = [sys.executable, "-c", boot, "run", "--site", str(self.site)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        assert wait_until(self.ready, timeout=timeout), self.output()

    def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(self.output())
        try:
            return httpx.get(self.admin + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def components(self) -> dict[str, Any]:
        return dict(httpx.get(self.admin + "/components", timeout=5).json())

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of ``/metrics``, parsed by prometheus-client: {(name, labels): value}."""
        text = httpx.get(self.admin + "/metrics", timeout=5).text
        out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return out

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics().get((name, tuple(sorted(labels.items()))), 0.0)

    def terminate(self) -> tuple[int, float]:
        """SIGTERM; (exit code, seconds to exit)."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-30000:]

    def events(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far."""
        out = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out


class Publisher:
    """A QoS 1 MQTT publisher that waits for every PUBACK."""

    def __init__(self, host: str, port: int, client_id: str) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        self._pending: list[Any] = []

    def publish(self, topic: str, payload: Any) -> None:
        data = payload if isinstance(payload, bytes | str) else json.dumps(payload)
        self._pending.append(self.client.publish(topic, data, qos=1))

    def flush(self, timeout: float = 10.0) -> None:
        for info in self._pending:
            info.wait_for_publish(timeout)
        self._pending.clear()

    def close(self) -> None:
        self.flush()
        self.client.disconnect()
        self.client.loop_stop()


def forget_session(host: str, port: int, client_id: str) -> None:
    """Remove a persistent session (and its queued messages) from the broker."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    try:
        client.connect(host, port, clean_start=True, properties=props)
        client.loop_start()
        time.sleep(0.05)
        client.disconnect()
        client.loop_stop()
    except OSError:
        pass


def park_messages(start: int, n: int, now: float) -> list[tuple[str, list[dict[str, Any]]]]:
    """``n`` messages per tenant meter, one 5-min reading each, ending before ``now``.

    Message ``i`` carries the interval ``i`` steps before the newest whole interval, so the
    newest readings are recent (the control loop plans on them instead of falling back).
    """
    newest = int(now // 300) * 300 - 300
    out = []
    for i in range(start, start + n):
        ts = newest - 300 * i
        for meter, base in (("a-load", 25.0), ("b-load", 15.0)):
            out.append((meter, [{"timestamp": ts, "value": base + (i % 7) / 4, "unit": "kWh"}]))
    return out
