"""The supervisor: restarts with back-off, kill, clean drain; metrics follow."""

from __future__ import annotations

import asyncio

import pytest

from bitgaram.service.metrics import ServiceMetrics
from bitgaram.service.supervisor import Backoff, Supervisor


class Flaky:
    """Fails its first ``failures`` runs, then works until stopped (and drains)."""

    def __init__(self, name: str, failures: int) -> None:
        self.name = name
        self.failures = failures
        self.runs = 0
        self.drained = 0
        self.started_at: list[float] = []

    def ready(self) -> bool:
        return self.runs > self.failures

    async def run(self, stop: asyncio.Event) -> None:
        self.runs += 1
        self.started_at.append(asyncio.get_running_loop().time())
        if self.runs <= self.failures:
            raise RuntimeError(f"boom {self.runs}")
        await stop.wait()
        self.drained += 1


class Stubborn:
    """Ignores the stop event: the supervisor must cancel it after the drain time."""

    name = "stubborn"

    def ready(self) -> bool:
        return True

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.sleep(3600)


def _value(metrics: ServiceMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_backoff_doubles_up_to_its_maximum() -> None:
    b = Backoff(0.1, 0.35)
    assert [b.delay(n) for n in range(4)] == [0.1, 0.2, 0.35, 0.35]


def test_failed_component_restarts_with_growing_delays_then_drains() -> None:
    metrics = ServiceMetrics()
    flaky, steady = Flaky("flaky", failures=3), Flaky("steady", failures=0)
    sup = Supervisor([flaky, steady], metrics, Backoff(0.05, 1.0), drain_s=2.0)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(sup.run(stop))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if sup.ready():
                break
        assert sup.ready()
        stop.set()
        await task

    asyncio.run(scenario())
    assert flaky.runs == 4 and flaky.drained == 1 and steady.drained == 1
    gaps = [b - a for a, b in zip(flaky.started_at, flaky.started_at[1:], strict=False)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2  # 0.05, 0.1, 0.2 s
    assert _value(metrics, "bitgaram_component_restarts_total", component="flaky") == 3
    assert _value(metrics, "bitgaram_component_restarts_total", component="steady") == 0
    assert _value(metrics, "bitgaram_component_up", component="flaky") == 0  # stopped now
    status = sup.status()
    assert (
        status["flaky"]["restarts"] == 3 and status["flaky"]["last_error"] == "RuntimeError: boom 3"
    )


def test_killed_component_is_restarted_and_others_keep_running() -> None:
    metrics = ServiceMetrics()
    a, b = Flaky("a", 0), Flaky("b", 0)
    sup = Supervisor([a, b], metrics, Backoff(0.01, 0.1), drain_s=2.0)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(sup.run(stop))
        await asyncio.sleep(0.05)
        sup.kill("a")
        for _ in range(100):
            await asyncio.sleep(0.01)
            if a.runs == 2 and sup.ready():
                break
        with pytest.raises(KeyError):
            sup.kill("nothing")
        stop.set()
        await task

    asyncio.run(scenario())
    assert a.runs == 2 and b.runs == 1
    assert sup.status()["a"]["last_error"] == "killed"
    assert _value(metrics, "bitgaram_component_restarts_total", component="a") == 1


def test_a_component_that_ignores_stop_is_cancelled_after_the_drain_time() -> None:
    sup = Supervisor([Stubborn()], ServiceMetrics(), drain_s=0.2)

    async def scenario() -> float:
        stop = asyncio.Event()
        task = asyncio.create_task(sup.run(stop))
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        started = loop.time()
        stop.set()
        await task
        return loop.time() - started

    assert asyncio.run(scenario()) < 1.0


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        Supervisor([Flaky("x", 0), Flaky("x", 0)], ServiceMetrics())
