"""Prometheus metrics of the service (prometheus-client), one registry per supervisor.

Names follow the Prometheus conventions: the ``bitgaram_`` namespace, base units in the name
(``_seconds``), counters ending in ``_total``. Collector counters are read from the batch
writers' own counters when scraped (nothing is counted twice, nothing on the hot path); the
other metrics are updated by the components as things happen.

==============================================  =========  ===================================
Metric                                          Type       Labels
==============================================  =========  ===================================
``bitgaram_readings_received_total``            counter    ``source`` (mqtt, http, modbus)
``bitgaram_readings_accepted_total``            counter    ``source``
``bitgaram_readings_quarantined_total``         counter    ``source``
``bitgaram_collect_queue_depth``                gauge      (submissions waiting)
``bitgaram_collect_flush_seconds``              histogram  (one store transaction per batch)
``bitgaram_collect_lag_seconds``                gauge      ``source`` (now - newest reading)
``bitgaram_control_ticks_total``                counter
``bitgaram_control_tick_seconds``               histogram
``bitgaram_control_solve_seconds``              histogram
``bitgaram_control_fallbacks_total``            counter
``bitgaram_api_requests_total``                 counter    ``method``, ``route``, ``status``
``bitgaram_api_request_seconds``                histogram  ``method``, ``route``
``bitgaram_api_login_failures_total``           counter
``bitgaram_component_up``                       gauge      ``component``
``bitgaram_component_restarts_total``           counter    ``component``
``bitgaram_device_link_up``                     gauge      ``link`` (device links)
``bitgaram_device_setpoints_total``             counter    ``link``, ``result``
``bitgaram_device_setpoint_latency_seconds``    histogram  ``link``
==============================================  =========  ===================================
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from bitgaram.collect.writer import BatchWriter

#: Buckets of store flushes and API requests [s]: a flush takes ~1-50 ms, a slow one 1 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: Buckets of MPC solves and control ticks [s]: a warm solve takes ~2 ms, a cold one ~100 ms.
SOLVE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_KINDS = ("received", "accepted", "quarantined")


class WriterTotals(Collector):
    """Reading counters summed over every batch writer a collector ever ran.

    A restarted collector gets a new :class:`BatchWriter`; the final counts of the old one are
    kept (:meth:`retire`), so the exported counters never go back.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: list[BatchWriter] = []
        self._retired: dict[tuple[str, str], int] = {}

    def attach(self, writer: BatchWriter) -> None:
        """Count a running writer."""
        with self._lock:
            self._live.append(writer)

    def retire(self, writer: BatchWriter) -> None:
        """Fold a finished writer's counts into the totals."""
        with self._lock:
            if writer in self._live:
                self._live.remove(writer)
            for kind, st in writer.stats.sources.items():
                for name in _KINDS:
                    key = (name, kind)
                    self._retired[key] = self._retired.get(key, 0) + int(getattr(st, name))

    def totals(self) -> dict[tuple[str, str], int]:
        """``{(counter, source): value}`` for counter in received/accepted/quarantined."""
        with self._lock:
            out = dict(self._retired)
            for w in self._live:
                for kind, st in list(w.stats.sources.items()):
                    for name in _KINDS:
                        out[(name, kind)] = out.get((name, kind), 0) + int(getattr(st, name))
        return out

    def collect(self) -> Iterator[Any]:
        totals = self.totals()
        for name in _KINDS:
            family = CounterMetricFamily(
                f"bitgaram_readings_{name}",
                f"Readings {name} by the collector, per source kind.",
                labels=["source"],
            )
            for (counter, source), value in sorted(totals.items()):
                if counter == name:
                    family.add_metric([source], value)
            yield family
        depth = GaugeMetricFamily(
            "bitgaram_collect_queue_depth", "Submissions waiting in the writer queue."
        )
        lag = GaugeMetricFamily(
            "bitgaram_collect_lag_seconds",
            "Now minus the newest stored reading's interval start, per source kind.",
            labels=["source"],
        )
        now = time.time()
        with self._lock:
            live = list(self._live)
        depth.add_metric([], float(sum(w.pending for w in live)))
        newest: dict[str, float] = {}
        for w in live:
            for kind, st in list(w.stats.sources.items()):
                if st.last_reading_ts is not None:
                    newest[kind] = max(newest.get(kind, st.last_reading_ts), st.last_reading_ts)
        for kind, ts in sorted(newest.items()):
            lag.add_metric([kind], now - ts)
        yield depth
        yield lag


class ServiceMetrics:
    """Every metric of one service, in its own :class:`CollectorRegistry`.

    Parameters
    ----------
    registry : CollectorRegistry, optional
        Where to register (default: a new one, so two services in one process never clash).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self.writers = WriterTotals()
        r.register(self.writers)
        self.flush_seconds = Histogram(
            "bitgaram_collect_flush_seconds",
            "Time from a batch's gathering to its commit [s].",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.control_ticks = Counter(
            "bitgaram_control_ticks", "Control intervals planned or fallen back.", registry=r
        )
        self.control_tick_seconds = Histogram(
            "bitgaram_control_tick_seconds",
            "Duration of one control tick (snapshot, plan, publish, journal) [s].",
            buckets=SOLVE_BUCKETS,
            registry=r,
        )
        self.control_solve_seconds = Histogram(
            "bitgaram_control_solve_seconds",
            "Duration of one planner call (the MPC solve) [s].",
            buckets=SOLVE_BUCKETS,
            registry=r,
        )
        self.control_fallbacks = Counter(
            "bitgaram_control_fallbacks",
            "Ticks that published safe setpoints (stale data, planner failure).",
            registry=r,
        )
        self.api_requests = Counter(
            "bitgaram_api_requests",
            "API requests by route template, method and status code.",
            ["method", "route", "status"],
            registry=r,
        )
        self.api_request_seconds = Histogram(
            "bitgaram_api_request_seconds",
            "API request duration by route template [s].",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.login_failures = Counter(
            "bitgaram_api_login_failures", "Failed logins (wrong user or password).", registry=r
        )
        self.component_up = Gauge(
            "bitgaram_component_up", "1 while a component runs, else 0.", ["component"], registry=r
        )
        self.component_restarts = Counter(
            "bitgaram_component_restarts",
            "Restarts of a component after it failed.",
            ["component"],
            registry=r,
        )
        # Device links (issue "Act on real equipment"): defined here, updated by that package.
        self.device_link_up = Gauge(
            "bitgaram_device_link_up",
            "1 while a device link is connected, else 0.",
            ["link"],
            registry=r,
        )
        self.device_setpoints = Counter(
            "bitgaram_device_setpoints",
            "Setpoints sent to devices by result (ok, rejected, timeout).",
            ["link", "result"],
            registry=r,
        )
        self.device_setpoint_seconds = Histogram(
            "bitgaram_device_setpoint_latency_seconds",
            "Time from a setpoint's issue to the device's confirmation [s].",
            ["link"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
