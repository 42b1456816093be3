"""``bitgaram import`` and ``bitgaram quarantine``: load readings, inspect rejected rows.

- ``bitgaram import FILE... [--format long|wide] [--site SITE.toml]``: CSV or
  Parquet readings, chunk by chunk (one transaction each), with a progress bar.
- ``bitgaram import citylearn DIR [--overrides OVERRIDES.toml]``: a CityLearn
  2022 dataset (site, tenants, meters, assets and readings).
- ``bitgaram quarantine list [--source FILE] [--limit N]``: rows rejected by imports.
- ``bitgaram quarantine replay [--source PREFIX] [--reason PREFIX] [--site SITE.toml]``:
  submit quarantined readings again once the cause is fixed.

The store is ``--store`` (a DuckDB file path or a PostgreSQL URL), else
``BITGARAM_DATABASE_URL``, else ``./bitgaram.duckdb``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from bitgaram.cli import app
from bitgaram.cli.options import load_cli_site
from bitgaram.cli.output import print_table
from bitgaram.cli.store import StoreOption, open_cli_store
from bitgaram.collect.citylearn import import_citylearn
from bitgaram.collect.files import DEFAULT_CHUNK_ROWS, ChunkProgress, ImportReport, import_file
from bitgaram.collect.validate import rules_from_settings
from bitgaram.config import Settings
from bitgaram.errors import ConfigError, DataError
from bitgaram.site import Site, load_site
from bitgaram.store import Store

console = Console()

quarantine_app = typer.Typer(help="Rows rejected by imports and collectors.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")

_QUARANTINE_SHOWN: tuple[str, ...] = ("source", "line", "meter_id", "ts", "field", "raw", "reason")

#: Files below this size import without a progress bar [bytes].
_PROGRESS_MIN_BYTES = 16 << 20


def _text(value: Any) -> str:
    """A table cell: empty for missing values."""
    return "" if value is None or bool(pd.isna(value)) else str(value)


def _site_for_files(store: Store, site_file: Path | None) -> Site:
    """The site the files' meters belong to: a site file (saved), else a stored site by id."""
    settings = Settings.from_env()
    if site_file is not None and not site_file.is_file() and site_file.suffix != ".toml":
        return load_cli_site(store, str(site_file))  # --site ID: a stored site
    path = site_file or settings.site_file
    if path is not None:
        site = load_site(path)
        store.save_site(site)
        return site
    if not store.list_sites():
        raise ConfigError(
            "the store has no site yet: pass --site SITE.toml (or set BITGARAM_SITE), "
            "or import a CityLearn dataset first"
        )
    return load_cli_site(store, None)


def print_report(report: ImportReport, out: Console | None = None) -> None:
    """Counts of one import and its first quarantined rows."""
    out = out or console
    out.print(
        f"[bold]{report.source}[/]: {report.rows_read:,} rows read, "
        f"{report.readings:,} readings: {report.accepted:,} accepted "
        f"([green]{report.inserted:,} new[/], {report.unchanged:,} unchanged, "
        f"{report.replaced:,} replaced), "
        f"[{'red' if report.quarantined else 'green'}]{report.quarantined:,} quarantined[/] "
        f"({report.chunks} transaction{'s' if report.chunks != 1 else ''})",
        highlight=False,
    )
    bad = report.first_bad
    if len(bad):
        table = Table(title=f"first {len(bad)} quarantined rows", title_justify="left")
        for column in ("line", "meter_id", "field", "raw", "reason"):
            table.add_column(column, overflow="fold")
        for row in bad.itertuples(index=False):
            table.add_row(
                *(_text(getattr(row, c)) for c in ("line", "meter_id", "field", "raw", "reason"))
            )
        print_table(table, out)


def _import_files(
    store: Store,
    files: list[Path],
    fmt: str | None,
    site_file: Path | None,
    chunk_rows: int,
    on_conflict: Literal["quarantine", "replace"],
) -> list[ImportReport]:
    site = _site_for_files(store, site_file)
    rules = rules_from_settings(Settings.from_env())  # the accepted timestamp window
    reports = []
    for file in files:
        if not file.is_file():
            raise DataError(f"{file}: no such file")
        size = file.stat().st_size
        if size < _PROGRESS_MIN_BYTES or not console.is_terminal:
            reports.append(
                import_file(
                    store,
                    site,
                    file,
                    fmt=fmt,
                    chunk_rows=chunk_rows,
                    on_conflict=on_conflict,
                    rules=rules,
                )
            )
            continue
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[rows]:,} rows"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            task = bar.add_task(file.name, total=size, rows=0)

            def advance(p: ChunkProgress, task: TaskID = task) -> None:
                bar.update(task, completed=p.bytes_read, rows=p.rows_read)

            reports.append(
                import_file(
                    store,
                    site,
                    file,
                    fmt=fmt,
                    chunk_rows=chunk_rows,
                    on_conflict=on_conflict,
                    rules=rules,
                    progress=advance,
                )
            )
            bar.update(task, completed=size)
    return reports


