"""MQTT in and out for the live loop (paho 2, MQTT 5).

In: readings on ``<prefix>/<site>/<meter>/reading`` (the collector's payloads,
:mod:`bitgaram.collect.payload`) and asset states on ``<prefix>/<site>/<asset>/state`` (JSON
object, e.g. ``{"soc_kwh": 812.0}`` for an ESS). Out: alerts and setpoints, QoS 1.

The loop subscribes with its own client id and a clean session: it wants the newest data, not a
backlog (the collector keeps every reading). paho reconnects by itself after a broker restart
(1 to 10 s back-off) and re-subscribes in ``on_connect``; messages published while the broker
is down are queued by paho and sent on reconnection; setpoints and the status are retained.

Every reading the collector gets reaches this client too, on the same interpreter when both run
in one service: a message's readings are handed over at once (``on_readings``), their instants
as integer nanoseconds (:func:`epoch_ns`), no pandas object per reading.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
import pandas as pd
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from bitgaram.collect.payload import EPOCH_MAX, EPOCH_MIN, decode_items
from bitgaram.errors import ConfigError
from bitgaram.peak.clock import NS, from_ns, to_ns

log = logging.getLogger(__name__)

OnReading = Callable[[str, pd.Timestamp, float, pd.Timestamp], None]
#: ``on_readings(meter_id, [(interval_start_ns, value), ...], received_ns)``, one call a message.
OnReadings = Callable[[str, list[tuple[int, float]], int], None]
OnState = Callable[[str, dict[str, Any]], None]

# ISO 8601 with an offset that datetime.fromisoformat reads as pandas does (at most microseconds)
_ISO = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d{1,6})?)?(Z|[+-]\d\d:\d\d)")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_FLOAT_MAX = sys.float_info.max


def epoch_ns(timestamp: object) -> int:
    """Interval start of a decoded reading as nanoseconds since the epoch (UTC).

    ``timestamp`` is what :func:`~bitgaram.collect.payload.decode_payload` passes on: seconds
    since the epoch, or ISO 8601 text with a UTC offset. The same instant as
    ``pd.Timestamp(timestamp, unit="s", tz="UTC")`` or ``pd.Timestamp(timestamp)``, computed
    with integers for the usual forms.

    Raises
    ------
    ValueError, TypeError
        If the text is no timestamp or has no UTC offset (as pandas raises them).

    Examples
    --------
    >>> epoch_ns(1785733200) == epoch_ns("2026-08-03T14:00:00+09:00")
    True
    """
    if type(timestamp) is int:
        return timestamp * NS
    if type(timestamp) is float and timestamp.is_integer():
        return int(timestamp) * NS
    if type(timestamp) is str and _ISO.fullmatch(timestamp):
        d = dt.datetime.fromisoformat(timestamp) - _EPOCH
        return (d.days * 86_400 + d.seconds) * NS + d.microseconds * 1_000
    if isinstance(timestamp, int | float):
        return to_ns(pd.Timestamp(timestamp, unit="s", tz="UTC"))
    return to_ns(pd.Timestamp(timestamp).tz_convert("UTC"))  # type: ignore[arg-type]


def decode_readings(
    payload: bytes | str, meter_id: str
) -> tuple[list[tuple[int, float]], int, Exception | None]:
    """The readings of one MQTT message as ``(interval_start_ns, value)`` pairs.

    Accepts and refuses exactly what :func:`~bitgaram.collect.payload.decode_payload` does (the
    collector's rules): well-formed items (an epoch in range or text as timestamp, a finite
    number as value, a unit, no other meter named) are read here directly, anything else is
    given to :func:`~bitgaram.collect.payload.decode_items`.

    Parameters
    ----------
    payload : bytes or str
        UTF-8 JSON: one reading object or a list of them.
    meter_id : str
        The meter named by the topic.

    Returns
    -------
    (list of (int, float), int, Exception or None)
        The readings in order (up to the first whose timestamp cannot be read), the number of
        items refused for their shape (a payload that is not JSON, or an empty list, is one),
        and the error of that unreadable timestamp if there is one.

    Examples
    --------
    >>> decode_readings(b'[{"timestamp": 60, "value": 1.5, "unit": "kWh"}, 7]', "m1")
    ([(60000000000, 1.5)], 1, None)
    """
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        return [], 1, None
    items = data if isinstance(data, list) else [data]
    if not items:
        return [], 1, None
    out: list[tuple[int, float]] = []
    refused = 0
    error: Exception | None = None
    fast = bool(meter_id)
    for item in items:
        ts: object = None
        value: object = None
        if fast and type(item) is dict:
            ts, value = item.get("timestamp"), item.get("value")
            quality = item.get("quality", 0)
            tv = type(value)
            if not (
                (type(ts) is str or (type(ts) is int and EPOCH_MIN <= ts <= EPOCH_MAX))
                and (tv is float or tv is int)
                and value - value == 0  # type: ignore[operator]  # finite (nan, inf give nan)
                and -_FLOAT_MAX <= value <= _FLOAT_MAX  # type: ignore[operator]
                and type(item.get("unit")) is str
                and type(quality) is int
                and 0 <= quality <= 2
                and item.get("meter", meter_id) == meter_id
            ):
                ts = None
        if ts is None:  # not plainly well formed: the collector's own check
            rows, rejects = decode_items([item], meter_id)
            refused += len(rejects)
            if not rows:
                continue
            ts, value = rows[0].timestamp, rows[0].value
        if error is None:
            try:
                out.append((epoch_ns(ts), float(value)))  # type: ignore[arg-type]
            except Exception as exc:  # as pandas refuses it; the items after are still counted
                error = exc
    return out, refused, error


class MqttLink:
    """One MQTT client for the loop: readings and states in, alerts and setpoints out.

    Parameters
    ----------
    host, port : str, int
        The broker.
    site_id : str
        Topics of this site only.
    on_reading : callable, optional
        ``on_reading(meter_id, ts, value, received_at)`` per decoded reading (network thread).
    on_state : callable, optional
        ``on_state(asset_id, payload)`` per state message.
    prefix : str
        First topic level.
    client_id : str
        Client id.
    on_readings : callable, optional
        ``on_readings(meter_id, [(ts_ns, value), ...], received_ns)`` once per message, the
        instants in nanoseconds since the epoch (e.g.
        :meth:`~bitgaram.control.live.LiveController.on_readings`); replaces ``on_reading``.

    Raises
    ------
    ConfigError
        If neither ``on_reading`` nor ``on_readings`` is given.
    """

    def __init__(
        self,
        host: str,
        port: int,
        site_id: str,
        on_reading: OnReading | None = None,
        on_state: OnState | None = None,
        prefix: str = "bitgaram",
        client_id: str = "bitgaram-control",
        on_readings: OnReadings | None = None,
    ) -> None:
        if on_reading is None and on_readings is None:
            raise ConfigError("MqttLink needs on_reading or on_readings")
        self.host, self.port, self.site_id, self.prefix = host, port, site_id, prefix
        self.on_reading = on_reading
        self.on_readings = on_readings
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
        received = time.time_ns()
        parts = msg.topic.split("/")
        if len(parts) < 3:
            return
        name, leaf = parts[-2], parts[-1]
        try:
            if leaf == "reading":
                self._readings(name, bytes(msg.payload), received)
            elif leaf == "state" and self.on_state is not None:
                data = json.loads(msg.payload)
                if isinstance(data, dict):
                    self.on_state(name, data)
        except Exception:
            self.rejected += 1
            log.exception("bad message on %s", msg.topic)

    def _readings(self, meter: str, payload: bytes, received: int) -> None:
        """Decode one reading message and hand its readings over, in order.

        Items of the wrong shape are counted in :attr:`rejected`; a timestamp that cannot be
        read raises after the readings before it are handed over.
        """
        out, refused, error = decode_readings(payload, meter)
        self.rejected += refused
        if self.on_readings is not None:
            if out:
                self.on_readings(meter, out, received)
        elif self.on_reading is not None:
            now = from_ns(received)
            for ts, value in out:
                self.on_reading(meter, from_ns(ts), value, now)
        if error is not None:
            raise error
