"""``bitgaram park``: simulate the sample industrial park with a controller in the loop.

:func:`run_park_demo` is what ``bitgaram demo --park industrial`` calls: the park's month
before (no control) and after (MPC), bill line by line, peak and carbon.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

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
from bitgaram.cli.output import print_table
from bitgaram.simulate.park import (
    ControllerName,
    ParkRun,
    load_park_case,
    make_controller,
    park_table,
    simulate_park,
    split_park_savings,
)

park_app = typer.Typer(help="Industrial park scheduling (KEPCO tariff).", no_args_is_help=True)
app.add_typer(park_app, name="park")
console = Console()

#: The sample park shipped with the repository.
SAMPLE_PARK = Path(__file__).resolve().parents[3] / "data" / "industrial_park"


class Controller(StrEnum):
    """Controllers of ``bitgaram park run``."""

    none = "none"
    rule = "rule"
    mpc = "mpc"
    oracle = "oracle"


def run_park(
    controllers: list[ControllerName],
    directory: Path = SAMPLE_PARK,
    days: int = 30,
    month: str = "2026-06",
    carbon_price: float = 0.0,
    out: Console | None = None,
) -> list[ParkRun]:
    """Simulate the park once per controller and print the comparison table.

    Parameters
    ----------
    controllers : list of {"none", "rule", "mpc", "oracle"}
        Controllers to run, in order.
    directory : pathlib.Path
        Park folder (``site.toml``, ``profiles.csv``, ``vehicles.csv``, ``jobs.csv``).
    days : int
        Days of the month to simulate.
    month : str
        Simulated month ``YYYY-MM``.
    carbon_price : float
        Price of emissions in the MPC/oracle objective [KRW/kgCO2].
    out : rich.console.Console, optional
        Where to print.

    Returns
    -------
    list of ParkRun
    """
    out = out or console
    case = load_park_case(directory, month=month, days=days)
    n = case.sim_end - case.sim_start
    runs: list[ParkRun] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=out,
        transient=True,
    ) as progress:
        for name in controllers:
            task = progress.add_task(f"{name}", total=n)
            ctl = make_controller(name, case, carbon_price=carbon_price)

            def advance(i: int, task: TaskID = task) -> None:
                progress.update(task, completed=i + 1)

            runs.append(simulate_park(case, ctl, name, on_step=advance))
    print_park_table(runs, out)
    return runs


def print_park_table(runs: list[ParkRun], out: Console | None = None) -> None:
    """The comparison of runs as a Rich table (KRW, kW, kgCO2)."""
    out = out or console
    rows = park_table(runs)
    table = Table(title=f"{runs[0].bill.meter} {runs[0].bill.month}" if runs else "park")
    for col in (
        "controller",
        "energy KRW",
        "demand KRW",
        "total KRW",
        "peak kW",
        "carbon kg",
        "limit viol.",
        "EV short",
        "jobs late",
    ):
        table.add_column(col, justify="left" if col == "controller" else "right")
    for r in rows:
        table.add_row(
            str(r["controller"]),
            f"{r['energy_krw']:,.0f}",
            f"{r['demand_krw']:,.0f}",
            f"{r['total_krw']:,.0f}",
            f"{r['peak_kw']:,.0f}",
            f"{r['carbon_kg']:,.0f}",
            str(r["limit_violations"]),
            str(r["ev_short"]),
            str(r["jobs_late"]),
        )
    print_table(table, out)
    if len(rows) > 1:
        base = float(rows[0]["total_krw"])
        for r in rows[1:]:
            saved = base - float(r["total_krw"])
            out.print(
                f"{r['controller']}: saves {saved:,.0f} KRW ({saved / base:.1%}) "
                f"against {rows[0]['controller']}",
                highlight=False,
            )


def print_schedule(run: ParkRun, out: Console | None = None, day: int = 0) -> None:
    """Hourly schedule of one simulated day: import, ESS, EV fleet and jobs [kW]."""
    out = out or console
    per_hour = 4
    sl = slice(day * 24 * per_hour, (day + 1) * 24 * per_hour)
    table = Table(title=f"{run.controller} schedule, {run.index[sl][0]:%Y-%m-%d} (hourly mean kW)")
    for col in ("hour", "import", "ESS (+charge)", "EV fleet", "jobs"):
        table.add_column(col, justify="right")
    dt_h = (run.index[1] - run.index[0]).total_seconds() / 3600.0
    series = [run.grid_kwh[sl], run.battery_kwh[sl], run.ev_kwh[sl], run.jobs_kwh[sl]]
    hourly = [
        x[: x.size // per_hour * per_hour].reshape(-1, per_hour).mean(axis=1) / dt_h for x in series
    ]
    for h in range(hourly[0].size):
        table.add_row(f"{h:02d}", *(f"{x[h]:,.0f}" for x in hourly))
    print_table(table, out)


def print_bill_lines(runs: list[ParkRun], out: Console | None = None) -> None:
    """The runs' park bills side by side, line by line like a KEPCO bill [KRW]."""
    out = out or console
    table = Table(title=f"park bill {runs[0].bill.month}, line by line (KRW)")
    table.add_column("line")
    for r in runs:
        table.add_column(r.controller, justify="right")
    codes = [ln.code for ln in runs[0].bill.lines]
    labels = {ln.code: ln.label for ln in runs[0].bill.lines}
    for code in codes:
        table.add_row(
            f"{labels[code]} ({code})",
            *(
                f"{r.bill.amount(code):,.0f}" if code in {ln.code for ln in r.bill.lines} else "-"
                for r in runs
            ),
        )
    for name in ("subtotal", "fund", "vat", "total"):
        table.add_row(name, *(f"{getattr(r.bill, name):,.0f}" for r in runs))
    print_table(table, out)


