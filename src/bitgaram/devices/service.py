"""All device links of one site: ``bitgaram devices run``.

Builds the links of the site file's ``[[devices]]`` registry (an OCPP central system for the
chargers, a Modbus writer per PCS/inverter, the OpenADR VEN), takes the control loop's
setpoints (MQTT ``<prefix>/<site>/<asset>/setpoint``, or :meth:`DeviceService.apply`
in-process) and routes each to its device:

- ``ev`` setpoints (asset = OCPP session id ``<cp>.<connector>``) to the central system;
- ``battery`` and ``export_limit`` setpoints to the Modbus writer of that asset.

Every ``tick_s`` it publishes what the planner needs as the loop's state messages
(``<prefix>/<site>/<asset>/state``, retained: ``{"sessions": [...]}`` per charging hub,
``{"soc_kwh": x, "available": true}`` per ESS (false, with the fault, after a rejected or
ignored write), ``{"events": [...]}`` of the VEN on ``<prefix>/<site>/dr/state``,
which ``bitgaram control run --dr`` turns into import caps), an alert per device fault
(``<prefix>/<site>/alerts``), stores the chargers' energy as readings, the EV sessions (table
``ev_sessions``, plugged-in ones rewritten every tick, read by ``bitgaram control run
--evs-from-store``) and the DR events (table ``dr_events``, read by the CBL reports), and
rewrites the status file read by ``bitgaram devices status``. Finished EV sessions are also
appended to a JSON-lines file, one line each, flushed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from bitgaram.collect.modbus import IntervalAggregator, RegisterMap, load_register_map
from bitgaram.control.setpoints import Mode, Setpoint, alert_topic
from bitgaram.devices.fleet import Fleet
from bitgaram.devices.modbus_write import ModbusLinkConfig, ModbusWriter
from bitgaram.devices.ocpp_central import CentralSystem
from bitgaram.devices.ocpp_session import ChargerConfig, OcppSession
from bitgaram.devices.openadr_ven import OptPolicy, Ven, event_json
from bitgaram.devices.status import Confirmation, DeviceStatus, write_status
from bitgaram.devices.sunspec import layout, sunspec_map
from bitgaram.errors import ConfigError, DataError
from bitgaram.site import Site
from bitgaram.site.model import BatteryAsset, ModbusDevice, OcppDevice, OpenAdrDevice, PVAsset
from bitgaram.store.base import DrEventRecord, EvSessionRecord, Store

log = logging.getLogger(__name__)

Publish = Callable[[str, str], None]


def parse_setpoint(payload: bytes | str) -> Setpoint:
    """A setpoint from its MQTT JSON (:meth:`Setpoint.to_json`).

    Raises
    ------
    DataError
        Naming the missing or bad field.
    """
    try:
        d = json.loads(payload)
        if not isinstance(d, dict):
            raise DataError("setpoint: expected a JSON object")
        start, until = pd.Timestamp(d["valid_from"]), pd.Timestamp(d["valid_until"])
        if start.tzinfo is None or until.tzinfo is None:
            raise DataError("setpoint: valid_from/valid_until need a UTC offset")
        return Setpoint(
            str(d["asset"]),
            str(d["kind"]),
            float(d["power_kw"]),
            start.tz_convert("UTC"),
            until.tz_convert("UTC"),
            Mode(d.get("mode", "mpc")),
            str(d.get("reason", "")),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise DataError(f"setpoint: bad field: {exc}") from exc


def _chargers(site: Site) -> list[ChargerConfig]:
    return [
        ChargerConfig(d.charge_point_id or d.id, d.max_kw, d.safe_kw, d.asset, d.meter, d.protocol)
        for d in site.devices
        if isinstance(d, OcppDevice)
    ]


def register_map_of(model: str) -> RegisterMap:
    """A device's register map: ``sunspec:<model ids>`` or a map name/path."""
    if model.startswith("sunspec:"):
        try:
            ids = [int(x) for x in model[len("sunspec:") :].split(",")]
        except ValueError as exc:
            raise ConfigError(
                f"model {model!r}: use sunspec:<id>,<id>, e.g. sunspec:103,123"
            ) from exc
        return sunspec_map(layout(ids), model)
    return load_register_map(model)


