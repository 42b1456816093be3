"""MQTT in and out for the live loop (paho 2, MQTT 5).

In: readings on ``<prefix>/<site>/<meter>/reading`` (the collector's payloads,
:mod:`bitgaram.collect.payload`) and asset states on ``<prefix>/<site>/<asset>/state`` (JSON
object, e.g. ``{"soc_kwh": 812.0}`` for an ESS). Out: alerts and setpoints, QoS 1.

The loop subscribes with its own client id and a clean session: it wants the newest data, not a
backlog (the collector keeps every reading). paho reconnects by itself after a broker restart
(1 to 10 s back-off) and re-subscribes in ``on_connect``; messages published while the broker
is down are queued by paho and sent on reconnection; setpoints and the status are retained.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
import pandas as pd
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from bitgaram.collect.payload import decode_payload
from bitgaram.errors import ConfigError

log = logging.getLogger(__name__)

OnReading = Callable[[str, pd.Timestamp, float, pd.Timestamp], None]
OnState = Callable[[str, dict[str, Any]], None]


class MqttLink:
    """One MQTT client for the loop: readings and states in, alerts and setpoints out.

    Parameters
    ----------
    host, port : str, int
        The broker.
    site_id : str
        Topics of this site only.
    on_reading : callable
        ``on_reading(meter_id, ts, value, received_at)`` per decoded reading (network thread).
    on_state : callable, optional
        ``on_state(asset_id, payload)`` per state message.
    prefix : str
        First topic level.
    client_id : str
        Client id.
    """

    def __init__(
        self,
        host: str,
        port: int,
        site_id: str,
        on_reading: OnReading,
        on_state: OnState | None = None,
        prefix: str = "bitgaram",
        client_id: str = "bitgaram-control",
    ) -> None:
        self.host, self.port, self.site_id, self.prefix = host, port, site_id, prefix
        self.on_reading = on_reading
        self.on_state = on_state
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.rejected = 0
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
        )
        self._client.max_queued_messages_set(10_000)
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    def start(self, timeout: float = 10.0) -> None:
        """Connect (retrying in the background) and wait for the subscription.

        Raises
        ------
        ConfigError
            If the broker cannot be reached within ``timeout`` [s].
        """
        self._client.connect_async(self.host, self.port, keepalive=15, clean_start=True)
        self._client.loop_start()
        if not self.subscribed.wait(timeout):
            self._client.loop_stop()
            raise ConfigError(f"MQTT broker {self.host}:{self.port} not reachable in {timeout} s")

    def stop(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, topic: str, payload: str) -> None:
        """Publish with QoS 1 (queued by paho while disconnected).

        Setpoints and the loop status are **retained**: a device or dashboard that
        (re)connects gets the latest one at once (a setpoint carries its validity period, so
        a retained one that has expired is recognisable). Alerts are events, not retained.
        """
        retain = topic.endswith(("/setpoint", "/status"))
        self._client.publish(topic, payload, qos=1, retain=retain)

    def _on_connect(self, client: paho.Client, u: Any, flags: Any, reason: Any, p: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT connect refused: %s", reason)
            return
        self.connected.set()
        base = f"{self.prefix}/{self.site_id}/+"
        client.subscribe(
            [
                (f"{base}/reading", SubscribeOptions(qos=1)),
                (f"{base}/state", SubscribeOptions(qos=1)),
            ]
        )

    def _on_subscribe(self, client: paho.Client, u: Any, mid: int, reasons: Any, p: Any) -> None:
        if all(not r.is_failure for r in reasons):
            self.subscribed.set()

    def _on_disconnect(self, client: paho.Client, u: Any, f: Any, reason: Any, p: Any) -> None:
        self.connected.clear()
        self.subscribed.clear()
        log.info("MQTT disconnected: %s", reason)

    def _on_message(self, client: paho.Client, u: Any, msg: paho.MQTTMessage) -> None:
        received = pd.Timestamp.now(tz="UTC")
        parts = msg.topic.split("/")
        if len(parts) < 3:
            return
        name, leaf = parts[-2], parts[-1]
        try:
            if leaf == "reading":
                rows, rejects = decode_payload(bytes(msg.payload), name)
                self.rejected += len(rejects)
                for r in rows:
                    ts = (
                        pd.Timestamp(r.timestamp, unit="s", tz="UTC")
                        if isinstance(r.timestamp, int | float)
                        else pd.Timestamp(r.timestamp).tz_convert("UTC")
                    )
                    self.on_reading(name, ts, float(r.value), received)
            elif leaf == "state" and self.on_state is not None:
                data = json.loads(msg.payload)
                if isinstance(data, dict):
                    self.on_state(name, data)
        except Exception:
            self.rejected += 1
            log.exception("bad message on %s", msg.topic)
