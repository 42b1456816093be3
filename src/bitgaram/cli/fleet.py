"""``bitgaram fleet forecast|schedule`` (fleet runs on Dask) and ``bitgaram store downsample``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bitgaram.cli import app
from bitgaram.cli.options import SiteOption, load_cli_site
from bitgaram.cli.store import StoreOption, open_cli_store, parse_time
from bitgaram.config import Settings
from bitgaram.errors import BitgaramError, DataError
from bitgaram.fleet import FleetReport, executor_for, plan_jobs, run_forecasts, run_schedules
from bitgaram.store.connect import resolve_url
from bitgaram.store.retention import downsample, retention_cutoff

console = Console()

fleet_app = typer.Typer(help="Fleet-wide runs over every tenant of a park.", no_args_is_help=True)
app.add_typer(fleet_app, name="fleet")
store_app = typer.Typer(help="Store maintenance (retention).", no_args_is_help=True)
app.add_typer(store_app, name="store")

ExecutorOption = Annotated[
    str,
    typer.Option(
        "--executor", help="local, dask (a LocalCluster) or dask://host:port (a scheduler)."
    ),
]
DayOption = Annotated[
    str, typer.Option("--day", help="Local day planned (YYYY-MM-DD); issued at its midnight.")
]
ChunkOption = Annotated[int, typer.Option("--chunk", help="Tenants per task.")]


def _issued(
    day: str, store_url: str | None, site_id: str | None
) -> tuple[str, pd.Timestamp, str | None]:
    url = resolve_url(store_url, Settings.from_env())
    with open_cli_store(url) as store:
        site = load_cli_site(store, site_id)
    try:
        midnight = pd.Timestamp(day)
    except ValueError as exc:
        raise DataError(f"--day {day!r} is not a date (e.g. 2025-06-01)") from exc
    if midnight.tzinfo is None:
        midnight = midnight.tz_localize(site.site.timezone)
    return url, midnight.tz_convert("UTC"), site.site.id


def _progress_run(
    label: str, total: int, run: Callable[[Callable[[int], None]], FleetReport]
) -> FleetReport:
    columns = (
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tenants"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(label, total=total)
        report = run(lambda n: bar.advance(task, n))
    return report


def _summary(report: FleetReport, what: str) -> None:
    console.print(
        f"{report.tenants:,} tenants in {report.tasks} tasks on {report.executor}: "
        f"{report.rows:,} {what} rows written in {report.seconds:.1f} s"
    )
    if report.failures:
        for tenant, message in report.failures[:10]:
            console.print(f"[red]{tenant}[/]: {message}", highlight=False)
        raise BitgaramError(f"{len(report.failures)} tenant(s) failed (first ones listed above)")


@fleet_app.command("forecast")
def fleet_forecast(
    day: DayOption,
    store: StoreOption = None,
    site: SiteOption = None,
    executor: ExecutorOption = "dask",
    model: Annotated[str, typer.Option("--model", help="gbm or naive.")] = "gbm",
    horizon: Annotated[int, typer.Option("--horizon", help="Hours ahead.")] = 24,
    history_days: Annotated[int, typer.Option("--history-days", help="Days of history.")] = 56,
    chunk: ChunkOption = 10,
) -> None:
    """Forecast every tenant's load and PV for the day ahead; forecasts go to the store."""
    url, issued, site_id = _issued(day, store, site)
    jobs = plan_jobs(
        url,
        issued,
        chunk=chunk,
        horizon=horizon,
        history_days=history_days,
        model=model,
        site_id=site_id,
    )
    total = sum(len(j.tenant_ids) for j in jobs)
    with executor_for(executor) as ex:
        report = _progress_run("forecast", total, lambda cb: run_forecasts(jobs, ex, cb))
    _summary(report, "forecast")


@fleet_app.command("schedule")
def fleet_schedule(
    day: DayOption,
    store: StoreOption = None,
    site: SiteOption = None,
    executor: ExecutorOption = "dask",
    horizon: Annotated[int, typer.Option("--horizon", help="Hours ahead.")] = 24,
    chunk: ChunkOption = 10,
) -> None:
    """Plan every tenant battery for the day ahead from stored forecasts (model dayahead-lp)."""
    url, issued, site_id = _issued(day, store, site)
    jobs = plan_jobs(
        url, issued, chunk=chunk, horizon=horizon, site_id=site_id, batteries_only=True
    )
    total = sum(len(j.tenant_ids) for j in jobs)
    with executor_for(executor) as ex:
        report = _progress_run("schedule", total, lambda cb: run_schedules(jobs, ex, cb))
    _summary(report, "schedule")


@store_app.command("downsample")
def store_downsample(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age of the readings to compact, e.g. 90d.")
    ],
    to: Annotated[str, typer.Option("--to", help="Aggregate interval: 15min, 1h or 1D.")] = "15min",
    now: Annotated[str | None, typer.Option("--now", help="Reference time (default: now).")] = None,
    store: StoreOption = None,
) -> None:
    """Replace raw readings older than --older-than by 15-minute or hourly aggregates."""
    try:
        # Accept 90d as well as 90D (pandas deprecates the lower-case day unit).
        age = pd.Timedelta(
            older_than.strip().upper() if older_than.strip()[-1:] in "dD" else older_than
        )
    except ValueError as exc:
        raise DataError(f"--older-than {older_than!r} is not a duration (e.g. 90d)") from exc
    reference = parse_time(now, "--now") or pd.Timestamp.now(tz="UTC")
    cutoff = retention_cutoff(reference, age)
    with open_cli_store(store) as opened:
        report = downsample(opened, cutoff, to)
    console.print(
        f"readings before {report.cutoff:%Y-%m-%d %H:%M} UTC, {report.months} months: "
        f"{report.removed:,} raw rows -> {report.written:,} rows of {report.resolution}"
    )