def _modbus(site: Site, d: ModbusDevice) -> ModbusLinkConfig:
    asset = next(a for a in site.assets if a.id == d.asset)
    cap = asset.capacity_kwh if isinstance(asset, BatteryAsset) else 0.0
    soc_min = asset.soc_min if isinstance(asset, BatteryAsset) else 0.0
    limit = asset.power_kw if isinstance(asset, BatteryAsset) else None
    rating = d.rating_kw or (asset.kwp if isinstance(asset, PVAsset) else limit)
    return ModbusLinkConfig(
        d.id,
        d.asset,
        d.host,
        d.port,
        d.unit_id,
        register_map_of(d.model),
        d.setpoint,
        measured=d.measured,
        soc=d.soc,
        capacity_kwh=cap,
        soc_min=soc_min,
        min_kw=d.min_kw if d.min_kw is not None else (-limit if limit else None),
        max_kw=d.max_kw if d.max_kw is not None else limit,
        safe_kw=d.safe_kw,
        watchdog=d.watchdog,
        renew_s=d.renew_s,
        timeout_s=d.timeout_s,
        rating_kw=rating,
        enable=tuple(d.enable.items()),
    )


class DeviceService:
    """Every device link of one site, fed with setpoints.

    Parameters
    ----------
    site : Site
        With its ``devices`` registry.
    fleet : Fleet
    publish : callable, optional
        ``publish(topic, payload)`` for states, DR events and alerts (None: in-process only).
    prefix : str
        First topic level.
    status_path : pathlib.Path, optional
        Status file for ``bitgaram devices status``.
    sessions_path : pathlib.Path, optional
        JSON-lines file of finished EV sessions.
    store : Store, optional
        Where the chargers' energy readings go.
    ocpp_host, ocpp_port : str, int
        Where the central system listens (port 0: any free port).
    tick_s : float
        State publishing and status period [s].
    telemetry : callable, optional
        The park's import now [kW], reported to the VTN.
    """

    def __init__(
        self,
        site: Site,
        fleet: Fleet,
        *,
        publish: Publish | None = None,
        prefix: str = "bitgaram",
        status_path: Path | None = None,
        sessions_path: Path | None = None,
        store: Store | None = None,
        ocpp_host: str = "127.0.0.1",
        ocpp_port: int = 9000,
        tick_s: float = 5.0,
        telemetry: Callable[[], float] | None = None,
    ) -> None:
        self.site, self.prefix, self.publish = site, prefix, publish
        self.status_path, self.sessions_path, self.store = status_path, sessions_path, store
        self.ocpp_host, self.ocpp_port, self.tick_s = ocpp_host, ocpp_port, tick_s
        chargers = _chargers(site)
        self.meters = {c.id: c.meter for c in chargers if c.meter}
        self._aggs: dict[str, IntervalAggregator] = {
            cp: IntervalAggregator(site.meter(m).resolution_seconds, "counter")
            for cp, m in self.meters.items()
        }
        self._pending: list[tuple[str, pd.Timestamp, float]] = []
        self.central = CentralSystem(chargers, fleet, on_meter=self._on_meter) if chargers else None
        self.writers = {
            d.asset: ModbusWriter(_modbus(site, d), on_fault=self._fault)
            for d in site.devices
            if isinstance(d, ModbusDevice)
        }
        adr = [d for d in site.devices if isinstance(d, OpenAdrDevice)]
        self.ven = (
            Ven(
                adr[0].vtn_url,
                adr[0].ven_name,
                OptPolicy(adr[0].min_notice_s, adr[0].min_target_kw, adr[0].level_caps_kw),
                telemetry=telemetry,
                report_s=adr[0].report_s,
            )
            if adr
            else None
        )
        self.confirmations: list[Confirmation] = []
        self.rejected = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._written_sessions = 0
        self._stored_sessions = 0

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        """Start the central system, the writers' upkeep, the VEN and the ticker."""
        self.loop = asyncio.get_running_loop()
        if self.central is not None:
            self.ocpp_port = await self.central.start(self.ocpp_host, self.ocpp_port)
        for w in self.writers.values():
            self._tasks.append(asyncio.ensure_future(w.run(self._stop)))
        if self.ven is not None:
            await self.ven.start()
        self._tasks.append(asyncio.ensure_future(self._ticker()))

    async def stop(self) -> None:
        """Stop everything (a last status and readings flush first)."""
        self._stop.set()
        await self.tick()
        if self.central is not None:
            await self.central.stop()
        if self.ven is not None:
            await self.ven.stop()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(t, 5.0)

    # -- setpoints ------------------------------------------------------------------
    async def apply(self, sp: Setpoint) -> Confirmation | None:
        """Route one setpoint to its device; None when no device drives its asset."""
        if sp.valid_until <= pd.Timestamp.now(tz="UTC"):
            return None  # e.g. an old retained message: expired setpoints are not sent
        c: Confirmation | None = None
        if sp.kind == "ev" and self.central is not None:
            c = await self.central.apply(sp)
        elif sp.asset in self.writers:
            w = self.writers[sp.asset]
            was = w.available
            c = await w.apply(sp)
            if w.available and not was:
                self._publish_writer_state(sp.asset)  # back in the plan at once
        if c is not None:
            self.confirmations.append(c)
        return c

    def submit(self, payload: bytes) -> None:
        """Take a setpoint message from another thread (the MQTT client's)."""
        try:
            sp = parse_setpoint(payload)
        except DataError as exc:
            self.rejected += 1
            log.warning("devices: %s", exc)
            return
        if self.loop is not None:
            asyncio.run_coroutine_threadsafe(self.apply(sp), self.loop)

    # -- upkeep ---------------------------------------------------------------------
    def _fault(self, device: str, message: str) -> None:
        log.warning("device %s: %s", device, message)
        if self.publish is not None:
            alert = {
                "site_id": self.site.site.id,
                "point": device,
                "kind": "device_fault",
                "event": "raised",
                "at": pd.Timestamp.now(tz="UTC").isoformat(),
                "message": message,
            }
            self.publish(alert_topic(self.prefix, self.site.site.id), json.dumps(alert))
        for asset, w in self.writers.items():
            if w.config.id == device:
                self._publish_writer_state(asset)  # the planner is told at once

    def _publish_writer_state(self, asset: str) -> None:
        """An ESS's state for the planner: its energy and whether it takes setpoints.

        ``{"soc_kwh": x, "available": false, "fault": "..."}``: a PCS that rejected or ignored
        its last write is unavailable until a write is confirmed again; the planner leaves it
        out meanwhile (:class:`~bitgaram.control.live.LiveController`).
        """
        w = self.writers[asset]
        if self.publish is None or w.config.soc is None:
            return  # a PV inverter's export limit is not the planner's state
        state: dict[str, Any] = {**w.last_state, "available": w.available}
        if not w.available:
            state["fault"] = w.last_fault
        self.publish(f"{self.prefix}/{self.site.site.id}/{asset}/state", json.dumps(state))

    def _on_meter(self, cp_id: str, ts: pd.Timestamp, register_kwh: float, kw: float) -> None:
        meter = self.meters.get(cp_id)
        if meter is None:
            return
        for start, kwh in self._aggs[cp_id].add(ts.timestamp(), register_kwh):
            self._pending.append((meter, pd.Timestamp(start, unit="s", tz="UTC"), kwh))

    def statuses(self) -> list[DeviceStatus]:
        """Every link's status."""
        out = list(self.central.status.values()) if self.central is not None else []
        out += [w.status for w in self.writers.values()]
        if self.ven is not None:
            out.append(self.ven.status)
        return out

    async def tick(self) -> None:
        """Publish states and DR events, store readings and sessions, write the status."""
        topic = f"{self.prefix}/{self.site.site.id}"
        if self.central is not None and self.publish is not None:
            for asset, evs in self.central.ev_sessions().items():
                sessions = [_session_json(e) for e in evs]
                self.publish(f"{topic}/{asset}/state", json.dumps({"sessions": sessions}))
        for asset in self.writers:
            self._publish_writer_state(asset)
        if self.ven is not None:
            self._store_events()
            self.ven.prune(pd.Timestamp.now(tz="UTC"))
            if self.publish is not None:
                events = [event_json(e) for e in self.ven.events.values()]
                self.publish(f"{topic}/dr/state", json.dumps({"events": events}))
        self._flush_readings()
        self._flush_sessions()
        self._store_sessions()
        if self.status_path is not None:
            extra = {
                "at": time.time(),
                "ocpp_port": self.ocpp_port,
                "confirmations": len(self.confirmations),
                "rejected": self.rejected,
            }
            write_status(self.status_path, self.statuses(), extra)

    def _store_events(self) -> None:
        """Keep the VEN's events in the store (for the CBL reports of the API and CLI)."""
        if self.ven is None or self.store is None or not self.ven.events:
            return
        now = pd.Timestamp.now(tz="UTC").to_pydatetime()
        self.store.write_dr_events(
            [
                DrEventRecord(
                    site_id=self.site.site.id,
                    event_id=e.id,
                    start_at=e.start.to_pydatetime(),
                    end_at=e.end.to_pydatetime(),
                    target_kw=e.target_kw,
                    signal=e.signal,
                    opted_in=e.opted_in,
                    reason=e.reason,
                    received_at=now,
                )
                for e in self.ven.events.values()
            ]
        )

    def _flush_readings(self) -> None:
        if not self._pending or self.store is None:
            return
        rows, self._pending = self._pending, []
        frame = pd.DataFrame(rows, columns=["meter_id", "ts", "value"]).assign(quality=0)
        self.store.write_readings(frame, source="ocpp")

    def _flush_sessions(self) -> None:
        if self.central is None or self.sessions_path is None:
            return
        new = self.central.finished[self._written_sessions :]
        if not new:
            return
        with self.sessions_path.open("a", encoding="utf-8") as f:
            for s in new:
                f.write(json.dumps(_finished_json(s)) + "\n")
            f.flush()
        self._written_sessions += len(new)

    def _store_sessions(self) -> None:
        """Keep the plugged-in sessions and those finished since the last tick in the store."""
        if self.central is None or self.store is None:
            return
        finished = self.central.finished[self._stored_sessions :]
        sessions = [*self.central.sessions.values(), *finished]
        if not sessions:
            return
        now = pd.Timestamp.now(tz="UTC").to_pydatetime()
        records = []
        for s in sessions:
            cfg = self.central.chargers[s.cp_id]
            records.append(
                EvSessionRecord(
                    site_id=self.site.site.id,
                    session_id=s.id,
                    started_at=s.started_at.to_pydatetime(),
                    asset=cfg.asset,
                    cp_id=s.cp_id,
                    connector=s.connector,
                    transaction_id=s.transaction_id,
                    id_tag=s.id_tag,
                    vehicle=s.vehicle,
                    ended_at=None if s.ended_at is None else s.ended_at.to_pydatetime(),
                    departure=None if s.departure is None else s.departure.to_pydatetime(),
                    needed_kwh=s.needed_kwh,
                    capacity_kwh=s.capacity_kwh,
                    delivered_kwh=s.delivered_kwh,
                    power_kw=s.power_kw,
                    charger_kw=cfg.max_kw,
                    soc_pct=s.soc_pct,
                    updated_at=now,
                )
            )
        self.store.write_ev_sessions(records)
        self._stored_sessions += len(finished)

    async def _ticker(self) -> None:
        while not self._stop.is_set():
            try:
                await self.tick()
            except Exception:  # the ticker must survive a bad store write or a full disk
                log.exception("devices: tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.tick_s)


def _session_json(e: Any) -> dict[str, Any]:
    return {
        "id": e.id,
        "stored_kwh": e.stored_kwh,
        "required_kwh": e.required_kwh,
        "capacity_kwh": e.capacity_kwh,
        "departure": e.departure.isoformat(),
        "charger_kw": e.charger_kw,
        "efficiency": e.efficiency,
    }


def _finished_json(s: OcppSession) -> dict[str, Any]:
    def iso(t: pd.Timestamp | None) -> str | None:
        return None if t is None else t.isoformat()

    return {
        "session": s.id,
        "transaction_id": s.transaction_id,
        "id_tag": s.id_tag,
        "vehicle": s.vehicle,
        "started_at": iso(s.started_at),
        "ended_at": iso(s.ended_at),
        "energy_kwh": round(s.delivered_kwh, 4),
        "departure": iso(s.departure),
        "needed_kwh": s.needed_kwh,
        "soc_pct": s.soc_pct,
        "meter_values": s.meter_values,
    }


class MqttSetpoints:
    """The service's MQTT side: setpoints in, states/events/alerts out (paho, QoS 1).

    Parameters
    ----------
    host, port : str, int
    site_id, prefix : str
    on_setpoint : callable
        Called with each setpoint payload (network thread).
    """

    def __init__(
        self,
        host: str,
        port: int,
        site_id: str,
        on_setpoint: Callable[[bytes], None],
        prefix: str = "bitgaram",
        client_id: str = "bitgaram-devices",
    ) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.subscribed = threading.Event()
        self.topic = f"{prefix}/{site_id}/+/setpoint"
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
        )
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._client.on_connect = lambda c, u, f, rc, p: c.subscribe(self.topic, qos=1)
        self._client.on_subscribe = lambda c, u, m, rc, p: self.subscribed.set()
        self._client.on_message = lambda c, u, msg: on_setpoint(bytes(msg.payload))
        self.host, self.port = host, port

    def start(self, timeout: float = 10.0) -> None:
        """Connect and subscribe.

        Raises
        ------
        ConfigError
            If the broker cannot be reached within ``timeout`` [s].
        """
        from bitgaram.errors import ConfigError

        self._client.connect_async(self.host, self.port, keepalive=15)
        self._client.loop_start()
        if not self.subscribed.wait(timeout):
            self._client.loop_stop()
            raise ConfigError(f"MQTT broker {self.host}:{self.port} not reachable in {timeout} s")

    def publish(self, topic: str, payload: str) -> None:
        """Publish with QoS 1; states (DR events included) retained, alerts not."""
        retain = topic.endswith("/state")
        self._client.publish(topic, payload, qos=1, retain=retain)

    def stop(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()
