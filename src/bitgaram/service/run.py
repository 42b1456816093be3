"""``bitgaram run``: open the store once, start the components, serve the admin port.

One process owns the embedded store (DuckDB allows one process per file) and every component
shares it; with PostgreSQL the collector gets its own connection, reopened after an outage.
The admin port (default 127.0.0.1:9108, keep it local or firewalled) serves:

- ``GET /metrics``: Prometheus text format (:mod:`bitgaram.service.metrics`);
- ``GET /healthz``: liveness (the supervisor answers);
- ``GET /readyz``: 200 once every component is ready, else 503;
- ``GET /components`` and ``POST /components/<name>/restart`` (stop it at once; the
  supervisor starts it again after its back-off);
- ``POST /backup`` ``{"path": "/var/backups/park.duckdb"}``: a consistent snapshot of the
  embedded store, what ``bitgaram store backup`` asks for while the service runs;
- ``POST /export`` ``{"tenant": "acme", "path": "..."}``: ``bitgaram store export``.

On SIGTERM or SIGINT the components drain (the collector flushes and acknowledges what it
holds, the API finishes its requests) within ``[service] drain_s`` (8 s) and the process exits 0.
A thread that outlives that (a plan being solved) does not hold the process up: it ends
:data:`SHUTDOWN_GRACE_S` after the drain at the latest (:mod:`bitgaram.service.deadline`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bitgaram.config import Settings
from bitgaram.errors import BitgaramError, ConfigError, StoreError
from bitgaram.service.components import (
    ApiComponent,
    CollectComponent,
    ControlComponent,
    listen,
    quiet_server_class,
)
from bitgaram.service.config import ServiceConfig
from bitgaram.service.deadline import ShutdownDeadline
from bitgaram.service.metrics import ServiceMetrics
from bitgaram.service.supervisor import Backoff, Component, Supervisor
from bitgaram.store import Store, open_store
from bitgaram.store.backup import (
    backup_duckdb,
    duckdb_path,
    running_service,
    service_file,
    store_digest,
    write_service_file,
)

log = logging.getLogger(__name__)

#: Time after the drain for closing the admin port and the store, and for the interpreter to
#: exit, before :class:`~bitgaram.service.deadline.ShutdownDeadline` ends the process [s].
SHUTDOWN_GRACE_S = 4.0


class BackupIn(BaseModel):
    """``POST /backup``: the backup file to write (on the service's machine)."""

    path: str


class ExportIn(BaseModel):
    """``POST /export``: the tenant, the folder to write, the site (the only one if None)."""

    tenant: str
    path: str
    site_id: str | None = None


def admin_app(supervisor: Supervisor, metrics: ServiceMetrics, store: Store) -> Any:
    """The admin port's application (metrics, health, component control, backup)."""
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import JSONResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    app = FastAPI(title="bitgaram service admin", docs_url=None, redoc_url=None)

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "alive", "components": supervisor.status()}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        ok = supervisor.ready()
        body = {"ready": ok, "components": supervisor.status()}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/components")
    async def components() -> dict[str, Any]:
        return supervisor.status()

    @app.post("/components/{name}/restart", status_code=202)
    async def restart(name: str) -> dict[str, str]:
        try:
            supervisor.kill(name)
        except KeyError:
            raise HTTPException(404, f"no running component {name!r}") from None
        log.warning("component restart requested", extra={"component": name})
        return {"component": name, "status": "restarting"}

    @app.post("/backup")
    async def backup(body: BackupIn) -> dict[str, Any]:
        try:
            out = await asyncio.to_thread(backup_duckdb, store, body.path)
            with open_store(str(out), migrate=False) as copy:
                digest = await asyncio.to_thread(store_digest, copy)
        except BitgaramError as exc:
            raise HTTPException(409, str(exc)) from exc
        log.info("backup written", extra={"path": str(out)})
        return {"path": str(out), "tables": {k: list(v) for k, v in digest.items()}}

    @app.post("/export")
    async def export(body: ExportIn) -> dict[str, Any]:
        from bitgaram.service.export import export_tenant

        try:
            done = await asyncio.to_thread(
                export_tenant, store, body.tenant, body.path, body.site_id
            )
        except BitgaramError as exc:
            raise HTTPException(409, str(exc)) from exc
        log.info("tenant exported", extra={"tenant": body.tenant, "path": body.path})
        return {"path": str(done.folder), "files": done.files}

    return app


def build_components(
    config: ServiceConfig, store: Store, metrics: ServiceMetrics, store_url: str
) -> list[Component]:
    """The components the site file enables, in start order."""
    out: list[Component] = []
    if config.collect is not None:
        reopen = None
        if duckdb_path(store_url) is None:  # a server: the collector reconnects on its own

            def reopen() -> Store:
                return open_store(store_url, Settings.from_env(), migrate=False)

        out.append(CollectComponent(config, store, metrics, reopen))
    if config.service.control.enabled:
        out.append(ControlComponent(config, store, metrics))
    if config.service.api.enabled:
        out.append(ApiComponent(config, store, metrics))
    return out


