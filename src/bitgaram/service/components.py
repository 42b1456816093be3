"""The service's components: the collector, the control loop and the web API.

Each wraps the capability's own engine (:class:`~bitgaram.collect.service.CollectorService`,
:class:`~bitgaram.control.live.LiveController`, :func:`~bitgaram.api.create_app`) and adds only
what running under the supervisor needs: stop on an event, say when it is ready, report metrics,
and pick up its state again after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from bitgaram.collect.service import CollectorService
from bitgaram.collect.writer import BatchWriter
from bitgaram.control.journal import StoreJournal
from bitgaram.control.live import LiveController
from bitgaram.control.loop import ControlLoop, LoopConfig
from bitgaram.control.mqtt_link import MqttLink
from bitgaram.control.planner import ParkPlanner, Planner, site_battery
from bitgaram.control.setpoints import Mode, Setpoint
from bitgaram.control.state import ParkSnapshot
from bitgaram.errors import ConfigError
from bitgaram.peak import PeakWatch
from bitgaram.peak.points import PARK_POINT
from bitgaram.peak.watch import metered_by
from bitgaram.service.config import ServiceConfig
from bitgaram.service.metrics import ServiceMetrics
from bitgaram.site import Site
from bitgaram.store.base import Store
from bitgaram.tariff import TouTariff, load_tariff

log = logging.getLogger(__name__)


def quiet_server_class() -> Any:
    """A uvicorn server that leaves SIGTERM/SIGINT to the supervisor."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket; OSError (port in use) is the caller's to handle.

    uvicorn exits the process when it cannot bind; binding here first turns that into an
    ordinary failure of the component, which the supervisor retries.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


async def _until(stop: asyncio.Event, task: asyncio.Task[Any]) -> bool:
    """Wait for ``stop`` or ``task``; True if ``stop`` came first."""
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    return stop.is_set() and not task.done()


# -- collector --------------------------------------------------------------------------
class CollectComponent:
    """The collector (MQTT, Modbus, HTTP push) writing through one batch writer.

    After a restart the broker redelivers what was not acknowledged (persistent session), so
    nothing accepted is lost; counters continue where they were (:class:`WriterTotals`). Given
    ``reopen`` (a database server), the collector writes through its own connection, which the
    writer may close and reopen after an outage without touching the other components' store.
    """

    name = "collect"

    def __init__(
        self,
        config: ServiceConfig,
        store: Store,
        metrics: ServiceMetrics,
        reopen: Callable[[], Store] | None = None,
    ) -> None:
        if config.collect is None:
            raise ConfigError(f"{config.path}: no [collect] section")
        self.config = config
        self.store = store
        self.metrics = metrics
        self.reopen = reopen
        self.service: CollectorService | None = None

    def ready(self) -> bool:
        s = self.service
        if s is None or s.writer is None:
            return False
        return s.mqtt is None or s.mqtt.subscribed.is_set()

    def _attach(self, writer: BatchWriter) -> None:
        self.metrics.writers.attach(writer)
        writer.on_flush = lambda rows, seconds: self.metrics.flush_seconds.observe(seconds)

    async def run(self, stop: asyncio.Event) -> None:
        assert self.config.collect is not None
        own = await asyncio.to_thread(self.reopen) if self.reopen is not None else None
        service = self.service = CollectorService(
            self.config.site,
            own if own is not None else self.store,
            self.config.collect,
            self.config.collect_state,
            reopen=self.reopen,
            handle_signals=False,
            on_writer=self._attach,
        )
        task = asyncio.create_task(service.run(), name="collector")
        reasons: dict[str, int] = {}
        try:
            waiter = asyncio.create_task(stop.wait())
            try:
                while not task.done() and not stop.is_set():  # a stop is seen at once
                    await asyncio.wait(
                        {task, waiter}, timeout=2.0, return_when=asyncio.FIRST_COMPLETED
                    )
                    self._log_quarantine(reasons)
            finally:
                waiter.cancel()
            if not task.done():
                service.stop()
            await task  # raises what the collector raised
            if not stop.is_set():
                raise RuntimeError("collector stopped by itself")
        finally:
            if not task.done():  # killed: drain what is held, acknowledge it
                service.stop()
                with contextlib.suppress(BaseException):
                    await task
            if service.writer is not None:
                self._log_quarantine(reasons)
                self.metrics.writers.retire(service.writer)
            if own is not None:
                own.close()

    def _log_quarantine(self, seen: dict[str, int]) -> None:
        """One event per quarantine reason that grew since the last look."""
        writer = self.service.writer if self.service is not None else None
        if writer is None:
            return
        for reason, count in writer.stats.reasons.items():
            if count > seen.get(reason, 0):
                source, _, why = reason.partition(": ")
                log.warning(
                    "readings quarantined",
                    extra={"source": source, "reason": why, "count": count - seen.get(reason, 0)},
                )
                seen[reason] = count


