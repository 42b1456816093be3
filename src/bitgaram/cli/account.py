"""``bitgaram account``: Scope 2 carbon, RE share, 24/7 CFE and RE100 progress per tenant."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from bitgaram.account.energy import account_record, data_bounds, energy_accounts, local_bound
from bitgaram.account.export import write_account_csv, write_tenant_report
from bitgaram.account.factors import GridFactor, grid_factor_for_year, load_grid_factors
from bitgaram.account.instruments import InstrumentBook, read_instruments
from bitgaram.account.ledger import Account, account, hourly_balance, park_account
from bitgaram.account.re100 import PARK_TARGETS, Target
from bitgaram.cli import app
from bitgaram.cli.output import print_table
from bitgaram.cli.verify import load_meter_data, read_tenant_map
from bitgaram.errors import ConfigError, DataError
from bitgaram.verify.inputs import MeterData

console = Console()


def _targets(path: Path | None, default_year: int) -> dict[str, int]:
    if path is None:
        return {}
    try:
        frame = pd.read_csv(path, dtype={"tenant": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ConfigError(f"{path}: cannot read targets: {exc}") from exc
    if not {"tenant", "target_year"} <= set(frame.columns):
        raise ConfigError(f"{path}: targets need columns 'tenant' and 'target_year'")
    return {str(t): int(y) for t, y in zip(frame["tenant"], frame["target_year"], strict=True)}


def build_accounts(
    data: MeterData,
    book: InstrumentBook,
    factors: dict[int, GridFactor],
    tenant_of: dict[str, str],
    target_years: dict[str, int],
    default_target_year: int,
    residual: float | None,
    park: str,
    hourly_intensity: bool,
) -> list[Account]:
    """Tenant accounts (meters grouped by tenant) followed by the park's account."""
    groups: dict[str, list[str]] = {}
    for meter in data.energy_kwh.columns:
        groups.setdefault(tenant_of.get(str(meter), str(meter)), []).append(str(meter))
    gen_cols: dict[str, list[str]] = {}
    if data.onsite_kwh is not None:
        for col in data.onsite_kwh.columns:
            gen_cols.setdefault(tenant_of.get(str(col), str(col)), []).append(str(col))
    known = set(groups)
    stray = sorted({i.tenant for i in book.instruments} - known)
    if stray:
        raise ConfigError(f"instruments name unknown tenant(s) {stray}; tenants: {sorted(known)}")
    intensity = data.carbon_intensity if hourly_intensity else None
    accounts = []
    for tenant, meters in groups.items():
        load = data.energy_kwh[meters].sum(axis=1)
        onsite = (
            data.onsite_kwh[gen_cols[tenant]].fillna(0.0).sum(axis=1)
            if data.onsite_kwh is not None and tenant in gen_cols
            else None
        )
        hourly = hourly_balance(load, onsite, book.for_tenant(tenant), intensity)
        year = target_years.get(tenant, default_target_year)
        target = Target(f"{tenant} RE100", year)
        accounts.append(account(tenant, hourly, factors, residual, targets=(target,)))
    accounts.append(park_account(park, accounts, PARK_TARGETS))
    return accounts


@app.command("account")
def account_cmd(
    citylearn: Path | None = typer.Option(None, help="CityLearn 2022 dataset folder."),
    csv: Path | None = typer.Option(
        None, help="Wide CSV: timestamp, [carbon_intensity], one load column (kWh) per meter."
    ),
    onsite: Path | None = typer.Option(
        None, help="Wide CSV of on-site renewable generation per meter [kWh] (with --csv)."
    ),
    store: str | None = typer.Option(
        None, help="Store URL or DuckDB file: meters, tenants and site series from the store."
    ),
    tenant: str | None = typer.Option(None, help="Only this tenant (with --store)."),
    site: str | None = typer.Option(
        None, metavar="ID", help="Stored site (with --store; default: the only one)."
    ),
    start: str | None = typer.Option(None, help="First day to account (default: all data)."),
    end: str | None = typer.Option(None, help="Last day to account, inclusive."),
    instruments: Path | None = typer.Option(
        None, help="REC/PPA/green-premium instruments (TOML or CSV)."
    ),
    tenants: Path | None = typer.Option(None, help="CSV meter,tenant (default: meter=tenant)."),
    targets: Path | None = typer.Option(None, help="CSV tenant,target_year."),
    target_year: int = typer.Option(2030, help="RE100 target year of tenants not in --targets."),
    grid_factor: str | None = typer.Option(
        None, help="Grid factor id for every year (default: the latest dated one per year)."
    ),
    grid_factors_file: Path | None = typer.Option(
        None, help="TOML of grid factors (default: the packaged Korean factors)."
    ),
    residual_factor: float | None = typer.Option(
        None, help="Market-based residual factor [kgCO2/kWh] (default: the grid factor)."
    ),
    hourly_intensity: bool = typer.Option(
        True, help="Also report location-based CO2 from the hourly intensity series if present."
    ),
    park: str = typer.Option("park", help="Name of the park in the reports."),
    out: Path = typer.Option(Path("account-report"), help="Folder for CSVs and HTML reports."),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="With --store: print the energy accounts of the whole period as JSON "
        "(the API's /accounts figures) instead of tables.",
    ),
) -> None:
    """Scope 2 (location/market), RE share, 24/7 CFE and RE100 progress, per tenant and park.

    With --store every figure comes from the energy accounts (docs/accounts.md),
    the same as the API's and the dashboard's.
    """
    if store is not None:
        _account_store(
            store,
            site,
            tenant,
            start,
            end,
            instruments,
            targets,
            target_year,
            residual_factor,
            park,
            out,
            as_json,
        )
        return
    if as_json:
        raise ConfigError("--json needs --store")
    first = pd.Timestamp(start) if start else None
    last = pd.Timestamp(end) + pd.Timedelta(days=1) if end else None
    data = load_meter_data(citylearn, csv, onsite, store, tenant, site, first, last)
    if store is None and (first is not None or last is not None):
        idx = pd.DatetimeIndex(data.energy_kwh.index)
        keep = (idx >= (first or idx.min())) & (idx < (last or idx.max() + pd.Timedelta(hours=1)))
        data = replace(
            data,
            energy_kwh=data.energy_kwh[keep],
            onsite_kwh=data.onsite_kwh[keep] if data.onsite_kwh is not None else None,
        )
    book = read_instruments(instruments) if instruments else InstrumentBook(())
    residual = residual_factor if residual_factor is not None else book.residual_factor_kg_per_kwh
    pool = load_grid_factors(grid_factors_file)
    years = sorted(set(pd.DatetimeIndex(data.energy_kwh.index).year))
    if not years:
        raise DataError("no data to account")
    factors = {int(y): grid_factor_for_year(int(y), pool, grid_factor) for y in years}
    accounts = build_accounts(
        data,
        book,
        factors,
        {**data.tenants, **read_tenant_map(tenants)},
        _targets(targets, target_year),
        target_year,
        residual,
        park,
        hourly_intensity,
    )
    out.mkdir(parents=True, exist_ok=True)
    write_account_csv(accounts, out)
    for acc in accounts:
        write_tenant_report(acc, out)
    _print(accounts, factors, residual)
    console.print(f"CSV and HTML reports in {out}")