class Service:
    """The whole service of one site (see the module docstring).

    Parameters
    ----------
    config : ServiceConfig
    store_url : str or None
        Overrides ``[service] store``; default ``BITGARAM_DATABASE_URL``, else bitgaram.duckdb.
    extra : sequence of Component
        More components to supervise (device links).
    """

    def __init__(
        self, config: ServiceConfig, store_url: str | None = None, extra: tuple[Component, ...] = ()
    ) -> None:
        self.config = config
        settings = Settings.from_env()
        self.url = store_url or config.service.store or settings.database_url or "bitgaram.duckdb"
        db = duckdb_path(self.url)
        if db is not None and not db.is_absolute() and config.service.store and not store_url:
            db = config.path.parent / db  # a store named in the site file is beside it
            self.url = str(db)
        self.db = db
        self.extra = extra
        self.metrics = ServiceMetrics()
        self.stop = asyncio.Event()
        self.supervisor: Supervisor | None = None
        self.admin_url: str | None = None
        #: Set by :func:`run_service` (the process's own entry): armed by the stop.
        self.deadline: ShutdownDeadline | None = None

    async def _arm_deadline(self) -> None:
        await self.stop.wait()
        if self.deadline is not None:
            self.deadline.arm()

    def _open(self) -> Store:
        if self.db is not None:
            other = running_service(self.db)
            if other is not None and other.get("pid") != os.getpid():
                raise StoreError(
                    f"{self.db}: already owned by `bitgaram run` (pid {other['pid']}); "
                    "stop it first"
                )
        store = open_store(self.url, Settings.from_env())
        store.save_site(self.config.site)
        return store

    async def run(self) -> None:
        """Run until SIGTERM/SIGINT or :attr:`stop`; drain; close the store."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop.set)
        arming = asyncio.create_task(self._arm_deadline(), name="shutdown-deadline")
        store = await asyncio.to_thread(self._open)
        s = self.config.service
        try:
            built = build_components(self.config, store, self.metrics, self.url)
            components = [*built, *self.extra]
            sup = self.supervisor = Supervisor(
                components,
                self.metrics,
                Backoff(s.restart.initial_s, s.restart.max_s, s.restart.reset_after_s),
                drain_s=s.drain_s,
            )
            import uvicorn

            admin = quiet_server_class()(
                uvicorn.Config(
                    admin_app(sup, self.metrics, store),
                    host=s.admin.host,
                    port=s.admin.port,
                    log_level="warning",
                    access_log=False,
                    timeout_graceful_shutdown=1,
                )
            )
            try:
                sock = listen(s.admin.host, s.admin.port)
            except OSError as exc:
                raise ConfigError(
                    f"service.admin: cannot listen on {s.admin.host}:{s.admin.port}: {exc}"
                ) from exc
            admin_task = asyncio.create_task(admin.serve(sockets=[sock]), name="admin")
            while not admin.started and not admin_task.done():
                await asyncio.sleep(0.02)
            if admin_task.done():
                admin_task.result()
                raise StoreError(f"admin port {s.admin.host}:{s.admin.port} could not be opened")
            port = sock.getsockname()[1]
            self.admin_url = f"http://{s.admin.host}:{port}"
            if self.db is not None:
                write_service_file(
                    self.db,
                    {
                        "pid": os.getpid(),
                        "site": self.config.site.site.id,
                        "admin_url": self.admin_url,
                        "api_url": f"http://{s.api.host}:{s.api.port}" if s.api.enabled else None,
                        "started_at": time.time(),
                    },
                )
            log.info(
                "service running",
                extra={
                    "store": store.url,
                    "admin_url": self.admin_url,
                    "components": [c.name for c in components],
                },
            )
            try:
                await sup.run(self.stop)
            finally:
                admin.should_exit = True
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(admin_task, 2.0)
                sock.close()
        finally:
            if self.db is not None:
                service_file(self.db).unlink(missing_ok=True)
            store.close()
            if self.deadline is not None:
                self.deadline.closed()
            arming.cancel()
            log.info("service stopped")


def run_service(config: ServiceConfig, store_url: str | None = None) -> None:
    """Run :class:`Service` in a new event loop (the ``bitgaram run`` command)."""
    service = Service(config, store_url)
    # The process ends at the latest this long after a stop, even if a thread hangs.
    service.deadline = ShutdownDeadline(config.service.drain_s + SHUTDOWN_GRACE_S)
    asyncio.run(service.run())


def admin_request(db: Path, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Ask the service owning DuckDB file ``db`` through its admin port.

    Raises
    ------
    StoreError
        If no service owns the file or it does not answer.
    """
    import httpx

    info = running_service(db)
    if info is None:
        raise StoreError(f"{db}: no running service owns it")
    try:
        response = httpx.request(method, info["admin_url"] + path, json=body, timeout=120.0)
    except httpx.HTTPError as exc:
        raise StoreError(f"service at {info['admin_url']} did not answer: {exc}") from exc
    if response.status_code >= 400:
        raise StoreError(f"service at {info['admin_url']}: {response.json().get('detail')}")
    return response.json()