# -- control loop -----------------------------------------------------------------------
class TimedPlanner:
    """A planner whose calls are timed into ``bitgaram_control_solve_seconds``."""

    def __init__(self, planner: Planner, metrics: ServiceMetrics) -> None:
        self.planner = planner
        self.metrics = metrics

    def plan(
        self, snapshot: ParkSnapshot, month_peak_kw: float, target_kw: float
    ) -> list[Setpoint]:
        """See :meth:`bitgaram.control.planner.Planner.plan`."""
        with self.metrics.control_solve_seconds.time():
            return self.planner.plan(snapshot, month_peak_kw, target_kw)


class MeteredController(LiveController):
    """A :class:`LiveController` counting ticks and fallbacks into the metrics."""

    def __init__(self, loop: ControlLoop, metrics: ServiceMetrics) -> None:
        super().__init__(loop)
        self.metrics = metrics

    def tick(self, now: pd.Timestamp | None = None) -> None:
        """Plan now; count the tick, its duration and a fallback."""
        before = self.loop.stats.fallbacks
        started = time.perf_counter()
        super().tick(now)
        self.metrics.control_tick_seconds.observe(time.perf_counter() - started)
        self.metrics.control_ticks.inc()
        if self.loop.stats.fallbacks > before:
            self.metrics.control_fallbacks.inc(self.loop.stats.fallbacks - before)


def site_tariff(site: Site) -> TouTariff:
    """The site's time-of-use tariff; ConfigError if it has none."""
    if site.site.tariff is None:
        raise ConfigError(f"site {site.site.id!r}: the control loop needs [site] tariff")
    tariff = load_tariff(site.site.tariff.name, option=site.site.tariff.option)
    if not isinstance(tariff, TouTariff):
        raise ConfigError("the control loop needs a time-of-use tariff")
    return tariff


def restore_control_state(ctl: LiveController, store: Store, now: pd.Timestamp) -> int:
    """Pick up a restarted loop's state from the store; returns the readings replayed.

    The setpoints still valid at ``now`` come back from the journal, and the peak watch is
    fed this month's stored readings of the park's meters (data up to ``now`` only), so the
    month's peak and the running window survive a restart.
    """
    loop = ctl.loop
    site = loop.watch.site
    if isinstance(loop.journal, StoreJournal):
        rows = loop.journal.read_setpoints(site.site.id)
        if len(rows):
            until = pd.to_datetime(rows["valid_until"], utc=True)
            for _, r in rows[until > now].iterrows():
                loop.setpoints[str(r["asset"])] = Setpoint(
                    str(r["asset"]),
                    str(r["kind"]),
                    float(r["power_kw"]),
                    pd.Timestamp(r["valid_from"]).tz_convert("UTC"),
                    pd.Timestamp(r["valid_until"]).tz_convert("UTC"),
                    Mode(str(r["mode"])),
                    str(r["reason"] or ""),
                )
    park = next((p for p in loop.watch.points if p.id == PARK_POINT), None)
    if park is None:
        return 0
    meters = [m for m, _ in park.meters]
    month = now.tz_convert(site.site.timezone).normalize().replace(day=1).tz_convert("UTC")
    frame = store.read_readings(meters, start=month, end=now)
    if frame.empty:
        return 0
    frame = frame.sort_values(["ts", "meter_id"])
    for meter, ts, value in zip(frame["meter_id"], frame["ts"], frame["value"], strict=True):
        end = min(ts + pd.Timedelta(seconds=site.meter(meter).resolution_seconds), now)
        loop.watch.observe(str(meter), ts, float(value), end)
        ctl.data_time = end if ctl.data_time is None else max(ctl.data_time, end)
    return len(frame)


