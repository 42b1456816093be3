"""``bitgaram init``, ``bitgaram site show`` and ``bitgaram query``: the store from the shell.

The store is ``--store`` (a DuckDB file path, ``duckdb:///path`` or a
``postgresql://`` URL), else ``$BITGARAM_DATABASE_URL``, else
``./bitgaram.duckdb``. Timestamps given without a zone are read as UTC, the
store's convention (interval starts in UTC).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from bitgaram.cli import app
from bitgaram.cli.options import SiteOption, load_cli_site
from bitgaram.cli.output import print_table
from bitgaram.config import Settings
from bitgaram.errors import ConfigError, DataError
from bitgaram.site import Site, load_site
from bitgaram.store import Resolution, Store, open_store

console = Console()

site_app = typer.Typer(
    help="The park's description (tenants, meters, assets).", no_args_is_help=True
)
app.add_typer(site_app, name="site")

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Store: DuckDB file or postgresql:// URL "
        "(default: $BITGARAM_DATABASE_URL, else ./bitgaram.duckdb).",
    ),
]

#: Rows printed as a table before the output is cut (use --csv for everything).
_MAX_TABLE_ROWS = 200


def open_cli_store(url: str | None, *, migrate: bool = True) -> Store:
    """The store named on the command line, else by the environment, else the default file."""
    return open_store(url, Settings.from_env(), migrate=migrate)


def parse_time(text: str | None, option: str) -> pd.Timestamp | None:
    """A command-line time as a UTC timestamp (naive text is read as UTC).

    Examples
    --------
    >>> parse_time("2022-08-01", "--start")
    Timestamp('2022-08-01 00:00:00+0000', tz='UTC')
    >>> parse_time("2022-08-01T09:00+09:00", "--start")
    Timestamp('2022-08-01 00:00:00+0000', tz='UTC')
    """
    if text is None:
        return None
    try:
        ts = pd.Timestamp(text)
    except ValueError as exc:
        raise DataError(f"{option} {text!r} is not a date or time (e.g. 2022-08-01)") from exc
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@app.command("init")
def init(
    site_file: Annotated[
        Path | None,
        typer.Option("--site", help="Site file (TOML) to validate and save in the store."),
    ] = None,
    store_url: StoreOption = None,
) -> None:
    """Create the store (or upgrade its schema) and optionally save a site."""
    site = load_site(site_file) if site_file is not None else None
    with open_cli_store(store_url) as store:
        console.print(f"store [bold]{store.url}[/] at schema version {store.schema_version()}")
        if site is not None:
            store.save_site(site)
            console.print(
                f"saved site [bold]{site.site.id}[/] ({site.site.name}): "
                f"{len(site.tenants)} tenants, {len(site.meters)} meters, "
                f"{len(site.assets)} assets"
            )


def _or_unset(value: Callable[[], str]) -> str:
    """A derived site default, or why it is missing."""
    try:
        return value()
    except ConfigError:
        return "(not set)"


def _site_tables(site: Site) -> list[Table]:
    info = site.site
    tenants = Table(title="tenants", title_justify="left")
    for column in ("id", "name", "sector", "meters"):
        tenants.add_column(column)
    for t in site.tenants:
        own = ", ".join(m.id for m in site.meters_of(t.id))
        tenants.add_row(t.id, t.name, t.sector or "", own)

    meters = Table(title="meters", title_justify="left")
    for column in ("id", "tenant", "kind", "unit", "resolution", "resampled by"):
        meters.add_column(column)
    for m in site.meters:
        meters.add_row(
            m.id,
            m.tenant or "(site)",
            m.kind.value,
            m.unit.value,
            m.resolution,
            "sum" if m.unit.is_energy else "mean",
        )

    assets = Table(title="assets", title_justify="left")
    for column in ("id", "type", "tenant", "parameters"):
        assets.add_column(column)
    for a in site.assets:
        params = a.model_dump(exclude={"id", "type", "tenant"}, exclude_none=True)
        text = ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
        )
        assets.add_row(a.id, a.type, a.tenant or "(site)", text)

    head = Table.grid(padding=(0, 2))
    head.add_row("site", f"[bold]{info.id}[/] {info.name}")
    head.add_row("timezone", info.timezone)
    if info.latitude is not None and info.longitude is not None:
        head.add_row("location", f"{info.latitude:.4f}, {info.longitude:.4f}")
    if info.tariff is not None:
        head.add_row(
            "tariff", info.tariff.name + (f" ({info.tariff.option})" if info.tariff.option else "")
        )
    head.add_row("country", info.country_code or "(none)")
    head.add_row("holidays", info.holiday_country or "none")
    head.add_row("currency", _or_unset(lambda: info.currency_code))
    carbon = f"meter {info.carbon.series_meter}" if info.carbon.series_meter else None
    head.add_row("carbon", carbon or _or_unset(lambda: info.grid_factor))
    return [head, tenants, meters, assets]


@site_app.command("list")
def site_list(store_url: StoreOption = None) -> None:
    """List the stored sites: id, name, timezone, tenants and meters."""
    with open_cli_store(store_url) as store:
        sites = [store.load_site(sid) for sid in store.list_sites()]
    if not sites:
        console.print("no site stored; run `bitgaram init --site FILE`")
        return
    table = Table(title=f"{len(sites)} stored site(s)", title_justify="left")
    for column in ("id", "name", "timezone", "country", "tenants", "meters"):
        table.add_column(column)
    for site in sites:
        info = site.site
        table.add_row(
            info.id,
            info.name,
            info.timezone,
            info.country_code or "",
            str(len(site.tenants)),
            str(len(site.meters)),
        )
    console.print(table)


@site_app.command("show")
def site_show(
    site_id: Annotated[
        str | None,
        typer.Option(
            "--site",
            "--site-id",
            metavar="ID",
            help="Stored site to show (default: the only stored site; `bitgaram site list`).",
        ),
    ] = None,
    site_file: Annotated[
        Path | None,
        typer.Option("--file", help="Show a site file instead of the stored site."),
    ] = None,
    store_url: StoreOption = None,
) -> None:
    """Show the park: site, tenants, meters and assets."""
    if site_file is not None:
        site = load_site(site_file)
    else:
        with open_cli_store(store_url) as store:
            site = load_cli_site(store, site_id)
    for table in _site_tables(site):
        print_table(table, console)


@app.command("query")
def query(
    meter: Annotated[
        list[str] | None, typer.Option("--meter", "-m", help="Meter id (repeatable).")
    ] = None,
    tenant: Annotated[
        list[str] | None,
        typer.Option("--tenant", "-t", help="Tenant id (repeatable): sum its meters of --kind."),
    ] = None,
    kind: Annotated[str, typer.Option("--kind", help="Meter kind summed for --tenant.")] = "load",
    park: Annotated[
        bool, typer.Option("--park", help="Sum every meter of --kind over the park.")
    ] = False,
    start: Annotated[
        str | None, typer.Option("--start", help="First interval start (UTC unless zoned).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="End of the period, exclusive (UTC unless zoned).")
    ] = None,
    resolution: Annotated[
        Resolution, typer.Option("--resolution", "-r", help="Interval of the result.")
    ] = Resolution.HOUR,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Write the result to this CSV file.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print every row as JSON (ts in ISO 8601, UTC).")
    ] = False,
    store_url: StoreOption = None,
    site_id: SiteOption = None,
) -> None:
    """Readings of meters, or totals of tenants or the park, over a period.

    kWh meters are summed into each interval, other units averaged; intervals
    are labelled by their UTC start.
    """
    chosen = sum(bool(x) for x in (meter, tenant, park))
    if chosen != 1:
        raise ConfigError("choose exactly one of --meter, --tenant or --park")
    lo, hi = parse_time(start, "--start"), parse_time(end, "--end")
    with open_cli_store(store_url) as store:
        if meter:
            result = store.read_readings(list(meter), lo, hi, resolution)
        else:
            site = load_cli_site(store, site_id)
            for tid in tenant or []:
                site.tenant(tid)  # ConfigError naming an unknown tenant
            sid = site.site.id
            if tenant:
                result = store.tenant_totals(
                    kind, lo, hi, resolution, tenant_ids=list(tenant), site_id=sid
                )
            else:
                result = store.park_totals(kind, lo, hi, resolution, site_id=sid)
    if as_json:
        rows = result.assign(ts=result["ts"].map(lambda t: pd.Timestamp(t).isoformat()))
        print(rows.to_json(orient="records", double_precision=15))
        return
    if csv is not None:
        out = result.copy()
        out["ts"] = out["ts"].map(lambda t: t.isoformat())
        out.to_csv(csv, index=False)
        console.print(f"wrote {len(result):,} rows to {csv}")
        return
    if result.empty:
        console.print("[yellow]no readings in that period[/]")
        return
    table = Table(title=f"{len(result):,} rows at {resolution.value}", title_justify="left")
    for column in result.columns:
        table.add_column(column, justify="right" if column == "value" else "left")
    for row in result.head(_MAX_TABLE_ROWS).itertuples(index=False):
        table.add_row(*(f"{v:,.3f}" if isinstance(v, float) else str(v) for v in row))
    print_table(table, console)
    if len(result) > _MAX_TABLE_ROWS:
        console.print(f"... {len(result) - _MAX_TABLE_ROWS:,} more rows (use --csv FILE)")
