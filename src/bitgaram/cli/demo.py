"""``bitgaram demo``: the platform's main job end to end on the shipped sample park.

The demo is a list of steps run in order (:data:`DEMO_STEPS`). Each capability
adds its own step from its CLI module with the :func:`demo_step` decorator,
choosing an ``order`` between the existing ones::

    @demo_step("forecast load and PV", order=30)
    def _forecast(ctx: DemoContext) -> None:
        ...  # use ctx.store, ctx.site; add files to ctx.artifacts

Orders in use: 10 import, 20 summary, 90 report. Leave gaps (30 forecast,
40 optimize, 80 dashboard...). Every step is timed and reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bitgaram.cli import app
from bitgaram.cli.importing import print_report
from bitgaram.cli.output import print_table
from bitgaram.collect.citylearn import import_citylearn, sample_overrides_file, sample_park_dir
from bitgaram.errors import BitgaramError
from bitgaram.report import (
    ParkSummary,
    plot_park,
    read_park_summary,
    write_park_html,
)
from bitgaram.site import Site
from bitgaram.store import Store, open_store

console = Console()


@dataclass
class DemoContext:
    """What the steps share: the work folder, the store, the site and their results.

    Attributes
    ----------
    workdir : pathlib.Path
        Where the store and the report files go.
    store : Store or None
        Opened before the first step.
    site : Site or None
        Set by the import step.
    summary : ParkSummary or None
        Set by the summary step.
    artifacts : list of pathlib.Path
        Files written by steps, listed at the end.
    extras : dict
        Free slots for later steps (forecasts, schedules...).
    """

    workdir: Path
    console: Console
    store: Store | None = None
    site: Site | None = None
    summary: ParkSummary | None = None
    artifacts: list[Path] = field(default_factory=list)
    extras: dict[str, object] = field(default_factory=dict)

    def require_store(self) -> Store:
        """The open store (raises if no store was opened)."""
        if self.store is None:
            raise BitgaramError("demo: no store is open")
        return self.store

    def require_site(self) -> Site:
        """The imported site (raises if the import step has not run)."""
        if self.site is None:
            raise BitgaramError("demo: the sample park has not been imported")
        return self.site


@dataclass(frozen=True)
class DemoStep:
    """One step of the demo."""

    name: str
    order: int
    run: Callable[[DemoContext], None]


#: The demo's steps; kept sorted by ``order``.
DEMO_STEPS: list[DemoStep] = []


def demo_step(
    name: str, order: int
) -> Callable[[Callable[[DemoContext], None]], Callable[[DemoContext], None]]:
    """Register a function as a demo step (see the module docstring)."""

    def register(func: Callable[[DemoContext], None]) -> Callable[[DemoContext], None]:
        DEMO_STEPS[:] = [s for s in DEMO_STEPS if s.name != name]
        DEMO_STEPS.append(DemoStep(name, order, func))
        DEMO_STEPS.sort(key=lambda s: s.order)
        return func

    return register


@demo_step("import the sample park", order=10)
def _import_sample(ctx: DemoContext) -> None:
    site, report = import_citylearn(ctx.require_store(), sample_park_dir(), sample_overrides_file())
    ctx.site = site
    print_report(report, ctx.console)


@demo_step("summarise the park", order=20)
def _summarise(ctx: DemoContext) -> None:
    summary = read_park_summary(ctx.require_store(), ctx.require_site())
    ctx.summary = summary
    print_summary(summary, ctx.console)


@demo_step("write the report", order=90)
def _report(ctx: DemoContext) -> None:
    if ctx.summary is None:
        raise BitgaramError("demo: the summary step has not run")
    png = plot_park(ctx.summary, ctx.workdir / "park.png")
    page = write_park_html(ctx.summary, ctx.workdir / "report.html", figure=png.name)
    ctx.artifacts += [png, page]


def print_summary(summary: ParkSummary, out: Console | None = None) -> None:
    """The park summary as a Rich table."""
    out = out or console
    tz = summary.timezone

    def when(ts: object) -> str:
        return "" if ts is None else f"{ts.tz_convert(tz):%Y-%m-%d %H:%M}"  # type: ignore[attr-defined]

    table = Table(
        title=f"{summary.name}: {summary.hours:,} h from {when(summary.start)} "
        f"to {when(summary.end)} ({tz})",
        title_justify="left",
    )
    for column in ("tenant", "load [kWh]", "PV [kWh]", "self-sufficiency", "peak [kW]", "at"):
        table.add_column(column, justify="left" if column in ("tenant", "at") else "right")
    for t in summary.tenants:
        table.add_row(
            t.name,
            f"{t.load_kwh:,.0f}",
            f"{t.pv_kwh:,.0f}",
            f"{100 * t.self_sufficiency:.1f} %",
            f"{t.peak_load_kw:,.1f}",
            when(t.peak_at),
        )
    table.add_section()
    table.add_row(
        "[bold]park[/]",
        f"[bold]{summary.load_kwh:,.0f}[/]",
        f"[bold]{summary.pv_kwh:,.0f}[/]",
        f"[bold]{100 * summary.self_sufficiency:.1f} %[/]",
        f"[bold]{summary.peak_import_kw:,.1f}[/] net",
        when(summary.peak_at),
    )
    print_table(table, out)
    out.print(
        f"grid import {summary.grid_import_kwh:,.0f} kWh, export {summary.export_kwh:,.0f} kWh",
        highlight=False,
    )


def run_demo(
    workdir: Path, store_url: str | None = None, out: Console | None = None
) -> DemoContext:
    """Run every step of :data:`DEMO_STEPS` in order.

    Parameters
    ----------
    workdir : pathlib.Path
        Folder for the store (``bitgaram.duckdb``) and the report files.
    store_url : str, optional
        Another store instead of ``workdir/bitgaram.duckdb``.
    out : rich.console.Console, optional
        Where to print (default: standard output).

    Returns
    -------
    DemoContext
        The shared state after the last step.
    """
    out = out or console
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(workdir=workdir, console=out)
    ctx.store = open_store(store_url or str(workdir / "bitgaram.duckdb"))
    try:
        for number, step in enumerate(DEMO_STEPS, start=1):
            out.rule(f"[bold]{number}. {step.name}")
            started = time.perf_counter()
            step.run(ctx)
            out.print(f"[dim]{step.name}: {time.perf_counter() - started:.1f} s[/]")
    finally:
        ctx.store.close()
    if ctx.artifacts:
        out.rule("[bold]files")
        for path in ctx.artifacts:
            out.print(f"  {path}", highlight=False)
    return ctx


class DemoPark(StrEnum):
    """Which park the demo runs on."""

    SAMPLE = "sample"
    INDUSTRIAL = "industrial"


@app.command("demo")
def demo(
    workdir: Annotated[
        Path, typer.Option("--workdir", help="Folder for the demo store and report.")
    ] = Path("out"),
    store_url: Annotated[
        str | None,
        typer.Option("--store", help="Use this store instead of WORKDIR/bitgaram.duckdb."),
    ] = None,
    park: Annotated[
        DemoPark,
        typer.Option(
            "--park",
            help="'sample': the CityLearn sample park end to end; 'industrial': the KEPCO "
            "industrial park's schedule and bill before and after.",
        ),
    ] = DemoPark.SAMPLE,
    days: Annotated[
        int, typer.Option("--days", min=1, max=31, help="Days simulated (industrial park).")
    ] = 7,
) -> None:
    """Run the platform end to end: import, summarise, forecast, schedule, report, dashboard."""
    if park is DemoPark.INDUSTRIAL:
        from bitgaram.cli.park import run_park_demo

        run_park_demo(console, days=days)
        return
    run_demo(workdir, store_url)
