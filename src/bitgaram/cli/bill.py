"""``bitgaram bill``: monthly electricity bills per tenant and for the park."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from bitgaram.cli import app
from bitgaram.cli.output import print_table
from bitgaram.errors import ConfigError, DataError
from bitgaram.tariff import (
    BillingTariff,
    MonthlyBill,
    ParkBill,
    PriceSeriesTariff,
    TouTariff,
    bill_park,
    compute_bills,
    list_tariffs,
    load_tariff,
)
from bitgaram.tariff.demand import reading_step

if TYPE_CHECKING:
    from bitgaram.site import Site
    from bitgaram.store import Store

console = Console()

#: Accepted column names of a readings CSV, mapped to the canonical ones.
_COLUMN_ALIASES = {
    "meter": "meter",
    "tenant": "meter",
    "meter_id": "meter",
    "timestamp": "timestamp",
    "time": "timestamp",
    "kwh": "kwh",
    "energy_kwh": "kwh",
}


def read_readings_csv(path: Path) -> pd.DataFrame:
    """Read a readings CSV into columns ``meter``, ``timestamp``, ``kwh``.

    The file needs a meter (or ``tenant``) column, a ``timestamp`` column (interval start,
    ISO 8601, naive local time or with an offset) and a ``kwh`` (or ``energy_kwh``) column
    [kWh per interval].
    """
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError as exc:
        raise DataError(f"readings file {path} not found") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"readings file {path}: cannot parse CSV: {exc}") from exc
    frame = frame.rename(
        columns={c: _COLUMN_ALIASES.get(str(c).strip().lower(), str(c)) for c in frame.columns}
    )
    missing = {"meter", "timestamp", "kwh"} - set(frame.columns)
    if missing:
        raise DataError(
            f"readings file {path}: missing columns {sorted(missing)}; "
            "need meter (or tenant), timestamp, kwh"
        )
    try:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    except (ValueError, TypeError) as exc:
        raise DataError(f"readings file {path}: column timestamp: {exc}") from exc
    kwh = pd.to_numeric(frame["kwh"], errors="coerce")
    if kwh.isna().any():
        row = int(kwh.isna().to_numpy().argmax())
        raise DataError(f"readings file {path}: row {row + 2}: kwh is not a number")
    frame["kwh"] = kwh.astype(float)
    frame["meter"] = frame["meter"].astype(str)
    return frame[["meter", "timestamp", "kwh"]]


def _timestamp(text: str | None, flag: str) -> pd.Timestamp | None:
    if text is None:
        return None
    try:
        return pd.Timestamp(text)
    except ValueError as exc:
        raise ConfigError(f"{flag} {text!r}: expected an ISO date or timestamp") from exc


def _parse_contracts(items: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name] = float(value)
        except ValueError as exc:
            raise ConfigError(f"--tenant-contract {item!r}: expected NAME=KW") from exc
    return out


#: Tariff used when neither the command line nor the site names one.
DEFAULT_TARIFF = "kepco-industrial-eul-high-a"


def _variant(tariff: TouTariff, demand_all_hours: bool) -> TouTariff:
    """``tariff``, reading demand in every hour if asked."""
    if not demand_all_hours:
        return tariff
    rules = replace(tariff.demand_rules, excluded_periods=())
    return replace(tariff, demand_rules=rules)


def _price_tariff(store: Store, site: Site, meter_id: str) -> PriceSeriesTariff:
    """The price series of a stored ``price`` meter as a tariff (UTC clock)."""
    known = [m.id for m in site.meters if str(m.kind) == "price"]
    if meter_id not in {m.id for m in site.meters}:
        raise ConfigError(
            f"site {site.site.id!r} has no meter {meter_id!r}; price meters: "
            + (", ".join(known) or "none")
        )
    meter = site.meter(meter_id)
    unit = str(meter.unit)
    if str(meter.kind) != "price" or not unit.endswith("/kWh"):
        raise ConfigError(f"meter {meter_id!r} is a {meter.kind} meter in {unit}, not a price")
    frame = store.read_readings([meter_id])
    if frame.empty:
        raise DataError(f"price meter {meter_id!r} has no readings")
    index = pd.DatetimeIndex(frame["ts"]).tz_convert("UTC").tz_localize(None)
    series = pd.Series(frame["value"].to_numpy(dtype=float), index=index).sort_index()
    return PriceSeriesTariff(
        name=meter_id, currency=unit.removesuffix("/kWh"), prices=series, timezone="UTC"
    )


def _energy_kwh(frame: pd.DataFrame, unit: str, what: str) -> pd.Series:
    """A store totals frame (ts, value) as energy per interval [kWh] indexed by ts."""
    series = pd.Series(
        frame["value"].to_numpy(dtype=float), index=pd.DatetimeIndex(frame["ts"])
    ).sort_index()
    if unit == "kWh":
        return series
    if unit == "kW":
        hours = reading_step(pd.DatetimeIndex(series.index), what) / pd.Timedelta(hours=1)
        return series * hours
    raise DataError(f"{what}: meters in {unit} cannot be billed (need kWh or kW)")


def bills_from_store(
    store: Store,
    *,
    kind: str | None = None,
    tariff: str | None = None,
    option: str | None = None,
    contract_kw: float | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    allow_hourly_demand: bool = False,
    demand_all_hours: bool = False,
    price_meter: str | None = None,
) -> ParkBill:
    """Bill every tenant and the park from a store's per-tenant and park totals.

    Parameters
    ----------
    store : Store
        An open store holding a site and its readings.
    kind : str, optional
        Meter kind billed; default ``grid_import`` if the site has such meters, else ``load``.
    tariff, option : str, optional
        Override the tariff of the site and of every tenant.
    contract_kw : float, optional
        Park contract power [kW]; default the site tariff's ``contract_kw``.
    start, end : pandas.Timestamp, optional
        Readings in ``[start, end)``.
    allow_hourly_demand : bool
        Accept hourly readings (approximate demand).
    demand_all_hours : bool
        Read the maximum demand in every period (no light-load exclusion).
    price_meter : str, optional
        Bill everyone on the price series of this stored ``price`` meter (e.g. the CityLearn
        pricing, USD/kWh) instead of a tariff file; months are then UTC months.

    Returns
    -------
    ParkBill
        Tenants from :meth:`Store.tenant_totals`, the park from :meth:`Store.park_totals`
        (which also counts site-level meters of the kind).
    """
    from bitgaram.store.base import Resolution

    site = store.load_site()
    if kind is None:
        kinds = {str(m.kind) for m in site.meters}
        kind = "grid_import" if "grid_import" in kinds else "load"
    meters = [m for m in site.meters if str(m.kind) == kind]
    if not meters:
        raise DataError(f"site {site.site.id!r} has no meters of kind {kind!r}")
    unit = str(meters[0].unit)
    site_ref = site.site.tariff
    # Naive bounds are local time of the site; the store keeps UTC.
    start, end = (
        t.tz_localize(site.site.timezone) if t is not None and t.tz is None else t
        for t in (start, end)
    )

    prices = _price_tariff(store, site, price_meter) if price_meter is not None else None

    def resolve(ref_name: str | None, ref_option: str | None) -> BillingTariff:
        if prices is not None:
            return prices
        name = tariff or ref_name or DEFAULT_TARIFF
        return _variant(load_tariff(name, option or ref_option), demand_all_hours)

    tenants: list[MonthlyBill] = []
    totals = store.tenant_totals(kind, start, end, Resolution.MIN15)
    for tenant in site.tenants:
        rows = totals[totals["tenant_id"] == tenant.id]
        if rows.empty:
            continue
        ref = tenant.tariff or site_ref
        t = resolve(ref.name if ref else None, ref.option if ref else None)
        tenants.extend(
            compute_bills(
                t,
                _energy_kwh(rows, unit, tenant.id),
                contract_kw=tenant.tariff.contract_kw if tenant.tariff else None,
                meter=tenant.id,
                allow_hourly_demand=allow_hourly_demand,
            )
        )
    park_rows = store.park_totals(kind, start, end, Resolution.MIN15)
    if park_rows.empty:
        raise DataError(f"store has no readings of kind {kind!r} in the period asked")
    park_tariff = resolve(
        site_ref.name if site_ref else None, site_ref.option if site_ref else None
    )
    park = compute_bills(
        park_tariff,
        _energy_kwh(park_rows, unit, site.site.id),
        contract_kw=contract_kw or (site_ref.contract_kw if site_ref else None),
        meter=site.site.id,
        allow_hourly_demand=allow_hourly_demand,
    )
    return ParkBill(tenants=tuple(tenants), park=park)


def _money(amount: float, currency: str) -> str:
    """An amount with the currency's usual decimals (none for KRW)."""
    return f"{amount:,.0f}" if currency == "KRW" else f"{amount:,.2f}"


