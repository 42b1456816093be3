"""``bitgaram bill``: monthly electricity bills per tenant and for the park."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from bitgaram.cli import app
from bitgaram.cli.options import SiteOption
from bitgaram.cli.output import print_table
from bitgaram.errors import ConfigError, DataError
from bitgaram.site import choose_site_id
from bitgaram.tariff import (
    BillingTariff,
    MonthlyBill,
    ParkBill,
    TouTariff,
    bill_park,
    list_tariffs,
    load_tariff,
)

if TYPE_CHECKING:
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
    site_id: str | None = None,
) -> ParkBill:
    """Bill every tenant and the park: the bills of their energy accounts (grid import).

    Parameters
    ----------
    site_id : str, optional
        Which stored site (default: the only one; see :func:`bitgaram.site.choose_site_id`).
    store : Store
        An open store holding a site and its readings.
    kind : str, optional
        Ignored (kept for compatibility): bills are always on the grid import of the
        energy accounts (``docs/accounts.md``).
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
    from bitgaram.account.energy import (
        data_bounds,
        energy_accounts,
        local_bound,
        price_meter_tariff,
    )

    site = store.load_site(choose_site_id(store.list_sites(), site_id, where=store.url))
    if kind is not None and kind != "grid_import":
        console.print(
            f"note: --kind {kind} is ignored: bills are on grid import (docs/accounts.md)"
        )
    tz = site.site.timezone
    first, last = data_bounds(store, site)
    lo = local_bound(start, tz) if start is not None else first
    hi = local_bound(end, tz) if end is not None else last
    override: BillingTariff | None = None
    if price_meter is not None:
        override = price_meter_tariff(store, site, price_meter)
    elif tariff is not None or option is not None or demand_all_hours:
        ref = site.site.tariff
        name = tariff or (ref.name if ref else None) or DEFAULT_TARIFF
        override = _variant(
            load_tariff(name, option or (ref.option if ref else None)), demand_all_hours
        )
    elif site.site.tariff is None and not any(str(m.kind) == "price" for m in site.meters):
        override = load_tariff(DEFAULT_TARIFF, None)
    site_contract = site.site.tariff.contract_kw if site.site.tariff else None
    accounts = energy_accounts(
        store,
        site,
        lo,
        hi,
        tariff=override,
        contract_kw=contract_kw or site_contract,
    )
    tenants = tuple(b for t in site.tenants if t.id in accounts for b in accounts[t.id].bills)
    park = accounts[None].bills
    if not park:
        raise DataError("store has no readings to bill in the period asked")
    return ParkBill(tenants=tenants, park=park)


def _bill_record(b: MonthlyBill) -> dict[str, object]:
    demand = sum(ln.amount for ln in b.lines if ln.code.startswith("demand"))
    return {
        "meter": b.meter,
        "month": str(b.month),
        "tariff": b.tariff,
        "currency": b.currency,
        "energy_kwh": b.energy_kwh,
        "max_demand_kw": b.max_demand_kw,
        "billing_demand_kw": b.billing_demand_kw,
        "bill_demand": demand,
        "bill_energy": sum(ln.amount for ln in b.lines) - demand,
        "total": b.total,
    }


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
    site_id: SiteOption = None,
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
    as_json: bool = typer.Option(
        False, "--json", help="Print the bills as JSON (one object per bill) instead of tables."
    ),
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
                site_id=site_id,
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
    if as_json:
        print(json.dumps([_bill_record(b) for b in bills], indent=1))
        return
    print_table(_summary_table(bills, currency), console)
    if detail:
        for b in bills:
            print_table(_detail_table(b), console)
    if output is not None:
        from bitgaram.tariff import bills_to_frame

        bills_to_frame(bills).to_csv(output, index=False)
        console.print(f"wrote {output}")