class ControlComponent:
    """The live control loop: MQTT readings and states in, setpoints and alerts out."""

    name = "control"

    def __init__(self, config: ServiceConfig, store: Store, metrics: ServiceMetrics) -> None:
        c = config.service.control
        if c.target_kw is None:
            raise ConfigError(f"{config.path}: service.control.target_kw is required")
        m = config.collect.mqtt if config.collect is not None else None
        self.host = c.host or (m.host if m else "127.0.0.1")
        self.port = c.port or (m.port if m else 1883)
        self.prefix = c.prefix or (m.topic_prefix if m else "bitgaram")
        self.client_id = c.client_id or f"bitgaram-control-{config.site.site.id}"
        self.config = config
        self.store = store
        self.metrics = metrics
        self.link: MqttLink | None = None
        self.controller: MeteredController | None = None

    def ready(self) -> bool:
        return self.link is not None and self.link.subscribed.is_set()

    def _build(self) -> tuple[MqttLink, MeteredController]:
        site = self.config.site
        c = self.config.service.control
        assert c.target_kw is not None
        tariff = site_tariff(site)
        bat = site_battery(site, c.interval_s / 3600.0)
        holder: dict[str, LiveController] = {}
        link = MqttLink(
            self.host,
            self.port,
            site.site.id,
            on_state=lambda a, d: holder["c"].on_state(a, d),
            prefix=self.prefix,
            client_id=self.client_id,
            on_readings=lambda m, rows, now: holder["c"].on_readings(m, rows, now),
        )
        tenant_of = {a.id: a.tenant for a in site.assets}

        def publish(topic: str, payload: str) -> None:
            link.publish(topic, payload)
            if topic.endswith("/setpoint"):
                asset = topic.rsplit("/", 2)[-2]
                log.info(
                    "setpoint published",
                    extra={"asset": asset, "tenant": tenant_of.get(asset), "topic": topic},
                )

        loop = ControlLoop(
            PeakWatch(
                site,
                targets={"park": c.target_kw},
                metered=metered_by(tariff, site.site.timezone),
            ),
            TimedPlanner(ParkPlanner(site, tariff, interval_s=c.interval_s), self.metrics),
            publish,
            StoreJournal(self.store),
            (bat[0],) if bat else (),
            float(bat[1].nominal_power_kw) if bat else 0.0,
            LoopConfig(
                interval_s=c.interval_s, limit_kw=site.site.connection_limit_kw, prefix=self.prefix
            ),
        )
        ctl = holder["c"] = MeteredController(loop, self.metrics)
        return link, ctl

    async def run(self, stop: asyncio.Event) -> None:
        link, ctl = await asyncio.to_thread(self._build)
        replayed = await asyncio.to_thread(
            restore_control_state, ctl, self.store, pd.Timestamp.now(tz="UTC")
        )
        log.info(
            "control state restored",
            extra={"readings": replayed, "setpoints": len(ctl.loop.setpoints)},
        )
        self.link, self.controller = link, ctl
        thread_stop = threading.Event()
        await asyncio.to_thread(link.start)
        interval = self.config.service.control.interval_s
        ticking = asyncio.create_task(asyncio.to_thread(ctl.run, thread_stop, interval))
        try:
            await _until(stop, ticking)
            thread_stop.set()
            await ticking  # raises what the loop raised
            if not stop.is_set():
                raise RuntimeError("control loop stopped by itself")
        finally:
            thread_stop.set()
            await asyncio.to_thread(link.stop)
            self.link = None


