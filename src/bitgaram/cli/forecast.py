"""``bitgaram forecast``: backtest the forecasters (and, with a store, run them)."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from bitgaram.cli import app
from bitgaram.cli.demo import DemoContext, demo_step
from bitgaram.cli.options import SiteOption, resolve_site_id
from bitgaram.cli.output import print_table, stage_progress
from bitgaram.errors import ConfigError

forecast_app = typer.Typer(help="Load, PV and wind forecasting.", no_args_is_help=True)
app.add_typer(forecast_app, name="forecast")
console = Console()


@forecast_app.command("backtest")
def backtest(
    citylearn: Path = typer.Option(..., "--citylearn", help="CityLearn dataset folder."),
    out: Path = typer.Option(Path("forecast_backtest"), "--out", help="Report folder."),
    horizon: int = typer.Option(24, help="Steps per forecast."),
    refit_every: int = typer.Option(24 * 14, help="Steps between refits (336 = two weeks)."),
    warmup_days: int = typer.Option(28, help="Days of history before the first origin."),
    country: str = typer.Option("KR", help="Public-holiday country (ISO code, '' for none)."),
    subdiv: str = typer.Option("", help="Holiday subdivision (state/province), optional."),
) -> None:
    """Rolling-origin backtest of load and PV models against naive baselines.

    Writes ``scores.csv`` (every model, building and horizon), ``report.md``
    (pooled MAE and skill tables) and one PNG per target of forecast vs actual
    over one week.
    """
    from bitgaram.datasets.citylearn import read_citylearn
    from bitgaram.forecast.backtest import POOLED, markdown_table, plot_week
    from bitgaram.forecast.citylearn import backtest_citylearn

    if horizon < 1 or refit_every < 1:
        raise ConfigError("--horizon and --refit-every must be >= 1")
    ds = read_citylearn(citylearn)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with stage_progress(console, "backtest") as started:
        reports = backtest_citylearn(
            ds,
            horizon=horizon,
            refit_every=refit_every,
            warmup_days=warmup_days,
            country=country or None,
            subdiv=subdiv or None,
            on_model=started,
        )
    elapsed = time.perf_counter() - start
    lines = [f"# Forecast backtest: {ds.path}", ""]
    lines.append(
        f"{ds.n_steps} steps, horizon {horizon}, refit every {refit_every} steps, "
        f"{warmup_days} warm-up days; total {elapsed:.1f} s."
    )
    frames = []
    for target, report in reports.items():
        frames.append(report.scores.assign(target=target))
        table = report.skill_table(POOLED)
        lines += ["", f"## {target} (pooled over buildings; skill vs {report.reference})", ""]
        lines.append(markdown_table(report.scores, POOLED))
        rich_table = Table(title=f"{target}: MAE / skill vs {report.reference}")
        rich_table.add_column("model")
        horizons = sorted({int(h) for h in report.scores["horizon"]})
        for h in horizons:
            rich_table.add_column(f"{h} step(s)")
        for model, row in table.iterrows():
            rich_table.add_row(
                str(model),
                *[f"{row[('mae', h)]:.3f} / {row[('skill', h)]:+.2f}" for h in horizons],
            )
        print_table(rich_table, console)
        models = [m for m in report.runs if m.startswith("bitgaram")] + [report.reference]
        series = report.runs[models[0]].result.series[0]
        png = out / f"{target}_week.png"
        plot_week(
            report,
            ds.index,
            series,
            models,
            min(24, horizon),
            str(png),
            title=f"{target}, {series}: {min(24, horizon)} steps ahead",
        )
        lines += ["", f"![{target}]({png.name})"]
    import pandas as pd

    pd.concat(frames, ignore_index=True).to_csv(out / "scores.csv", index=False)
    (out / "report.md").write_text("\n".join(lines) + "\n")
    console.print(f"wrote {out / 'report.md'}, {out / 'scores.csv'} and PNGs ({elapsed:.1f} s)")


@forecast_app.command("run")
def run(
    store_url: str | None = typer.Option(
        None,
        "--store",
        help="Store: DuckDB file or postgresql:// URL "
        "(default: $BITGARAM_DATABASE_URL, else ./bitgaram.duckdb).",
    ),
    horizon: int = typer.Option(48, help="Hours ahead."),
    history_days: int = typer.Option(120, help="Days of history read for fitting."),
    at: str = typer.Option(
        "", help="Issue time (UTC, e.g. 2024-06-01T00:00); default: after the last reading."
    ),
    country: str = typer.Option(
        "site",
        help="Public-holiday country for load: 'site' for the site file's own, an ISO code, "
        "or 'none'.",
    ),
    site_id: SiteOption = None,
) -> None:
    """Forecast every load and PV meter of a stored site and store the forecasts.

    Reads hourly history before the issue time, fits the models, and writes
    P10/P50/P90 forecasts (quantile 0.5 = point) with their issue time and
    horizon, for later comparison against actuals.
    """
    import pandas as pd

    from bitgaram.cli.store import open_cli_store
    from bitgaram.forecast.service import forecast_store

    issue = None
    if at:
        try:
            issue = pd.Timestamp(at)
        except ValueError as exc:
            raise ConfigError(f"--at: not a timestamp: {at!r}") from exc
    holidays = None if country.lower() in ("", "none") else country
    with open_cli_store(store_url) as store, console.status("forecasting..."):
        sid = resolve_site_id(store, site_id)
        done = forecast_store(store, horizon, history_days, issue, holidays, site_id=sid)
    issue, forecasts, written = done.issued_at, done.forecasts, done.written
    models = ", ".join(sorted(set(forecasts["model"]))) or "none"
    console.print(
        f"issued {issue:%Y-%m-%d %H:%M} UTC: {written} forecast rows for "
        f"{forecasts['meter_id'].nunique()} meters, {horizon} h ahead ({models})"
    )


@demo_step("forecast load and PV", order=30)
def _demo_forecast(ctx: DemoContext) -> None:
    """Forecast the last two days of the sample park as if issued then, and score it."""
    import numpy as np
    import pandas as pd

    from bitgaram.forecast.service import forecast_store, forecastable_meters
    from bitgaram.store import Resolution

    store, site = ctx.require_store(), ctx.require_site()
    groups = forecastable_meters(site)
    daily = store.read_readings(groups["load"] + groups["pv"], resolution=Resolution.DAY)
    horizon = 48
    # Issued two days before the data ends, so every forecast hour has a measured actual.
    issue = pd.Timestamp(daily["ts"].max()) + pd.Timedelta(days=1) - pd.Timedelta(hours=horizon)
    done = forecast_store(store, horizon, history_days=120, issued_at=issue, site_id=site.site.id)
    point = done.forecasts[done.forecasts["quantile"] == 0.5]
    actual = store.read_readings(
        sorted(point["meter_id"].unique()),
        start=issue,
        end=issue + pd.Timedelta(hours=horizon),
        resolution=Resolution.HOUR,
    )
    both = point.merge(actual, on=["meter_id", "ts"], suffixes=("_fc", "_actual"))
    table = Table(title=f"forecast issued {issue:%Y-%m-%d %H:%M} UTC, {horizon} h ahead")
    for column in ("meters", "kind", "MAE (kWh/h)", "mean actual (kWh/h)"):
        table.add_column(column, justify="right" if column != "kind" else "left")
    for kind in ("load", "pv"):
        part = both[both["meter_id"].isin(groups[kind])]
        if part.empty:
            continue
        err = np.abs(part["value_fc"].to_numpy() - part["value_actual"].to_numpy())
        table.add_row(
            str(part["meter_id"].nunique()),
            kind,
            f"{err.mean():.3f}",
            f"{part['value_actual'].mean():.3f}",
        )
    print_table(table, ctx.console)
    ctx.console.print(f"{done.written} forecast rows stored (P10/P50/P90) for the dashboard")