@app.command("import")
def import_command(
    items: Annotated[
        list[str],
        typer.Argument(
            help="Readings files (CSV or Parquet), or 'citylearn DIR' for a CityLearn dataset.",
            show_default=False,
        ),
    ],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="File layout: long or wide (default: from the header)."),
    ] = None,
    site_file: Annotated[
        Path | None,
        typer.Option(
            "--site",
            metavar="FILE|ID",
            help="Site file (TOML) describing the meters, saved to the store; or the id of a "
            "stored site (default: the only stored site).",
        ),
    ] = None,
    overrides: Annotated[
        Path | None,
        typer.Option("--overrides", help="CityLearn only: TOML with site id, timezone, location."),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", min=1, help="Rows per transaction.")
    ] = DEFAULT_CHUNK_ROWS,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Replace stored readings whose value differs."),
    ] = False,
    store_url: StoreOption = None,
) -> None:
    """Import readings files, or a CityLearn 2022 dataset ('import citylearn DIR').

    Bad rows (unparsable timestamps, unknown meters, impossible values,
    conflicting duplicates) are quarantined with their line and reason; the
    good rows are stored. Re-running an import changes nothing.
    """
    if fmt is not None and fmt not in ("long", "wide"):
        raise typer.BadParameter("must be 'long' or 'wide'", param_hint="--format")
    on_conflict: Literal["quarantine", "replace"] = "replace" if replace else "quarantine"
    store = open_cli_store(store_url)
    try:
        if items[0] == "citylearn" and not Path(items[0]).is_file():
            if len(items) != 2:
                raise typer.BadParameter("usage: bitgaram import citylearn DIR")
            with console.status("importing CityLearn dataset"):
                site, report = import_citylearn(store, items[1], overrides)
            console.print(
                f"site [bold]{site.site.id}[/] ({site.site.name}): {len(site.tenants)} tenants, "
                f"{len(site.meters)} meters, {len(site.assets)} assets, timezone "
                f"{site.site.timezone}",
                highlight=False,
            )
            print_report(report)
            return
        if overrides is not None:
            raise typer.BadParameter("--overrides applies to 'import citylearn DIR' only")
        for report in _import_files(
            store, [Path(i) for i in items], fmt, site_file, chunk_rows, on_conflict
        ):
            print_report(report)
    finally:
        store.close()


@quarantine_app.command("list")
def quarantine_list(
    source: Annotated[
        str | None, typer.Option("--source", help="Only rows from this file or source.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many rows.")] = 50,
    store_url: StoreOption = None,
) -> None:
    """Show quarantined rows, newest first, with source, line, field and reason."""
    if source is not None and Path(source).exists():
        # Imports record files by absolute path.
        source = str(Path(source).resolve())
    store = open_cli_store(store_url)
    try:
        rows = store.list_quarantine(source=source, limit=limit)
    finally:
        store.close()
    if rows.empty:
        console.print("no quarantined rows" + (f" from {source}" if source else ""))
        return
    sources = rows["source"].astype("str").unique()
    shown = _QUARANTINE_SHOWN
    title = f"{len(rows)} quarantined rows (newest first)"
    if len(sources) == 1:
        # One source: name it once instead of in every row.
        shown = tuple(c for c in shown if c != "source")
        title += f" from {sources[0]}"
    table = Table(title=title, title_justify="left")
    for column in shown:
        table.add_column(column, overflow="fold")
    for row in rows.itertuples(index=False):
        table.add_row(*(_text(getattr(row, c)) for c in shown))
    print_table(table, console)


@quarantine_app.command("replay")
def quarantine_replay(
    source: Annotated[
        str, typer.Option("--source", help="Only rows whose source starts with this.")
    ] = "",
    reason: Annotated[
        str, typer.Option("--reason", help="Only rows whose reason starts with this.")
    ] = "",
    site_file: Annotated[
        Path | None,
        typer.Option("--site", help="Site file (TOML) as it is now; saved to the store first."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would pass; change nothing.")
    ] = False,
    store_url: StoreOption = None,
) -> None:
    """Validate quarantined readings again once the cause is fixed; store those that pass.

    Rows that pass now are written and leave the quarantine; rows that still
    fail stay, unchanged. Run it after correcting the site file (a missing
    meter, a wrong unit or limit) or a meter's clock.
    """
    from bitgaram.collect.replay import replay_quarantine

    store = open_cli_store(store_url)
    try:
        site = _site_for_files(store, site_file)
        report = replay_quarantine(
            store,
            site,
            source_prefix=source,
            reason_prefix=reason,
            rules=rules_from_settings(Settings.from_env()),
            dry_run=dry_run,
        )
    finally:
        store.close()
    verb = "would pass" if dry_run else "replayed"
    console.print(
        f"{report.examined:,} quarantined rows examined: [green]{report.replayed:,} {verb}[/], "
        f"{report.still_failing:,} still failing, {report.unreplayable:,} not a reading"
    )
