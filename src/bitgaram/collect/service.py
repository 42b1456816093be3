"""The collector service: MQTT, Modbus and HTTP sources feeding one batching writer.

:class:`CollectorService` runs every configured source in one asyncio loop,
all writing through a single :class:`~bitgaram.collect.writer.BatchWriter`,
and every ``status_interval_s`` writes a small JSON status file (rates, lag,
quarantine counts per source) that ``bitgaram collect status`` reads. On
SIGTERM or SIGINT it stops taking input, flushes what it holds (acknowledging
it to the broker) and exits; on SIGKILL nothing is lost either, since nothing
unwritten was acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bitgaram.collect.config import CollectConfig
from bitgaram.collect.mqtt import MqttSettings, MqttSource
from bitgaram.collect.validate import DEFAULT_RULES, ValidationRules
from bitgaram.collect.writer import BatchWriter
from bitgaram.site import Site
from bitgaram.store.base import Store

log = logging.getLogger(__name__)


def status_snapshot(
    writer: BatchWriter,
    previous: dict[str, Any] | None,
    *,
    now: float,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The status document of a running collector (pure).

    Parameters
    ----------
    writer : BatchWriter
        Its counters are read.
    previous : dict, optional
        The last snapshot; rates are the change since then.
    now : float
        Current time [s since the epoch].
    extra : dict, optional
        Source-specific details (MQTT connection, Modbus devices).

    Returns
    -------
    dict
        ``sources`` per kind with ``received``, ``accepted``, ``quarantined``,
        ``rate_per_s`` (accepted readings per second since the last snapshot)
        and ``lag_s`` (now minus the newest stored reading's timestamp), plus
        writer counters and the most frequent quarantine reasons.
    """
    st = writer.stats
    elapsed = None if previous is None else now - float(previous["updated_at"])
    sources: dict[str, Any] = {}
    for kind, s in sorted(st.sources.items()):
        prev = (previous or {}).get("sources", {}).get(kind, {})
        rate = None
        if elapsed and elapsed > 0:
            rate = (s.accepted - int(prev.get("accepted", 0))) / elapsed
        sources[kind] = {
            **asdict(s),
            "rate_per_s": rate,
            "lag_s": None if s.last_reading_ts is None else now - s.last_reading_ts,
        }
    return {
        "updated_at": now,
        "pid": os.getpid(),
        "sources": sources,
        "writer": {
            "batches": st.batches,
            "rows_written": st.rows_written,
            "store_failures": st.store_failures,
            "last_error": st.last_error,
            "last_flush_at": st.last_flush_at,
            "last_flush_seconds": st.last_flush_seconds,
            "queued": writer.pending,
        },
        "reasons": dict(st.reasons.most_common(20)),
        "gaps": {
            "missing_readings": st.missing_readings,
            "recent": [g.describe() for g in st.gaps[-10:]],
        },
        **(extra or {}),
    }


def write_status(path: Path, status: dict[str, Any]) -> None:
    """Write the status file atomically (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(status, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)


def read_status(path: Path) -> dict[str, Any]:
    """Read a status file written by :func:`write_status`."""
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _server_class() -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        """A uvicorn server that leaves SIGTERM/SIGINT to the collector."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server