def run_park_demo(out: Console | None = None, days: int = 7) -> list[ParkRun]:
    """The demo step (``bitgaram demo --park industrial``): the sample park before and after.

    Simulates the first ``days`` days of June 2026 without control and with the MPC, then
    prints the comparison, the bills line by line (the demand charge is a whole month's) and
    the MPC's schedule of the first day.

    Parameters
    ----------
    out : rich.console.Console, optional
        Where to print.
    days : int
        Days to simulate (the MPC takes ~0.1 s per 15-min step).

    Returns
    -------
    list of ParkRun
        ``[none, mpc]``.
    """
    runs = run_park(["none", "mpc"], SAMPLE_PARK, days=days, out=out)
    print_bill_lines(runs, out)
    print_schedule(runs[1], out)
    return runs


@park_app.command("run")
def run(
    days: Annotated[int, typer.Option("--days", min=1, max=31, help="Days to simulate.")] = 30,
    controller: Annotated[
        list[Controller] | None,
        typer.Option("--controller", "-c", help="Controller(s); default: all four."),
    ] = None,
    park: Annotated[
        Path, typer.Option("--park", help="Park folder (site.toml and profiles).")
    ] = SAMPLE_PARK,
    month: Annotated[str, typer.Option("--month", help="Simulated month YYYY-MM.")] = "2026-06",
    carbon_price: Annotated[
        float, typer.Option("--carbon-price", min=0.0, help="KRW per kgCO2 in the objective.")
    ] = 0.0,
) -> None:
    """Simulate the park month at 15-min steps and compare bill, peak and carbon."""
    names: list[ControllerName] = (
        [c.value for c in controller] if controller else ["none", "rule", "mpc", "oracle"]  # type: ignore[misc]
    )
    run_park(names, park, days=days, month=month, carbon_price=carbon_price)


@park_app.command("split")
def split(
    days: Annotated[int, typer.Option("--days", min=1, max=31, help="Days to plan.")] = 7,
    park: Annotated[
        Path, typer.Option("--park", help="Park folder (site.toml and profiles).")
    ] = SAMPLE_PARK,
    month: Annotated[str, typer.Option("--month", help="Month YYYY-MM.")] = "2026-06",
) -> None:
    """Split the MPC's bill saving (against no control) to tenants by marginal contribution.

    A member's contribution is the rise of the optimal (perfect-foresight) cost when only its
    flexibility is frozen; see :mod:`bitgaram.optimize.park`.
    """
    runs = run_park(["none", "mpc"], park, days=days, month=month)
    saving = runs[0].bill.total - runs[1].bill.total
    case = load_park_case(park, month=month, days=days)
    with console.status("solving the park with each member's flexibility frozen"):
        result = split_park_savings(case, saving)
    table = Table(title=f"MPC bill saving {saving:,.0f} KRW over {days} days, split")
    for col in ("member", "marginal contribution KRW", "share KRW", "share %"):
        table.add_column(col, justify="left" if col == "member" else "right")
    for member, share in result.share.items():
        pct = share / result.saving if result.saving else 0.0
        table.add_row(member, f"{result.contribution[member]:,.0f}", f"{share:,.0f}", f"{pct:.1%}")
    print_table(table, console)