# -- web API ----------------------------------------------------------------------------
def route_template(scope: Mapping[str, Any]) -> str:
    """The matched route of a request with its path parameters as ``{name}`` (low cardinality).

    Requests no route matched are ``"unmatched"`` (never the raw path: a scanner would create
    one time series per URL it tries).

    Examples
    --------
    >>> route_template({"path": "/api/v1/tenants/acme/bill", "endpoint": print,
    ...                 "path_params": {"tenant_id": "acme"}})
    '/api/v1/tenants/{tenant_id}/bill'
    >>> route_template({"path": "/wp-admin"})
    'unmatched'
    """
    if scope.get("endpoint") is None:
        return "unmatched"
    inverse = {str(v): k for k, v in (scope.get("path_params") or {}).items()}
    parts = str(scope.get("path", "")).split("/")
    return "/".join("{" + inverse[p] + "}" if p in inverse else p for p in parts)


def instrument_api(app: Any, metrics: ServiceMetrics) -> None:
    """Count requests and their latency by route template, and failed logins."""
    from starlette.requests import Request
    from starlette.responses import Response

    @app.middleware("http")
    async def _measure(request: Request, call_next: Callable[[Request], Any]) -> Response:
        started = time.perf_counter()
        response: Response = await call_next(request)
        template = route_template(request.scope)
        elapsed = time.perf_counter() - started
        metrics.api_request_seconds.labels(request.method, template).observe(elapsed)
        metrics.api_requests.labels(request.method, template, str(response.status_code)).inc()
        if template.endswith("/auth/login") and request.method == "POST":
            redirect = response.headers.get("location", "")
            if response.status_code == 401 or "error=" in redirect:
                metrics.login_failures.inc()
                client = request.client.host if request.client else None
                log.warning("login failed", extra={"client": client})
        return response


def first_admin(tokens: Any, folder: Path, site_id: str) -> Path | None:
    """Create the operator ``admin`` when no user exists; its secrets go to a 0600 file.

    Secrets are never logged: the log names the file. Returns the file, or None when users
    already exist.
    """
    if tokens.list_users():
        return None
    password = secrets.token_urlsafe(12)
    tokens.add_user("admin", "operator", password=password)
    token = tokens.issue_token("admin")
    path = folder / f".bitgaram-admin-{site_id}.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f"user: admin\npassword: {password}\napi_token: {token}\n")
    return path


class ApiComponent:
    """The web API and dashboard (uvicorn in the service's event loop)."""

    name = "api"

    def __init__(self, config: ServiceConfig, store: Store, metrics: ServiceMetrics) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self.server: Any = None

    def ready(self) -> bool:
        return self.server is not None and bool(self.server.started)

    async def run(self, stop: asyncio.Event) -> None:
        import uvicorn

        from bitgaram.api import Settings, create_app
        from bitgaram.api.app import token_store_for

        settings = Settings.from_env().model_copy(update={"site_id": self.config.site.site.id})
        tokens = await asyncio.to_thread(token_store_for, self.store, settings)
        created = await asyncio.to_thread(
            first_admin, tokens, self.config.path.parent, self.config.site.site.id
        )
        if created is not None:
            where = {"credentials_file": str(created)}
            log.warning("first start: operator admin created", extra=where)
        app = create_app(settings, self.store, tokens)
        instrument_api(app, self.metrics)
        a = self.config.service.api
        server = self.server = quiet_server_class()(
            uvicorn.Config(
                app,
                host=a.host,
                port=a.port,
                log_level="warning",
                timeout_graceful_shutdown=2,
                access_log=False,
            )
        )
        sock = listen(a.host, a.port)
        task = asyncio.create_task(server.serve(sockets=[sock]), name="api-server")
        pushed: BatchWriter | None = None
        try:
            while not server.started and not task.done() and not stop.is_set():
                await asyncio.sleep(0.02)
            # Readings pushed to the API (POST /api/v1/readings) count like the collector's.
            pushed = getattr(app.state, "collect_writer", None)
            if pushed is not None:
                self.metrics.writers.attach(pushed)
                pushed.on_flush = lambda rows, s: self.metrics.flush_seconds.observe(s)
            await _until(stop, task)
            server.should_exit = True
            await task
            if not stop.is_set():
                raise RuntimeError("API server stopped by itself (port in use?)")
        finally:
            server.should_exit = True
            if not task.done():
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(task, 3.0)
            sock.close()
            if pushed is not None:
                self.metrics.writers.retire(pushed)
            self.server = None
