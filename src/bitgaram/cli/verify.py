"""``bitgaram verify``: verified savings (ASHRAE Guideline 14) and anomalies per meter."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bitgaram.cli import app
from bitgaram.cli.output import print_table
from bitgaram.errors import ConfigError, DataError
from bitgaram.verify.anomalies import anomalies_frame
from bitgaram.verify.inputs import (
    MeterData,
    from_citylearn,
    from_csv,
    from_store,
    read_wide_csv,
)
from bitgaram.verify.pipeline import (
    MeterResult,
    Period,
    Verification,
    savings_by_tenant,
    verify_meter,
)
from bitgaram.verify.report import write_verification_report

console = Console()


def load_meter_data(
    citylearn: Path | None,
    csv: Path | None,
    onsite: Path | None = None,
    store: str | None = None,
    tenant: str | None = None,
    site: str | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> MeterData:
    """Meter data from exactly one of a CityLearn folder, a wide CSV or the store."""
    given = [x for x in (citylearn, csv, store) if x is not None]
    if len(given) != 1:
        raise ConfigError("give exactly one input: --citylearn DIR, --csv FILE or --store PATH")
    if tenant is not None and store is None:
        raise ConfigError("--tenant selects a tenant of the store; use it with --store")
    if citylearn is not None:
        return from_citylearn(citylearn)
    if csv is not None:
        return from_csv(csv, onsite=onsite)
    assert store is not None
    return from_store(store, start, end, tenant, site)


def read_tenant_map(path: Path | None) -> dict[str, str]:
    """Meter -> tenant from a CSV with columns ``meter,tenant`` (empty if no file)."""
    if path is None:
        return {}
    try:
        frame = pd.read_csv(path, dtype=str)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ConfigError(f"{path}: cannot read tenant map: {exc}") from exc
    if not {"meter", "tenant"} <= set(frame.columns):
        raise ConfigError(f"{path}: tenant map needs columns 'meter' and 'tenant'")
    return dict(zip(frame["meter"], frame["tenant"], strict=True))


def _pick(data: MeterData, meters: str | None) -> list[str]:
    cols = [str(c) for c in data.energy_kwh.columns]
    if not meters:
        return cols
    wanted = [m.strip() for m in meters.split(",") if m.strip()]
    unknown = [m for m in wanted if m not in cols]
    if unknown:
        raise ConfigError(f"unknown meter(s) {unknown}; available: {cols}")
    return wanted


def results_tables(result: Verification) -> dict[str, pd.DataFrame]:
    """Savings, metrics and anomaly tables of a verification, for CSV export."""
    savings_rows = []
    metric_rows = []
    for r in result.meters:
        for fit in r.selection.tried:
            m = fit.metrics
            metric_rows.append(
                {
                    "meter": r.meter,
                    "model": fit.model.describe(),
                    "interval": str(fit.model.interval),
                    "used": fit is r.selection.chosen,
                    "n": m.n,
                    "p": m.p,
                    "cv_rmse": m.cv_rmse,
                    "nmbe": m.nmbe,
                    "r2": m.r2,
                    "rho": m.rho,
                    "accepted": fit.accepted,
                    "verdict": fit.acceptance.summary(),
                    "monthly_cv_rmse": fit.monthly_metrics.cv_rmse if fit.monthly_metrics else None,
                    "monthly_nmbe": fit.monthly_metrics.nmbe if fit.monthly_metrics else None,
                }
            )
        s = r.savings
        savings_rows.append(
            {
                "meter": r.meter,
                "tenant": r.tenant,
                "baseline_accepted": r.selection.chosen.accepted,
                "baseline_kwh": s.baseline_kwh if s else float("nan"),
                "reporting_kwh": s.reporting_kwh if s else float("nan"),
                "avoided_kwh": s.avoided_kwh if s else float("nan"),
                "uncertainty_kwh": s.uncertainty_kwh if s else float("nan"),
                "confidence": s.confidence if s else float("nan"),
            }
        )
    for name, s in result.tenants.items():
        savings_rows.append(
            {
                "meter": "",
                "tenant": name,
                "baseline_accepted": s.baseline_accepted,
                "baseline_kwh": s.baseline_kwh,
                "reporting_kwh": s.reporting_kwh,
                "avoided_kwh": s.avoided_kwh,
                "uncertainty_kwh": s.uncertainty_kwh,
                "confidence": s.confidence,
            }
        )
    anomalies = sorted(
        (a for r in result.meters for a in r.anomalies), key=lambda a: a.cost, reverse=True
    )
    return {
        "savings": pd.DataFrame(savings_rows),
        "baselines": pd.DataFrame(metric_rows),
        "anomalies": anomalies_frame(anomalies),
    }


@app.command("verify")
def verify(
    baseline_start: str = typer.Option(..., help="First day of the baseline period."),
    baseline_end: str = typer.Option(..., help="Last day of the baseline period (inclusive)."),
    reporting_start: str = typer.Option(..., help="First day of the reporting period."),
    reporting_end: str = typer.Option(..., help="Last day of the reporting period (inclusive)."),
    citylearn: Path | None = typer.Option(None, help="CityLearn 2022 dataset folder."),
    csv: Path | None = typer.Option(
        None, help="Wide CSV: timestamp, temperature_c, [price], one kWh column per meter."
    ),
    store: str | None = typer.Option(
        None, help="Store URL or DuckDB file: meters, tenants and site series from the store."
    ),
    tenant: str | None = typer.Option(None, help="Only this tenant's meters (with --store)."),
    site: str | None = typer.Option(
        None, metavar="ID", help="Stored site (with --store; default: the only one)."
    ),
    production: Path | None = typer.Option(
        None, help="Wide CSV of production volume per meter (optional driver)."
    ),
    meters: str | None = typer.Option(None, help="Comma-separated meters (default: all)."),
    tenants: Path | None = typer.Option(None, help="CSV meter,tenant (default: meter=tenant)."),
    interval: str = typer.Option("auto", help="Baseline interval: auto, hourly or daily."),
    confidence: float = typer.Option(0.90, help="Confidence level of the savings interval."),
    price: float | None = typer.Option(
        None, help="Flat price [currency/kWh] for anomaly costs (default: the data's price)."
    ),
    currency: str | None = typer.Option(
        None, help="Currency label of prices (default: USD for CityLearn data, else KRW)."
    ),
    out: Path = typer.Option(Path("verify-report"), help="Folder for report.html and CSVs."),
) -> None:
    """Verify savings against ASHRAE Guideline 14 baselines and rank anomalies by cost."""
    base = Period.parse(baseline_start, baseline_end)
    rep = Period.parse(reporting_start, reporting_end)
    first, last = min(base.start, rep.start), max(base.end, rep.end)
    data = load_meter_data(citylearn, csv, None, store, tenant, site, first, last)
    if data.temperature_c is None:
        raise DataError(
            "no outdoor temperature: add a 'temperature_c' column to the CSV, "
            "or a 'weather' meter in degC to the site"
        )
    if interval not in ("auto", "hourly", "daily"):
        raise ConfigError(f"--interval must be auto, hourly or daily, got {interval!r}")
    price_in: pd.Series | float
    if price is not None:
        price_in = price
    elif data.price is not None:
        price_in = data.price
    else:
        raise ConfigError("no price in the data: give a flat rate with --price")
    tenant_map = {**data.tenants, **read_tenant_map(tenants)}
    prod = read_wide_csv(production) if production else None
    names = _pick(data, meters)
    results: list[MeterResult] = []
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("verifying meters", total=len(names))
        for name in names:
            results.append(
                verify_meter(
                    data.energy_kwh[name],
                    data.temperature_c,
                    base,
                    rep,
                    price_in,
                    name,
                    tenant_map.get(name, name),
                    prod[name] if prod is not None and name in prod else None,
                    None if interval == "auto" else interval,
                    data.holidays,
                    confidence,
                )
            )
            bar.advance(task)
    verification = Verification(tuple(results), savings_by_tenant(results))
    _print(verification)
    out.mkdir(parents=True, exist_ok=True)
    for name, table in results_tables(verification).items():
        table.to_csv(out / f"{name}.csv", index=False, float_format="%.10g")
    label = currency or ("USD" if citylearn is not None else "KRW")
    page = write_verification_report(results, verification.tenants, out, currency=label)
    console.print(f"report: {page}")


def _print(v: Verification) -> None:
    table = Table(title="Savings (ASHRAE Guideline 14 baselines)")
    columns = (
        "meter", "baseline model", "CV(RMSE)", "NMBE", "held-out CV(RMSE) / NMBE", "G14",
        "avoided kWh", "+/- kWh",
    )  # fmt: skip
    for col in columns:
        table.add_column(col)
    for r in v.meters:
        fit = r.selection.chosen
        s = r.savings
        table.add_row(
            r.meter,
            f"{fit.model.interval}, p={fit.model.n_parameters}",
            f"{fit.metrics.cv_rmse:.1%}",
            f"{fit.metrics.nmbe:+.2%}",
            f"{r.held_out.cv_rmse:.1%} / {r.held_out.nmbe:+.2%}" if r.held_out else "-",
            "pass" if fit.accepted else "[red]FAIL[/]",
            (f"{s.avoided_kwh:,.0f}" + (" [yellow](extrapolated)[/]" if r.extrapolated else ""))
            if s
            else "not computed",
            f"{s.uncertainty_kwh:,.0f} ({s.confidence:.0%})" if s else "",
        )
    print_table(table, console)
    for r in v.meters:
        if not r.selection.chosen.accepted:
            console.print(f"[red]{r.meter}[/]: {r.selection.chosen.acceptance.summary()}")
        for note in r.warnings:
            console.print(f"[yellow]{r.meter}[/]: {note}", soft_wrap=True)
    if v.meters:
        covered = "; ".join(c.describe() for c in v.meters[0].periods)
        console.print(f"periods covered: {covered}", soft_wrap=True)
    n = sum(len(r.anomalies) for r in v.meters)
    console.print(f"{n} anomalies found (see anomalies.csv, ranked by cost)")
