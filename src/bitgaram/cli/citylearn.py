"""``bitgaram citylearn``: run controllers on CityLearn 2022 datasets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from bitgaram.cli import app
from bitgaram.cli.demo import DemoContext, demo_step
from bitgaram.cli.output import print_table
from bitgaram.datasets.citylearn import read_citylearn
from bitgaram.errors import BitgaramError
from bitgaram.site import Site
from bitgaram.store import Store

if TYPE_CHECKING:
    from bitgaram.simulate.engine import Controller, SimulationResult
    from bitgaram.simulate.site import SiteData

citylearn_app = typer.Typer(help="CityLearn Challenge 2022 datasets.", no_args_is_help=True)
app.add_typer(citylearn_app, name="citylearn")
console = Console()


class ControllerName(StrEnum):
    """Controllers of ``bitgaram citylearn run``."""

    none = "none"
    rule = "rule"
    mpc = "mpc"
    oracle = "oracle"


class LoadModelName(StrEnum):
    """Load forecasting models of the MPC."""

    baseline = "baseline"
    lightgbm = "lightgbm"


class ForecastName(StrEnum):
    """Forecast sources of the MPC."""

    models = "models"
    naive = "naive"
    perfect = "perfect"


def make_controller(
    name: ControllerName,
    horizon: int = 24,
    forecast: ForecastName = ForecastName.models,
    load_model: LoadModelName = LoadModelName.lightgbm,
    on_progress: Callable[[str], None] | None = None,
) -> Controller:
    """The controller named on the command line (``mpc``: with its forecast settings)."""
    from bitgaram.optimize.mpc import MPCConfig, MPCController
    from bitgaram.optimize.oracle import OracleController
    from bitgaram.simulate.controllers import NoBatteryController, RuleController

    fixed = {
        ControllerName.none: NoBatteryController,
        ControllerName.rule: RuleController,
        ControllerName.oracle: OracleController,
    }.get(name)
    if fixed is not None:
        return fixed()
    cfg = MPCConfig(horizon=horizon, source=forecast.value, load_model=load_model.value)
    return MPCController(cfg, on_progress=on_progress)


def replay_with_progress(
    site: SiteData,
    controller: ControllerName,
    horizon: int,
    forecast: ForecastName,
    load_model: LoadModelName,
) -> SimulationResult:
    """Replay ``site`` with the named controller under a Rich progress bar."""
    from bitgaram.simulate import simulate

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"{controller.value}: preparing", total=site.n_steps)

        def stage(label: str) -> None:
            progress.update(task, description=f"{controller.value}: {label}")

        chosen = make_controller(controller, horizon, forecast, load_model, on_progress=stage)

        def on_step(done: int, total: int) -> None:
            if done == 1:
                stage("simulating")
            if done % 24 == 0 or done == total:
                progress.update(task, completed=done)

        return simulate(site, chosen, on_step=on_step)


def controller_settings(
    controller: ControllerName, horizon: int, forecast: ForecastName, load_model: LoadModelName
) -> dict[str, object]:
    """What ``kpis.json`` records about the controller's settings."""
    if controller is ControllerName.mpc:
        return {"horizon": horizon, "forecast": forecast.value, "load_model": load_model.value}
    if controller is ControllerName.oracle:
        return {"note": "perfect-foresight bound, not a causal controller"}
    return {}


def score_table(result: SimulationResult, title: str) -> Table:
    """The CityLearn score and KPI ratios of a run as a one-row table."""
    table = Table(title=title)
    for col in ("score", "price_cost", "emission_cost", "ramping", "load_factor", "grid_cost"):
        table.add_column(col, justify="right")
    s = result.score
    table.add_row(
        *(
            f"{v:.4f}"
            for v in (s.score, s.price_cost, s.emission_cost, s.ramping, s.load_factor, s.grid_cost)
        )
    )
    return table


@citylearn_app.command("info")
def info(dataset: Path = typer.Argument(..., help="Dataset folder holding schema.json.")) -> None:
    """Show the buildings, period and totals of a CityLearn dataset."""
    ds = read_citylearn(dataset)
    console.print(
        f"{ds.path}: {len(ds.buildings)} buildings, {ds.n_steps} steps "
        f"from {ds.index[0]} to {ds.index[-1]}"
    )
    for b in ds.buildings:
        cap = f"{b.battery.capacity_kwh:g} kWh" if b.battery else "none"
        console.print(
            f"  {b.name}: load {b.load_kwh.sum():,.0f} kWh, PV {b.pv_kwp:g} kWp "
            f"({b.pv_kwh.sum():,.0f} kWh), battery {cap}"
        )