def _summary_table(bills: list[MonthlyBill], currency: str) -> Table:
    title = f"Monthly bills [{currency}]; bill kW basis: c current, r ratchet, f floor"
    table = Table(title=title)
    for col in ("meter", "month", "kWh", "max kW", "bill kW", "demand", "energy", "total"):
        table.add_column(col, justify="left" if col in ("meter", "month") else "right")
    for b in bills:
        demand = sum(ln.amount for ln in b.lines if ln.code.startswith("demand"))
        energy = sum(ln.amount for ln in b.lines if ln.code.startswith(("energy_", "discount_")))
        table.add_row(
            b.meter,
            str(b.month),
            f"{b.energy_kwh:,.0f}",
            f"{b.max_demand_kw:,.1f}",
            f"{b.billing_demand_kw:,.1f} {b.billing_demand_basis[0]}",
            _money(demand, b.currency),
            _money(energy, b.currency),
            f"[bold]{_money(b.total, b.currency)}[/]",
        )
    return table


def _detail_table(b: MonthlyBill) -> Table:
    table = Table(title=f"{b.meter} {b.month} ({b.tariff} option {b.option})")
    for col in ("line", "quantity", "rate", f"amount [{b.currency}]"):
        table.add_column(col, justify="left" if col == "line" else "right")
    for ln in b.lines:
        quantity = f"{ln.quantity:,.1f} {ln.unit}"
        table.add_row(ln.label, quantity, f"{ln.rate:,.4g}", _money(ln.amount, b.currency))
    for label, amount in (
        ("전기요금계 subtotal", b.subtotal),
        ("전력기반기금 fund", b.fund),
        ("부가가치세 VAT", b.vat),
        ("청구금액 total", b.total),
    ):
        table.add_row(label, "", "", _money(amount, b.currency))
    return table


