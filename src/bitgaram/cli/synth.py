"""``bitgaram synth``: generate a synthetic park of N tenants from the sample profiles."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bitgaram.cli import app
from bitgaram.config import Settings
from bitgaram.errors import ConfigError
from bitgaram.store import open_store
from bitgaram.synth import SynthSpec, plan_tenants, read_base_profiles, synth_site
from bitgaram.synth.write import write_files, write_store

console = Console()

#: The shipped sample park whose profiles are scaled.
DEFAULT_PROFILES = Path("data/citylearn_2022_phase_1")


@app.command("synth")
def synth(
    tenants: Annotated[int, typer.Option("--tenants", help="Number of tenants.")] = 10,
    years: Annotated[float, typer.Option("--years", help="Length [years of 365 days].")] = 1.0,
    days: Annotated[
        int | None, typer.Option("--days", help="Length [days] (overrides --years).")
    ] = None,
    resolution: Annotated[str, typer.Option("--resolution", help="Interval.")] = "15min",
    start: Annotated[str, typer.Option("--start", help="First local day.")] = "2025-01-01",
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    site_id: Annotated[str, typer.Option("--site-id", help="Site id.")] = "synth",
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for site.toml + readings.parquet.")
    ] = None,
    store_url: Annotated[
        str | None, typer.Option("--store", help="Write into this store instead.")
    ] = None,
    profiles: Annotated[
        Path, typer.Option("--profiles", help="CityLearn folder whose profiles are scaled.")
    ] = DEFAULT_PROFILES,
    chunk: Annotated[int, typer.Option("--chunk", help="Tenants generated per batch.")] = 100,
) -> None:
    """Scale the sample park's load and PV into a park of N tenants (deterministic per seed)."""
    if (out is None) == (store_url is None):
        raise ConfigError("give exactly one of --out DIR or --store URL")
    n_days = days if days is not None else round(365 * years)
    spec = SynthSpec(
        tenants=tenants, days=n_days, resolution=resolution, start=start, seed=seed, site_id=site_id
    )
    base = read_base_profiles(profiles)
    plan = plan_tenants(spec, base.load_shapes.shape[1])
    site = synth_site(plan, spec)
    began = time.perf_counter()
    columns = (
        TextColumn("[bold]synth"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tenants"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("synth", total=tenants)

        def advance(n: int) -> None:
            bar.advance(task, n)

        if out is not None:
            result = write_files(base, plan, spec, site, out, chunk, advance)
            where = f"{result.site_file} and {result.readings_file}"
        else:
            with open_store(store_url, Settings.from_env()) as store:
                result, report = write_store(base, plan, spec, site, store, chunk, advance)
            where = f"{store_url} ({report.inserted:,} inserted, {report.unchanged:,} unchanged)"
    elapsed = time.perf_counter() - began
    console.print(
        f"{result.tenants:,} tenants, {spec.steps:,} steps of {resolution}: "
        f"{result.readings:,} readings written to {where} in {elapsed:.1f} s"
    )