@citylearn_app.command("run")
def run(
    dataset: Path = typer.Argument(..., help="Dataset folder holding schema.json."),
    controller: ControllerName = typer.Option(ControllerName.mpc, help="Controller to run."),
    out: Path = typer.Option(..., "--out", help="Output folder for CSVs, kpis.json and the plot."),
    horizon: int = typer.Option(24, help="MPC horizon [steps]."),
    forecast: ForecastName = typer.Option(
        ForecastName.models, help="MPC forecasts ('perfect' is a bound, not causal)."
    ),
    load_model: LoadModelName = typer.Option(
        LoadModelName.lightgbm, help="Load model of the 'models' forecasts."
    ),
    days: float | None = typer.Option(
        None, min=1, help="Replay only the first N days (default: the whole dataset)."
    ),
    ignore_unsupported: bool = typer.Option(
        False,
        "--ignore-unsupported",
        help="Leave devices bitgaram cannot model (e.g. thermal storage) idle; kpis.json "
        "lists them under 'ignored'.",
    ),
) -> None:
    """Replay a CityLearn dataset with a controller and score it (CityLearn 2022 KPIs)."""
    from bitgaram.simulate import site_from_citylearn
    from bitgaram.simulate.report import write_outputs

    ds = read_citylearn(dataset, ignore_unsupported=ignore_unsupported)
    site = site_from_citylearn(ds)
    if days is not None:
        site = site.slice(0, min(site.n_steps, round(days * 24 / site.step_hours)))
    result = replay_with_progress(site, controller, horizon, forecast, load_model)
    extra: dict[str, object] = {
        "dataset": str(dataset),
        "n_steps": site.n_steps,
        "days": days,
        "buildings": list(site.names),
        **controller_settings(controller, horizon, forecast, load_model),
        "modelled": list(ds.modelled),
        "ignored": list(ds.ignored),
    }
    files = write_outputs(result, site, out, extra)
    for note in ds.ignored:
        console.print(f"[yellow]ignored[/yellow] {note}")
    print_table(
        score_table(result, f"{controller.value} on {dataset} ({site.n_steps} steps)"), console
    )
    console.print(f"run time {result.seconds:.1f} s; wrote " + ", ".join(str(f) for f in files))


#: Days of the sample park the demo schedules (its last weeks).
DEMO_SCHEDULE_DAYS = 42


@demo_step("schedule the batteries (MPC)", order=40)
def _demo_schedule(ctx: DemoContext) -> None:
    """Replay the sample park's last weeks without batteries and with the causal MPC."""
    from bitgaram.collect.citylearn import sample_park_dir
    from bitgaram.optimize.mpc import MPCConfig, MPCController
    from bitgaram.simulate import simulate, site_from_citylearn
    from bitgaram.simulate.controllers import NoBatteryController
    from bitgaram.simulate.report import write_outputs

    site = site_from_citylearn(read_citylearn(sample_park_dir()))
    steps = min(site.n_steps, round(DEMO_SCHEDULE_DAYS * 24 / site.step_hours))
    site = site.slice(site.n_steps - steps, site.n_steps)
    table = Table(title=f"last {DEMO_SCHEDULE_DAYS} days, CityLearn 2022 score (lower is better)")
    for column in ("controller", "score", "price", "carbon", "ramping", "load factor"):
        table.add_column(column, justify="left" if column == "controller" else "right")
    results = []
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} h"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=ctx.console,
        transient=True,
    ) as progress:
        for controller in (NoBatteryController(), MPCController(MPCConfig(n_scenarios=3))):
            name = type(controller).__name__
            task = progress.add_task(f"replay with {name}", total=site.n_steps)

            def on_step(done: int, total: int, task: TaskID = task) -> None:
                if done % 24 == 0 or done == total:
                    progress.update(task, completed=done)

            results.append(simulate(site, controller, on_step=on_step))
    for result in results:
        s = result.score
        kpis = (s.score, s.price_cost, s.emission_cost, s.ramping, s.load_factor)
        table.add_row(result.controller, *(f"{v:.3f}" for v in kpis))
    print_table(table, ctx.console)
    result = results[-1]
    files = write_outputs(result, site, ctx.workdir / "schedule", {"days": DEMO_SCHEDULE_DAYS})
    ctx.artifacts.extend(files)
    stored = ctx.require_site()
    n = journal_plan(ctx.require_store(), stored, site.names, result.battery_kwh, site.step_hours)
    ctx.console.print(f"journaled {n:,} battery setpoints for the dashboard's plan panel")


def journal_plan(
    store: Store,
    stored: Site,
    names: Sequence[str],
    battery_kwh: np.ndarray,
    step_hours: float,
) -> int:
    """Record a replay's battery schedule in the store's control journal.

    The replay covers the *last* ``len(battery_kwh)`` intervals of the stored
    data; step ``i`` of building ``names[b]`` becomes a setpoint of the site's
    asset ``<building>-battery`` of ``battery_kwh[i, b] / step_hours`` [kW]
    (+ charge, - discharge), valid for that interval. This is what the API's
    ``/assets/{id}/schedule`` and the dashboard's plan panel read.

    Parameters
    ----------
    store : Store
        A SQL store holding the site's readings (the journal's tables are created).
    stored : Site
        The site as imported (its battery assets and load meters).
    names : sequence of str
        Building names of the replay, in the column order of ``battery_kwh``.
    battery_kwh : numpy.ndarray
        Battery grid energy per interval, (N, B) [kWh, + = charge].
    step_hours : float
        Interval length [h].

    Returns
    -------
    int
        Setpoints recorded.
    """
    from bitgaram.control.journal import StoreJournal
    from bitgaram.control.setpoints import Mode, Setpoint

    batteries = {a.tenant: a.id for a in stored.assets if a.type == "battery"}
    loads = [m.id for m in stored.meters if m.kind.value == "load"]
    stamps = pd.DatetimeIndex(store.read_readings(loads[:1])["ts"]).tz_convert("UTC")
    steps = battery_kwh.shape[0]
    if not loads or len(stamps) < steps:
        raise BitgaramError("the replay is longer than the stored data: import the park first")
    starts = stamps[len(stamps) - steps :]
    width = pd.Timedelta(hours=step_hours)
    setpoints = [
        Setpoint(
            asset=batteries[tenant],
            kind="battery",
            power_kw=float(battery_kwh[i, b]) / step_hours,
            valid_from=starts[i],
            valid_until=starts[i] + width,
            mode=Mode.MPC,
            reason="plan",
        )
        for b, name in enumerate(names)
        if (tenant := name.lower()) in batteries
        for i in range(steps)
    ]
    StoreJournal(store).record_setpoints(stored.site.id, starts[0] - width, setpoints)
    return len(setpoints)
