"""MQTT subscriber: readings published to ``<prefix>/<site>/<meter>/reading``.

Delivery guarantees come from three choices:

- **QoS 1 and a persistent session** (MQTT 5, ``clean_start=False``, a session
  expiry interval and a fixed client id): the broker keeps the subscription and
  queues messages while the collector is down, and delivers them on restart.
- **Manual acknowledgement**: a message is acknowledged (PUBACK) only after
  the batch holding it was committed to the store, or it was quarantined. A
  collector killed before that leaves the message unacknowledged, and the
  broker redelivers it; the store's idempotent writes turn the repeat into a
  no-op, so every reading is stored exactly once.
- **Acks belong to a connection**: packet ids are reused across connections,
  so an acknowledgement due from a connection that has since dropped is
  discarded (the broker redelivers that message on the new connection).

The paho network loop runs in its own thread; each message is handed to the
asyncio :class:`~bitgaram.collect.writer.BatchWriter` and the thread waits
while the writer's queue is full, so backpressure reaches the broker (which
also never has more than the receive maximum unacknowledged messages out).
Note that Mosquitto drops QoS 1 messages for an offline or slow client beyond
``max_queued_messages`` (1000 by default): size it for the longest outage
(:func:`broker_requirements` says how). At start the source checks what the
broker tells a client: whether it kept our session (``session present``) and
the session expiry it granted, and warns when either loses readings
(:attr:`MqttSource.warnings`); readings the broker dropped anyway show up as
gaps per meter (:class:`~bitgaram.collect.writer.GapEvent`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from bitgaram.collect.payload import decode_payload
from bitgaram.collect.writer import (
    BatchWriter,
    RawReading,
    Reject,
    Submission,
    SubmissionResult,
    message_key,
)
from bitgaram.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MqttSettings:
    """Where and how to subscribe.

    Attributes
    ----------
    host, port : str, int
        The broker.
    client_id : str
        Fixed id: the broker keeps this client's session (subscription and
        queued messages) across restarts.
    topic_prefix : str
        First topic level (``bitgaram``).
    keepalive : int
        Seconds between pings [s].
    session_expiry : int
        How long the broker keeps the session while the collector is away [s].
    receive_maximum : int
        Unacknowledged messages the broker may have in flight to us.
    username, password : str, optional
        Broker credentials.
    """

    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "bitgaram-collect"
    topic_prefix: str = "bitgaram"
    keepalive: int = 30
    session_expiry: int = 7 * 24 * 3600
    receive_maximum: int = 1000
    username: str | None = None
    password: str | None = None


def broker_requirements(
    meters: int, interval_s: float, outage_s: float, session_expiry_s: int
) -> list[str]:
    """Broker settings (Mosquitto names) under which an outage of ``outage_s`` loses nothing.

    Parameters
    ----------
    meters : int
        Meters publishing to the collector.
    interval_s : float
        Seconds between two readings of one meter [s].
    outage_s : float
        Longest collector outage to survive [s].
    session_expiry_s : int
        Session expiry the collector asks for [s].

    Returns
    -------
    list of str
        One setting per line, e.g. ``max_queued_messages 2000``.

    Examples
    --------
    >>> broker_requirements(100, 60.0, 3600.0, 86400)[1]
    'max_queued_messages 6000'
    """
    queued = int(np.ceil(meters * outage_s / max(interval_s, 1e-9)))
    return [
        "persistence true",
        f"max_queued_messages {max(queued, 1000)}",
        "max_queued_bytes 0",
        f"persistent_client_expiration {int(np.ceil(session_expiry_s / 3600))}h",
    ]


def reading_topic(prefix: str, site_id: str, meter_id: str) -> str:
    """The topic readings of one meter are published to."""
    return f"{prefix}/{site_id}/{meter_id}/reading"


def parse_topic(topic: str, prefix: str, site_id: str) -> str | None:
    """The meter id in a reading topic, or ``None`` if the topic is not one."""
    parts = topic.split("/")
    head = prefix.split("/")
    n = len(head)
    if len(parts) != n + 3 or parts[:n] != head or parts[n] != site_id or parts[-1] != "reading":
        return None
    return parts[n + 1] or None


class MqttSource:
    """Subscribe to a site's reading topics and feed a :class:`BatchWriter`.

    Parameters
    ----------
    settings : MqttSettings
    site_id : str
        Only this site's topics are subscribed.
    writer : BatchWriter
        Receives one :class:`Submission` per message.

    Examples
    --------
    >>> async def main(writer):  # doctest: +SKIP
    ...     source = MqttSource(MqttSettings(client_id="park-collector"), "park", writer)
    ...     await source.start()
    ...     ...
    ...     await source.stop(writer)
    """

    def __init__(self, settings: MqttSettings, site_id: str, writer: BatchWriter) -> None:
        self.settings = settings
        self.site_id = site_id
        self.writer = writer
        self.filter = reading_topic(settings.topic_prefix, site_id, "+")
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.messages = 0
        self.stale_acks = 0
        #: Whether the broker had kept our session at the last connect (None before).
        self.session_present: bool | None = None
        #: Session expiry the broker granted at the last connect [s].
        self.granted_session_expiry: int | None = None
        #: What the start-up checks found that loses readings (also logged).
        self.warnings: list[str] = []
        self._connects = 0
        self._epoch = 0
        self._accepting = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=paho.MQTTv5,
            manual_ack=True,
        )
        if settings.username is not None:
            self._client.username_pw_set(settings.username, settings.password)
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    async def start(self, timeout: float = 10.0) -> None:
        """Connect (retrying in the background) and wait for the subscription.

        Raises
        ------
        ConfigError
            If the broker cannot be reached within ``timeout`` [s].
        """
        self._loop = asyncio.get_running_loop()
        log.info(
            "MQTT: the broker must keep this client's session and queue its QoS 1 readings "
            "while it is away; for Mosquitto see bitgaram.collect.mqtt.broker_requirements "
            "(max_queued_messages defaults to 1000, too few for most outages)"
        )
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.settings.session_expiry
        props.ReceiveMaximum = self.settings.receive_maximum
        self._client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive,
            clean_start=False,
            properties=props,
        )
        self._client.loop_start()
        ok = await asyncio.to_thread(self.subscribed.wait, timeout)
        if not ok:
            self._client.loop_stop()
            raise ConfigError(
                f"MQTT broker {self.settings.host}:{self.settings.port} not reachable or "
                f"subscription to {self.filter!r} refused within {timeout:g} s"
            )

    def pause(self) -> None:
        """Stop handing messages to the writer; later ones stay unacknowledged.

        Call before closing the writer; the broker redelivers what was not
        acknowledged on the next start.
        """
        self._accepting = False

    async def stop(self) -> None:
        """Stop taking messages and disconnect, keeping the broker session.

        Call after the writer has been closed (so every stored message has been
        acknowledged). Messages received but not stored stay unacknowledged and
        are redelivered on the next start. The subscription is kept: the broker
        goes on queueing readings for us while we are away.
        """
        self.pause()
        await asyncio.to_thread(self._client.disconnect)
        await asyncio.to_thread(self._client.loop_stop)

    # -- paho callbacks (network thread) -------------------------------------------
    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("MQTT connect refused: %s", reason)
            return
        self._epoch += 1
        self._connects += 1
        self.session_present = bool(flags.session_present)
        granted = getattr(props, "SessionExpiryInterval", None) if props is not None else None
        self.granted_session_expiry = (
            int(granted) if granted is not None else self.settings.session_expiry
        )
        self._check_session()
        self.connected.set()
        log.info("MQTT connected (session present: %s)", flags.session_present)
        client.subscribe(self.filter, options=SubscribeOptions(qos=1))

    def _check_session(self) -> None:
        """Warn about broker settings that lose readings while the collector is away."""
        found: list[str] = []
        granted = self.granted_session_expiry
        if granted is not None and granted < self.settings.session_expiry:
            found.append(
                f"the broker grants a session expiry of {granted} s, not the "
                f"{self.settings.session_expiry} s asked: readings of a longer outage are lost"
            )
        if self._connects > 1 and not self.session_present:
            found.append(
                "the broker kept no session across the reconnect: readings published meanwhile "
                "were lost (check its persistence and persistent_client_expiration)"
            )
        for text in found:
            if text not in self.warnings:
                self.warnings.append(text)
                log.warning("MQTT: %s", text)

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: Any, props: Any
    ) -> None:
        if all(not r.is_failure for r in reasons):
            self.subscribed.set()
        else:
            log.error("MQTT subscription to %s refused: %s", self.filter, reasons)

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.connected.clear()
        self.subscribed.clear()
        self._epoch += 1  # acks still due belong to the dead connection
        log.info("MQTT disconnected: %s", reason)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        if not self._accepting or self._loop is None:
            return  # left unacknowledged: redelivered next session
        self.messages += 1
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = repr(bytes(msg._topic))  # not UTF-8: quarantined as a bad topic
        meter = parse_topic(topic, self.settings.topic_prefix, self.site_id)
        rows: list[RawReading] = []
        if meter is None:
            reason = "bad_topic: not <prefix>/<site>/<meter>/reading"
            rejects = [Reject(0, None, "topic", topic, reason)]
        else:
            rows, rejects = decode_payload(bytes(msg.payload), meter)
        on_done = partial(self._ack, self._epoch, msg.mid, msg.qos) if msg.qos > 0 else None
        # Keyed by topic and payload: a redelivered message (acknowledgement
        # lost to a crash after its commit) is not quarantined twice.
        key = message_key("mqtt", topic, bytes(msg.payload))
        sub = Submission(f"mqtt:{topic}", rows, rejects, on_done, key)
        future = asyncio.run_coroutine_threadsafe(self.writer.submit(sub), self._loop)
        try:
            # Blocks this network thread while the writer's queue is full.
            future.result()
        except Exception:
            log.exception("could not queue MQTT message on %s", topic)

    # -- event loop ---------------------------------------------------------------
    def _ack(self, epoch: int, mid: int, qos: int, result: SubmissionResult) -> None:
        if not result.committed:
            return  # given up at shutdown: left unacknowledged, redelivered next session
        if epoch != self._epoch:
            self.stale_acks += 1
            return
        self._client.ack(mid, qos)
