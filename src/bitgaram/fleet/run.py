"""Fleet-wide runs: every tenant of a park forecast or scheduled, one task per chunk.

The run splits the park's tenants into chunks (``chunk`` tenants per task),
hands the tasks to an :class:`~bitgaram.fleet.executor.Executor` and sums the
outcomes. Tasks write their results to the store themselves; the run returns
counts, failures and the wall time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from bitgaram.config import Settings
from bitgaram.errors import ConfigError, DataError
from bitgaram.fleet.executor import Executor
from bitgaram.fleet.tasks import (
    FORECAST_MODELS,
    TaskResult,
    TenantJob,
    forecast_job,
    schedule_job,
)
from bitgaram.site.model import BatteryAsset
from bitgaram.store import open_store

#: Called with the number of tenants each finished task handled.
ProgressFn = Callable[[int], None]


@dataclass(frozen=True)
class FleetReport:
    """Outcome of a fleet run.

    Attributes
    ----------
    tenants : int
        Tenants handled.
    tasks : int
        Tasks run.
    rows : int
        Rows written to the forecasts table.
    failures : tuple of (str, str)
        ``(tenant_id, message)`` of tenants that failed.
    seconds : float
        Wall time [s].
    executor : str
        Where it ran.
    """

    tenants: int
    tasks: int
    rows: int
    failures: tuple[tuple[str, str], ...]
    seconds: float
    executor: str


def plan_jobs(
    store_url: str,
    issued_at: pd.Timestamp,
    *,
    chunk: int = 10,
    horizon: int = 24,
    history_days: int = 56,
    model: str = "gbm",
    site_id: str | None = None,
    batteries_only: bool = False,
) -> list[TenantJob]:
    """Split the stored park's tenants into jobs of ``chunk`` tenants.

    Raises
    ------
    ConfigError
        If ``chunk``/``horizon`` are not positive or the model is unknown.
    DataError
        If ``issued_at`` is naive.
    """
    if chunk < 1 or horizon < 1 or history_days < 1:
        raise ConfigError("chunk, horizon and history_days must be >= 1")
    if model not in FORECAST_MODELS:
        raise ConfigError(f"forecast model {model!r}: use one of {', '.join(FORECAST_MODELS)}")
    issued = pd.Timestamp(issued_at)
    if issued.tzinfo is None:
        raise DataError(f"issued_at={issued} is naive; give a tz-aware timestamp")
    issued = issued.tz_convert("UTC")
    with open_store(store_url, Settings(), migrate=False) as store:
        site = store.load_site(site_id)
    tenants = [t.id for t in site.tenants]
    if batteries_only:
        owners = {a.tenant for a in site.assets if isinstance(a, BatteryAsset)}
        tenants = [t for t in tenants if t in owners]
    return [
        TenantJob(
            store_url,
            site.site.id,
            tuple(tenants[i : i + chunk]),
            issued,
            horizon,
            history_days,
            model,
        )
        for i in range(0, len(tenants), chunk)
    ]


def _run(
    fn: Callable[[TenantJob], TaskResult],
    jobs: list[TenantJob],
    executor: Executor,
    progress: ProgressFn | None,
) -> FleetReport:
    began = time.perf_counter()

    def done(_: int, result: TaskResult) -> None:
        if progress is not None:
            progress(result.tenants)

    results = executor.map(fn, jobs, done)
    return FleetReport(
        tenants=sum(r.tenants for r in results),
        tasks=len(results),
        rows=sum(r.rows for r in results),
        failures=tuple(f for r in results for f in r.failures),
        seconds=time.perf_counter() - began,
        executor=executor.name,
    )


def run_forecasts(
    jobs: list[TenantJob], executor: Executor, progress: ProgressFn | None = None
) -> FleetReport:
    """Forecast every tenant of ``jobs`` (see :func:`plan_jobs`) and store the forecasts."""
    return _run(forecast_job, jobs, executor, progress)


def run_schedules(
    jobs: list[TenantJob], executor: Executor, progress: ProgressFn | None = None
) -> FleetReport:
    """Plan every battery of ``jobs`` for the day ahead and store the plans."""
    return _run(schedule_job, jobs, executor, progress)
