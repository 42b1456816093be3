"""``bitgaram peak``: each metering point's running 15-minute demand; the alert timeline."""

from __future__ import annotations

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from bitgaram.cli import app
from bitgaram.cli.options import SiteOption, load_cli_site
from bitgaram.cli.output import print_table
from bitgaram.control.journal import StoreJournal
from bitgaram.peak import PeakWatch
from bitgaram.peak.watch import metered_by
from bitgaram.store import open_store
from bitgaram.tariff import TouTariff, load_tariff

peak_app = typer.Typer(help="Peak watch: 15-minute demand and alerts.", no_args_is_help=True)
app.add_typer(peak_app, name="peak")
console = Console()


@peak_app.command("status")
def status(
    store_url: str = typer.Option(..., "--store", help="Store holding the site and readings."),
    at: str | None = typer.Option(None, help="Time to look at (ISO 8601, UTC); default now."),
    target_kw: float | None = typer.Option(None, "--target", help="Park target [kW]."),
    site_id: SiteOption = None,
) -> None:
    """Replay the month's readings up to ``--at`` through the peak watch; show each point."""
    now = pd.Timestamp(at) if at else pd.Timestamp.now(tz="UTC")
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    with open_store(store_url) as store:
        site = load_cli_site(store, site_id)
        local = now.tz_convert(site.site.timezone)
        month_start = local.normalize().replace(day=1).tz_convert("UTC")
        metered = None
        if site.site.tariff is not None:
            tariff = load_tariff(site.site.tariff.name, option=site.site.tariff.option)
            if isinstance(tariff, TouTariff):
                metered = metered_by(tariff, site.site.timezone)
        targets = {"park": target_kw} if target_kw is not None else {}
        watch = PeakWatch(site, targets=targets, metered=metered)
        ids = sorted({m for p in watch.points for m, _ in p.meters})
        raw = store.read_readings(ids, month_start, now)
    # Only readings complete at ``now`` (their interval has ended) were known then.
    res = {m.id: pd.Timedelta(seconds=m.resolution_seconds) for m in site.meters}
    ends = pd.DatetimeIndex(raw["ts"]) + pd.TimedeltaIndex(raw["meter_id"].map(res))
    raw = raw[ends <= now].sort_values("ts", kind="stable")
    for mid, ts, value in zip(raw["meter_id"], raw["ts"], raw["value"], strict=True):
        watch.observe(str(mid), pd.Timestamp(ts), float(value))
    watch.evaluate(now)
    table = Table(title=f"{site.site.id}: 15-min demand at {local:%Y-%m-%d %H:%M %Z}")
    for col in (
        "point",
        "window",
        "covered",
        "projected kW",
        "month peak kW",
        "billing kW",
        "target kW",
    ):
        table.add_column(col, justify="right")
    for p in watch.points:
        s = watch.status(p.id)
        w = s.window
        table.add_row(
            p.id,
            f"{w.start.tz_convert(site.site.timezone):%H:%M}" + ("" if s.metered else " (light)"),
            f"{w.covered_s / w.window_s:.0%}",
            f"{w.projected_kw:,.1f}",
            f"{s.month_peak_kw:,.1f}",
            f"{s.billing_kw:,.1f}",
            f"{s.target_kw:,.1f}" if s.target_kw > 0 else "-",
        )
    print_table(table, console)


@peak_app.command("alerts")
def alerts(
    store_url: str = typer.Option(..., "--store", help="Store holding the alert timeline."),
    site_id: str | None = typer.Option(
        None, "--site", metavar="ID", help="Site id (all if omitted)."
    ),
    limit: int = typer.Option(20, help="Newest alerts to show."),
) -> None:
    """The alert timeline kept by the control loop, newest last."""
    with open_store(store_url) as store:
        frame = StoreJournal(store).read_alerts(site_id)
    table = Table(title=f"alerts ({len(frame)} in total)")
    for col in ("at", "point", "kind", "event", "level", "projected kW", "target kW", "message"):
        table.add_column(col)
    for r in frame.tail(limit).to_dict("records"):
        table.add_row(
            f"{pd.Timestamp(str(r['alert_at'])):%Y-%m-%d %H:%M:%S}",
            str(r["point"]),
            str(r["kind"]),
            str(r["event"]),
            f"{float(r['level']):.0%}",
            f"{float(r['projected_kw']):,.0f}",
            f"{float(r['target_kw']):,.0f}",
            str(r["message"]),
        )
    print_table(table, console)