@app.command("bill")
def bill(
    readings: Path | None = typer.Argument(
        None, help="CSV of readings with columns meter (or tenant), timestamp, kwh."
    ),
    store_url: str | None = typer.Option(
        None,
        "--store",
        help="Bill from this store (file or URL) instead of a CSV: per-tenant and park totals.",
    ),
    price_meter: str | None = typer.Option(
        None,
        "--price-meter",
        help="With --store: bill on this stored price meter's series instead of a tariff file.",
    ),
    kind: str | None = typer.Option(
        None, "--kind", help="Meter kind billed from the store (default grid_import, else load)."
    ),
    start: str | None = typer.Option(None, "--start", help="Store readings from (ISO date)."),
    end: str | None = typer.Option(None, "--end", help="Store readings before (ISO date)."),
    tariff: str | None = typer.Option(
        None,
        "--tariff",
        help=f"Tariff name or TOML path (default: the site's, else {DEFAULT_TARIFF}).",
    ),
    option: str | None = typer.Option(None, "--option", help="Tariff option (I, II, III)."),
    contract_kw: float | None = typer.Option(
        None, "--contract-kw", help="Contract power of the park connection [kW]."
    ),
    tenant_contract: list[str] = typer.Option(
        [], "--tenant-contract", help="Contract power of a tenant, NAME=KW (repeatable)."
    ),
    month: str | None = typer.Option(None, "--month", help="Show only this month (YYYY-MM)."),
    allow_hourly_demand: bool = typer.Option(
        False,
        "--allow-hourly-demand",
        help="Accept readings coarser than 15 min; demand is then the hourly average "
        "(under-estimates the 15-min peak).",
    ),
    demand_all_hours: bool = typer.Option(
        False,
        "--demand-all-hours",
        help="Read the maximum demand in every hour (the tariff file excludes light load).",
    ),
    detail: bool = typer.Option(False, "--detail", help="Print every bill line by line."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write every line of every bill to this CSV."
    ),
    show_tariffs: bool = typer.Option(False, "--list-tariffs", help="List shipped tariffs."),
) -> None:
    """Monthly bills per tenant and for the park, line by line like a KEPCO bill."""
    if show_tariffs:
        for name, spec in list_tariffs().items():
            dates = ", ".join(str(v.effective) for v in spec.versions)
            console.print(
                f"{name}: {spec.title} [{spec.currency}] options {', '.join(spec.options)}; "
                f"versions from {dates}"
            )
        return
    if readings is not None and store_url is not None:
        raise ConfigError("give either a readings CSV or --store, not both")
    currency = "KRW"
    if store_url is not None:
        from bitgaram.store import open_store

        with open_store(store_url, migrate=False) as store:
            result = bills_from_store(
                store,
                demand_all_hours=demand_all_hours,
                price_meter=price_meter,
                kind=kind,
                tariff=tariff,
                option=option,
                contract_kw=contract_kw,
                start=_timestamp(start, "--start"),
                end=_timestamp(end, "--end"),
                allow_hourly_demand=allow_hourly_demand,
            )
        if tenant_contract:
            console.print("note: --tenant-contract is ignored with --store (the site file sets it)")
    elif readings is not None:
        tariff_option = _variant(load_tariff(tariff or DEFAULT_TARIFF, option), demand_all_hours)
        currency = tariff_option.currency
        result = bill_park(
            tariff_option,
            read_readings_csv(readings),
            contract_kw=contract_kw,
            tenant_contract_kw=_parse_contracts(tenant_contract),
            allow_hourly_demand=allow_hourly_demand,
        )
    else:
        raise ConfigError("give a readings CSV or --store (or --list-tariffs)")
    bills = [*result.tenants, *result.park]
    if month is not None:
        try:
            wanted = pd.Period(month, "M")
        except ValueError as exc:
            raise ConfigError(f"--month {month!r}: expected YYYY-MM") from exc
        bills = [b for b in bills if b.month == wanted]
        if not bills:
            raise DataError(f"no readings in month {month}")
    if bills:
        currency = bills[0].currency
    print_table(_summary_table(bills, currency), console)
    if detail:
        for b in bills:
            print_table(_detail_table(b), console)
    if output is not None:
        from bitgaram.tariff import bills_to_frame

        bills_to_frame(bills).to_csv(output, index=False)
        console.print(f"wrote {output}")
