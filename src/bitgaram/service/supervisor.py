"""The supervisor: run components, restart a failed one with back-off, drain on stop.

A component is anything with a ``name``, a :meth:`Component.ready` check and an async
:meth:`Component.run` that works until its ``stop`` event is set, then drains and returns. A
``run`` that raises, returns on its own, or is killed (:meth:`Supervisor.kill`, the admin
port's ``POST /components/<name>/restart``) counts as a failure: the supervisor logs it, counts
it in ``bitgaram_component_restarts_total`` and starts the component again after a back-off
that doubles from ``initial_s`` to ``max_s`` (reset once a run lasted ``reset_after_s``).

Components share the process, so they share one embedded store (DuckDB lets one process own a
file). Device links (package ``bitgaram.devices``) join by implementing :class:`Component`
and being passed to :class:`Supervisor` like the collector and the control loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bitgaram.service.metrics import ServiceMetrics

log = logging.getLogger(__name__)


class Component(Protocol):
    """A supervised part of the service."""

    name: str

    def ready(self) -> bool:
        """True once the component does its work (connected, subscribed, listening)."""
        ...

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then drain and return; raise on failure."""
        ...


@dataclass(frozen=True)
class Backoff:
    """Delays between restarts [s]: ``initial``, doubled per failure up to ``maximum``.

    Examples
    --------
    >>> b = Backoff(0.5, 4.0)
    >>> [b.delay(n) for n in range(5)]
    [0.5, 1.0, 2.0, 4.0, 4.0]
    """

    initial: float = 0.5
    maximum: float = 30.0
    reset_after: float = 60.0

    def delay(self, failures: int) -> float:
        """Delay before the restart following ``failures`` consecutive failures (0-based) [s]."""
        return float(min(self.initial * 2.0 ** min(failures, 32), self.maximum))


@dataclass
class ComponentState:
    """What the supervisor knows about one component."""

    name: str
    running: bool = False
    starts: int = 0
    restarts: int = 0
    failures_in_a_row: int = 0
    last_error: str | None = None
    started_at: float | None = None


class Supervisor:
    """Run components side by side until stopped.

    Parameters
    ----------
    components : sequence of Component
    metrics : ServiceMetrics
    backoff : Backoff
    drain_s : float
        Time the components get to drain after a stop [s]; what still runs then is cancelled.
    """

    def __init__(
        self,
        components: Sequence[Component],
        metrics: ServiceMetrics,
        backoff: Backoff | None = None,
        drain_s: float = 8.0,
    ) -> None:
        names = [c.name for c in components]
        if len(set(names)) != len(names):
            raise ValueError(f"component names must be unique: {names}")
        self.components = {c.name: c for c in components}
        self.metrics = metrics
        self.backoff = backoff or Backoff()
        self.drain_s = drain_s
        self.state = {c.name: ComponentState(c.name) for c in components}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stop: asyncio.Event | None = None

    # -- queries ------------------------------------------------------------------------
    def ready(self) -> bool:
        """True when every component runs and says it is ready."""
        return all(self.state[n].running and self._ready(c) for n, c in self.components.items())

    @staticmethod
    def _ready(c: Component) -> bool:
        try:
            return bool(c.ready())
        except Exception:
            return False

    def status(self) -> dict[str, Any]:
        """Every component's state, for the admin port and the state file."""
        now = time.time()
        return {
            name: {
                "running": st.running,
                "ready": st.running and self._ready(self.components[name]),
                "starts": st.starts,
                "restarts": st.restarts,
                "last_error": st.last_error,
                "uptime_s": now - st.started_at if st.running and st.started_at else None,
            }
            for name, st in self.state.items()
        }

    # -- control ------------------------------------------------------------------------
    def kill(self, name: str) -> None:
        """Stop a component at once, as if it crashed; it is restarted after the back-off.

        Raises
        ------
        KeyError
            If there is no running component of that name.
        """
        task = self._tasks.get(name)
        if task is None or task.done():
            raise KeyError(name)
        task.cancel()

    async def run(self, stop: asyncio.Event) -> None:
        """Keep every component running until ``stop`` is set, then drain them."""
        self._stop = stop
        keepers = [
            asyncio.create_task(self._keep(c, stop), name=f"keep:{c.name}")
            for c in self.components.values()
        ]
        await stop.wait()
        log.info("stopping: draining components")
        _, pending = await asyncio.wait(keepers, timeout=self.drain_s)
        for task in pending:
            log.warning("component did not drain in time", extra={"task": task.get_name()})
            task.cancel()
        await asyncio.gather(*keepers, return_exceptions=True)

    async def _keep(self, c: Component, stop: asyncio.Event) -> None:
        st = self.state[c.name]
        up = self.metrics.component_up.labels(c.name)
        while not stop.is_set():
            st.starts += 1
            st.running, st.started_at = True, time.time()
            up.set(1)
            log.info("component started", extra={"component": c.name, "start": st.starts})
            task = asyncio.create_task(c.run(stop), name=c.name)
            self._tasks[c.name] = task
            try:
                await asyncio.wait({task})
            except asyncio.CancelledError:  # the supervisor itself is cancelled: stop now
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                raise
            finally:
                st.running = False
                up.set(0)
            error: str | None
            if task.cancelled():
                error = "killed"
            elif (exc := task.exception()) is not None:
                error = f"{type(exc).__name__}: {exc}"
            else:
                error = None if stop.is_set() else "stopped by itself"
            if error is None:
                break
            ran = time.time() - (st.started_at or time.time())
            st.failures_in_a_row = 0 if ran >= self.backoff.reset_after else st.failures_in_a_row
            delay = self.backoff.delay(st.failures_in_a_row)
            st.failures_in_a_row += 1
            st.restarts += 1
            st.last_error = error
            self.metrics.component_restarts.labels(c.name).inc()
            log.warning(
                "component failed; restarting",
                extra={"component": c.name, "error": error, "retry_in_s": delay},
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        log.info("component stopped", extra={"component": c.name})
