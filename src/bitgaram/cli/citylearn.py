"""``bitgaram citylearn``: run controllers on CityLearn 2022 datasets."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from bitgaram.cli import app
from bitgaram.datasets.citylearn import read_citylearn

citylearn_app = typer.Typer(help="CityLearn Challenge 2022 datasets.", no_args_is_help=True)
app.add_typer(citylearn_app, name="citylearn")
console = Console()


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
