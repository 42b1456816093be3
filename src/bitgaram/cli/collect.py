"""``bitgaram collect``: run the live collector and look at its status."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from bitgaram.cli import app
from bitgaram.cli.output import print_table
from bitgaram.errors import ConfigError

collect_app = typer.Typer(
    help="Live collection: MQTT, Modbus TCP and HTTP push into the store.", no_args_is_help=True
)
app.add_typer(collect_app, name="collect")
console = Console()


@collect_app.command("run")
def run(
    site: Path = typer.Option(..., "--site", help="Site file (TOML) with a [collect] section."),
    store: str | None = typer.Option(
        None, "--store", help="Store URL (default: BITGARAM_DATABASE_URL, else bitgaram.duckdb)."
    ),
    state: Path | None = typer.Option(None, "--state", help="Status file (default: beside site)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every connection event."),
) -> None:
    """Collect readings until SIGTERM/SIGINT (Ctrl-C); nothing acknowledged is ever lost."""
    from bitgaram.collect.config import load_collect_site
    from bitgaram.collect.service import CollectorService
    from bitgaram.collect.validate import rules_from_settings
    from bitgaram.config import Settings
    from bitgaram.store import open_store

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    the_site, config, state_path = load_collect_site(site)
    settings = Settings.from_env()
    db = open_store(store, settings)
    try:
        db.save_site(the_site)
        service = CollectorService(
            the_site,
            db,
            config,
            state or state_path,
            reopen=lambda: open_store(store, settings, migrate=False),
            rules=rules_from_settings(settings),
        )
        sources = [
            s for s, on in (("mqtt", config.mqtt.enabled), ("http", config.http.enabled)) if on
        ]
        sources += [f"modbus:{d.name}" for d in config.modbus]
        console.print(
            f"collecting for site [bold]{the_site.site.id}[/] into {db.url} "
            f"from {', '.join(sources) or 'nothing'}; status in {state or state_path}"
        )
        asyncio.run(service.run())
    finally:
        db.close()


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


@collect_app.command("status")
def status(
    site: Path = typer.Option(..., "--site", help="Site file (TOML) of the collector."),
    state: Path | None = typer.Option(None, "--state", help="Status file (default: beside site)."),
) -> None:
    """Show ingest rates, lag and quarantine counts per source of a collector."""
    from bitgaram.collect.config import load_collect_site
    from bitgaram.collect.service import read_status

    the_site, _, state_path = load_collect_site(site)
    path = state or state_path
    if not path.exists():
        raise ConfigError(f"{path}: no status file; is `bitgaram collect run` running for it?")
    doc = read_status(path)
    age = time.time() - float(doc["updated_at"])
    running = doc.get("running", False) and age < 30
    console.print(
        f"site [bold]{doc.get('site', the_site.site.id)}[/] store {doc.get('store', '?')}: "
        + ("[green]running[/]" if running else "[yellow]stopped[/]")
        + f" (pid {doc.get('pid')}, updated {age:.0f} s ago)"
    )
    table = Table("source", "received", "accepted", "quarantined", "rate [1/s]", "lag [s]")
    for kind, s in doc.get("sources", {}).items():
        table.add_row(
            kind,
            str(s["received"]),
            str(s["accepted"]),
            str(s["quarantined"]),
            _fmt(s.get("rate_per_s")),
            _fmt(s.get("lag_s"), ".0f"),
        )
    print_table(table, console)
    w = doc.get("writer", {})
    console.print(
        f"writer: {w.get('batches', 0)} batches, {w.get('rows_written', 0)} rows written, "
        f"{w.get('queued', 0)} queued, {w.get('store_failures', 0)} store failures"
        + (f" (last: {w['last_error']})" if w.get("last_error") else "")
    )
    if doc.get("mqtt"):
        m = doc["mqtt"]
        console.print(
            f"mqtt {m['client_id']}: {'connected' if m['connected'] else 'DISCONNECTED'}, "
            f"{m['messages']} messages"
        )
        for warning in m.get("warnings", []):
            console.print(f"  [yellow]warning:[/] {warning}", soft_wrap=True)
    gaps = doc.get("gaps") or {}
    if gaps.get("missing_readings"):
        console.print(f"[yellow]{gaps['missing_readings']} readings missing[/] (gaps per meter):")
        for line in gaps.get("recent", []):
            console.print(f"  {line}", soft_wrap=True)
    for name, d in doc.get("modbus", {}).items():
        console.print(
            f"modbus {name}: {d['polls']} polls, {d['failures']} failures, "
            f"last cycle {_fmt(d.get('last_cycle_s'), '.3f')} s"
        )
    if doc.get("reasons"):
        console.print("quarantine reasons:")
        for reason, count in doc["reasons"].items():
            console.print(f"  {count:>8}  {reason}")
