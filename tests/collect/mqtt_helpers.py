"""Helpers of the MQTT tests: a QoS 1 publisher and session clean-up on the shared broker."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


class Publisher:
    """A QoS 1 publisher that waits for every PUBACK from the broker."""

    def __init__(self, host: str, port: int, client_id: str) -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        self._pending: list[paho.MQTTMessageInfo] = []

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


def wait_until(check: Callable[[], bool], timeout: float = 10.0, step: float = 0.02) -> bool:
    """Poll ``check`` until it holds or ``timeout`` [s] passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


def readings(start: int, n: int, unit: str = "kWh") -> Iterable[dict[str, Any]]:
    """``n`` reading payloads one minute apart, values derived from the index."""
    for i in range(start, start + n):
        yield {"timestamp": 1_714_521_600 + 60 * i, "value": (i % 89) / 4, "unit": unit}


def in_ci() -> bool:
    """True under CI (``CI=true``), where a missing server must fail, not skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def reachable(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class PrivateBroker:
    """A mosquitto of the test's own on a free port, to kill and restart.

    The shared broker on 1883 must not be stopped; fault tests use this one.
    Skips when the mosquitto binary is absent, fails instead under CI=true.
    """

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            if in_ci():
                pytest.fail("mosquitto binary not found; CI=true requires it")
            pytest.skip("mosquitto binary not found")
        self._binary = binary
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self._conf = workdir / "mosquitto.conf"
        self._conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        )
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        self._proc = subprocess.Popen(
            [self._binary, "-c", str(self._conf)], stderr=subprocess.DEVNULL
        )
        assert wait_until(lambda: reachable("127.0.0.1", self.port), timeout=10)

    def kill(self) -> None:
        """Kill the broker (SIGKILL: no clean disconnect for its clients)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None