class CollectorService:
    """Run the configured sources until stopped.

    Parameters
    ----------
    site : Site
    store : Store
        Already migrated, with the site saved.
    config : CollectConfig
    state_path : pathlib.Path
        Where the status file goes.
    reopen : callable, optional
        Opens a fresh store after a failed write (see :class:`BatchWriter`).
    rules : ValidationRules
        Validation thresholds and the accepted timestamp window.
    handle_signals : bool
        Stop on SIGTERM/SIGINT (False when a supervisor owns the signals).
    on_writer : callable, optional
        Called with the batch writer once it exists (metrics hooks).
    """

    def __init__(
        self,
        site: Site,
        store: Store,
        config: CollectConfig,
        state_path: Path,
        reopen: Callable[[], Store] | None = None,
        rules: ValidationRules = DEFAULT_RULES,
        *,
        handle_signals: bool = True,
        on_writer: Callable[[BatchWriter], None] | None = None,
    ) -> None:
        self.rules = rules
        self.site = site
        self.store = store
        self.reopen = reopen
        self.config = config
        self.state_path = state_path
        self.stop_event: asyncio.Event | None = None
        self.mqtt: MqttSource | None = None
        self.pollers: list[Any] = []
        self.handle_signals = handle_signals
        self.on_writer = on_writer
        self.writer: BatchWriter | None = None

    def _mqtt_settings(self) -> MqttSettings:
        m = self.config.mqtt
        return MqttSettings(
            host=m.host,
            port=m.port,
            client_id=m.client_id or f"bitgaram-collect-{self.site.site.id}",
            topic_prefix=m.topic_prefix,
            keepalive=m.keepalive,
            session_expiry=m.session_expiry_s,
            receive_maximum=m.receive_maximum,
            username=m.username,
            password=m.password,
        )

    async def run(self) -> None:
        """Run until SIGTERM/SIGINT or :meth:`stop`, then drain and exit cleanly."""
        self.stop_event = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT) if self.handle_signals else ():
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop_event.set)
        w = self.config.writer
        writer = BatchWriter(
            self.store,
            self.site,
            max_rows=w.max_rows,
            max_delay=w.max_delay_s,
            queue_size=w.queue_size,
            reopen=self.reopen,
            rules=self.rules,
        )
        self.writer = writer
        if self.on_writer is not None:
            self.on_writer(writer)
        writer_task = asyncio.create_task(writer.run(), name="writer")
        tasks: list[asyncio.Task[Any]] = []
        server = None
        started = time.time()
        try:
            # Per-start look-ups before any source is subscribed: a broker delivers its
            # backlog the moment we connect, and the first batch must not wait for them.
            await writer.warm_up()
            if self.config.mqtt.enabled:
                self.mqtt = MqttSource(self._mqtt_settings(), self.site.site.id, writer)
                await self.mqtt.start()
            for device in self.config.modbus:
                from bitgaram.collect.modbus import ModbusPoller

                poller = ModbusPoller.from_config(device, self.site, writer)
                self.pollers.append(poller)
                tasks.append(asyncio.create_task(poller.run(), name=f"modbus:{device.name}"))
            if self.config.http.enabled:
                server = self._http_server(writer)
                tasks.append(asyncio.create_task(server.serve(), name="http"))
            tasks.append(asyncio.create_task(self._report(writer, started), name="status"))
            log.info("collector for site %s running", self.site.site.id)
            await self.stop_event.wait()
        finally:
            if server is not None:
                server.should_exit = True
            for poller in self.pollers:
                poller.stop()
            for task in tasks:
                if task.get_name() != "http":
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.mqtt is not None:
                self.mqtt.pause()
            # Flush what is held (acknowledging it), then leave the broker.
            await writer.close()
            await writer_task
            if self.mqtt is not None:
                await self.mqtt.stop()
            write_status(self.state_path, self._status(writer, None, started, running=False))
            if writer.store is not self.store:  # reopened after an outage: ours to close
                writer.store.close()

    def stop(self) -> None:
        """Ask :meth:`run` to finish."""
        if self.stop_event is not None:
            self.stop_event.set()

    def _http_server(self, writer: BatchWriter) -> Any:
        import uvicorn
        from fastapi import FastAPI

        from bitgaram.collect.http import readings_router

        app = FastAPI(title="bitgaram collector")
        app.state.collect_writer = writer
        app.include_router(readings_router())
        h = self.config.http
        config = uvicorn.Config(app, host=h.host, port=h.port, log_level="warning", lifespan="off")
        return _server_class()(config)

    def _status(
        self, writer: BatchWriter, previous: dict[str, Any] | None, started: float, running: bool
    ) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "site": self.site.site.id,
            "store": self.store.url,
            "started_at": started,
            "running": running,
        }
        if self.mqtt is not None:
            extra["mqtt"] = {
                "connected": self.mqtt.connected.is_set(),
                "messages": self.mqtt.messages,
                "client_id": self.mqtt.settings.client_id,
                "session_present": self.mqtt.session_present,
                "granted_session_expiry_s": self.mqtt.granted_session_expiry,
                "warnings": list(self.mqtt.warnings),
            }
        if self.pollers:
            extra["modbus"] = {p.name: p.status() for p in self.pollers}
        return status_snapshot(writer, previous, now=time.time(), extra=extra)

    async def _report(self, writer: BatchWriter, started: float) -> None:
        previous: dict[str, Any] | None = None
        while True:
            status = self._status(writer, previous, started, running=True)
            try:
                await asyncio.to_thread(write_status, self.state_path, status)
            except OSError as exc:
                log.warning("cannot write status file %s: %s", self.state_path, exc)
            previous = status
            await asyncio.sleep(self.config.status_interval_s)
