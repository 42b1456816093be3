"""``bitgaram forecast``: backtest the forecasters (and, with a store, run them)."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from bitgaram.cli import app
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
    with console.status("backtesting...") as status:
        reports = backtest_citylearn(
            ds,
            horizon=horizon,
            refit_every=refit_every,
            warmup_days=warmup_days,
            country=country or None,
            subdiv=subdiv or None,
            on_model=lambda name: status.update(f"backtesting {name}..."),
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
        console.print(rich_table)
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
    country: str = typer.Option("KR", help="Public-holiday country for load ('' for none)."),
) -> None:
    """Forecast every load and PV meter of the stored site and store the forecasts.

    Reads hourly history before the issue time, fits the models, and writes
    P10/P50/P90 forecasts (quantile 0.5 = point) with their issue time and
    horizon, for later comparison against actuals.
    """
    import pandas as pd

    from bitgaram.cli.store import open_cli_store
    from bitgaram.forecast.service import forecast_site, forecastable_meters
    from bitgaram.store import Resolution

    if horizon < 1 or history_days < 1:
        raise ConfigError("--horizon and --history-days must be >= 1")
    with open_cli_store(store_url) as store:
        site = store.load_site()
        groups = forecastable_meters(site)
        meters = groups["load"] + groups["pv"]
        if not meters:
            raise ConfigError(f"site {site.site.id!r} has no load or PV meters to forecast")
        if at:
            try:
                issue = pd.Timestamp(at)
            except ValueError as exc:
                raise ConfigError(f"--at: not a timestamp: {at!r}") from exc
            issue = issue.tz_localize("UTC") if issue.tzinfo is None else issue.tz_convert("UTC")
        else:
            last = store.read_readings(meters, resolution=Resolution.HOUR)
            if last.empty:
                raise ConfigError("the store has no readings of the site's load or PV meters")
            issue = pd.Timestamp(last["ts"].max()) + pd.Timedelta(hours=1)
        issue = issue.floor("h")
        start = issue - pd.Timedelta(days=history_days)
        long = store.read_readings(meters, start=start, end=issue, resolution=Resolution.HOUR)
        index = pd.date_range(start, issue, freq="h", inclusive="left")
        wide = long.pivot_table(index="ts", columns="meter_id", values="value", aggfunc="mean")
        wide.index = pd.DatetimeIndex(wide.index).tz_convert("UTC")
        history = wide.reindex(index)
        with console.status(f"forecasting {len(meters)} meters..."):
            forecasts = forecast_site(site, history, horizon, country=country or None)
        written = store.write_forecasts(forecasts)
    models = ", ".join(sorted(set(forecasts["model"]))) or "none"
    console.print(
        f"issued {issue:%Y-%m-%d %H:%M} UTC: {written} forecast rows for "
        f"{forecasts['meter_id'].nunique()} meters, {horizon} h ahead ({models})"
    )
