"""``bitgaram simulate``: replay any stored site with a battery controller in the loop.

``bitgaram simulate run [--store URL] [--site ID] [--start ISO] [--end ISO | --days N]
--controller {none,rule,mpc,oracle} --out OUT_DIR`` builds the site's hourly data
from the store (:func:`bitgaram.simulate.from_store.site_from_store`), replays it
and writes the files of ``bitgaram citylearn run``: ``net_electricity_consumption.csv``
and ``battery_energy.csv`` (one column per building, one row per hour, kWh),
``kpis.json`` (CityLearn 2022 ratios to the no-battery baseline, absolute KPIs,
run time) and ``schedule_week.png`` (net load before/after, battery energy, SoC).

The store is ``--store`` (a DuckDB file path or a ``postgresql://`` URL), else
``BITGARAM_DATABASE_URL``, else ``./bitgaram.duckdb``. Times without a zone are UTC.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console

from bitgaram.cli import app
from bitgaram.cli.citylearn import (
    ControllerName,
    ForecastName,
    LoadModelName,
    controller_settings,
    replay_with_progress,
    score_table,
)
from bitgaram.cli.options import SiteOption, resolve_site_id
from bitgaram.cli.output import print_table
from bitgaram.cli.store import StoreOption, open_cli_store, parse_time

simulate_app = typer.Typer(
    help="Replay a stored site with a battery controller and score it.", no_args_is_help=True
)
app.add_typer(simulate_app, name="simulate")
console = Console()


# The same choices as ``bitgaram citylearn run``.
SimController = ControllerName
SimForecast = ForecastName
SimLoadModel = LoadModelName


class SimBatteryModel(StrEnum):
    """Battery physics of the stored batteries."""

    asset = "asset"
    citylearn = "citylearn"


@simulate_app.command("run")
def run(
    controller: SimController = typer.Option(SimController.mpc, help="Controller to run."),
    out: Path = typer.Option(..., "--out", help="Output folder for CSVs, kpis.json and the plot."),
    store_url: StoreOption = None,
    site_id: SiteOption = None,
    start: str | None = typer.Option(
        None, help="First hour simulated (ISO 8601; UTC without a zone). Default: first reading."
    ),
    end: str | None = typer.Option(
        None, help="End of the period, exclusive (ISO 8601; UTC without a zone)."
    ),
    days: float | None = typer.Option(
        None, help="Days simulated: from --start, else the last N days of readings."
    ),
    horizon: int = typer.Option(24, help="MPC horizon [steps]."),
    forecast: SimForecast = typer.Option(
        SimForecast.models, help="MPC forecasts ('perfect' is a bound, not causal)."
    ),
    load_model: SimLoadModel = typer.Option(
        SimLoadModel.lightgbm, help="Load model of the 'models' forecasts."
    ),
    battery_model: SimBatteryModel = typer.Option(
        SimBatteryModel.asset,
        help="Battery physics: the asset's constant efficiencies, or the CityLearn 2022 curves.",
    ),
) -> None:
    """Replay a stored site's hourly history with a controller and score it."""
    from bitgaram.simulate.from_store import site_from_store
    from bitgaram.simulate.report import write_outputs

    with open_cli_store(store_url) as store:
        stored = site_from_store(
            store,
            resolve_site_id(store, site_id),
            start=parse_time(start, "--start"),
            end=parse_time(end, "--end"),
            days=days,
            battery_model=battery_model.value,
        )
    site = stored.data
    result = replay_with_progress(site, controller, horizon, forecast, load_model)
    extra: dict[str, object] = {
        "site": stored.site.site.id,
        "start": stored.start.isoformat(),
        "end": stored.end.isoformat(),
        "n_steps": site.n_steps,
        "buildings": list(site.names),
        "sources": stored.sources,
        **controller_settings(controller, horizon, forecast, load_model),
    }
    files = write_outputs(result, site, out, extra)
    title = (
        f"{controller.value} on {stored.site.site.id}, {stored.start:%Y-%m-%d %H:%M} to "
        f"{stored.end:%Y-%m-%d %H:%M} UTC ({site.n_steps} h)"
    )
    print_table(score_table(result, title), console)
    console.print(
        f"price from {stored.sources['price']}, carbon from {stored.sources['carbon']}; "
        f"run time {result.seconds:.1f} s; wrote " + ", ".join(str(f) for f in files)
    )
