"""Fleet-wide forecast and day-ahead scheduling runs, in-process or on Dask.

- :mod:`~bitgaram.fleet.executor`: where tasks run (local, Dask LocalCluster,
  a Dask scheduler);
- :mod:`~bitgaram.fleet.tasks`: one task = a chunk of tenants, store in and out;
- :mod:`~bitgaram.fleet.run`: split a park into tasks and run them.
"""

from bitgaram.fleet.executor import DaskExecutor, Executor, LocalExecutor, executor_for
from bitgaram.fleet.run import FleetReport, plan_jobs, run_forecasts, run_schedules
from bitgaram.fleet.tasks import SCHEDULE_MODEL, TaskResult, TenantJob

__all__ = [
    "SCHEDULE_MODEL",
    "DaskExecutor",
    "Executor",
    "FleetReport",
    "LocalExecutor",
    "TaskResult",
    "TenantJob",
    "executor_for",
    "plan_jobs",
    "run_forecasts",
    "run_schedules",
]