def _account_store(
    url: str,
    site_id: str | None,
    tenant: str | None,
    start: str | None,
    end: str | None,
    instruments: Path | None,
    targets: Path | None,
    target_year: int,
    residual_factor: float | None,
    park: str,
    out: Path,
    as_json: bool,
) -> None:
    """``account --store``: energy accounts of the tenants and the park, then ledgers."""
    from bitgaram.store import open_store

    book = read_instruments(instruments) if instruments else InstrumentBook(())
    residual = residual_factor if residual_factor is not None else book.residual_factor_kg_per_kwh
    with open_store(url, migrate=False) as st:
        site = st.load_site(site_id)
        tz = site.site.timezone
        first, last = data_bounds(st, site)
        lo = local_bound(start, tz) if start else first
        hi = local_bound(pd.Timestamp(end) + pd.Timedelta(days=1), tz) if end else last
        accounts = energy_accounts(
            st,
            site,
            lo,
            hi,
            tenant_ids=[tenant] if tenant else None,
            park=tenant is None,
            instruments=book.instruments,
            residual_factor_kg_per_kwh=residual,
        )
    if as_json:
        print(json.dumps([account_record(a) for a in accounts.values()], indent=1))
        return
    years = _targets(targets, target_year)
    ledgers = []
    for acc in accounts.values():
        if acc.consumption_total_kwh <= 0 and acc.tenant_id is not None:
            continue
        if acc.tenant_id is None:
            goals: tuple[Target, ...] = PARK_TARGETS
        else:
            goals = (Target(f"{acc.tenant_id} RE100", years.get(acc.tenant_id, target_year)),)
        name = acc.tenant_id or park
        ledgers.append(account(name, acc.hourly, acc.grid_factors, residual, targets=goals))
    out.mkdir(parents=True, exist_ok=True)
    write_account_csv(ledgers, out)
    for led in ledgers:
        write_tenant_report(led, out)
    factors = next((a.grid_factors for a in accounts.values()), {})
    _print(ledgers, factors, residual)
    console.print(f"CSV and HTML reports in {out}")


def _print(accounts: list[Account], factors: dict[int, GridFactor], residual: float | None) -> None:
    for y, f in sorted(factors.items()):
        console.print(f"{y}: location-based factor {f.id} = {f.value_kg_per_kwh:g} kgCO2/kWh")
    console.print(
        "market-based residual factor: "
        + (f"{residual:g} kgCO2/kWh" if residual is not None else "= grid factor (default)")
    )
    table = Table(title="Annual Scope 2 and RE100")
    for col in (
        "name",
        "year",
        "hours",
        "MWh",
        "RE share",
        "24/7 CFE",
        "location tCO2",
        "market tCO2",
        "target",
        "gap MWh",
    ):
        table.add_column(col)
    for acc in accounts:
        for period, row in acc.annual.iterrows():
            year = pd.Timestamp(str(period)).year
            for p in (p for p in acc.progress if p.year == year):
                table.add_row(
                    acc.name,
                    str(year),
                    f"{int(row['hours'])}",
                    f"{row['consumption_kwh'] / 1000:,.1f}",
                    f"{row['re_share']:.1%}",
                    f"{row['cfe_score']:.1%}",
                    f"{row['location_kgco2'] / 1000:,.2f}",
                    f"{row['market_kgco2'] / 1000:,.2f}",
                    f"{p.target.year}",
                    f"{p.gap_kwh / 1000:,.1f}",
                )
    print_table(table, console)
