"""``bitgaram run`` (the supervised service), ``bitgaram deploy systemd`` and
``bitgaram store backup|restore|export``.

While ``bitgaram run`` owns an embedded store, other commands cannot open the DuckDB file
(DuckDB lets one process own it): they say so and name the service's API; ``store backup`` and
``store export`` go through the service's admin port instead, so they work while it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bitgaram.cli import app
from bitgaram.cli.fleet import store_app
from bitgaram.errors import ConfigError

console = Console()
deploy_app = typer.Typer(help="Deployment files for a park's machines.", no_args_is_help=True)
app.add_typer(deploy_app, name="deploy")

SiteOption = Annotated[
    Path | None, typer.Option("--site", help="Site file; its [service] store is used.")
]
StoreOption = Annotated[
    str | None,
    typer.Option("--store", help="Store: DuckDB file or postgresql:// URL (default: see docs)."),
]


@app.command("run")
def run(
    site: Annotated[Path, typer.Option("--site", help="Site file with [service]/[collect].")],
    store: StoreOption = None,
    log_format: Annotated[
        str | None, typer.Option("--log-format", help="json (default) or console.")
    ] = None,
) -> None:
    """Run the park: collectors, control loop and API under one supervisor until SIGTERM."""
    from bitgaram.service.config import load_service_site
    from bitgaram.service.logs import configure_logging
    from bitgaram.service.run import run_service

    config = load_service_site(site)
    if log_format not in (None, "json", "console"):
        raise ConfigError(f"--log-format {log_format!r}: use json or console")
    json_lines = config.service.log.json_lines if log_format is None else log_format == "json"
    configure_logging(site_id=config.site.site.id, level=config.service.log.level, json=json_lines)
    run_service(config, store)


def _store_url(store: str | None, site: Path | None) -> str:
    from bitgaram.config import Settings
    from bitgaram.store import resolve_url

    if store is None and site is not None:
        from bitgaram.service.config import load_service_site

        config = load_service_site(site)
        if config.service.store:
            url = config.service.store
            if "://" not in url and not Path(url).is_absolute():
                url = str(site.parent / url)
            return url
    return resolve_url(store, Settings.from_env())


def _digest_table(tables: dict[str, Any]) -> Table:
    table = Table("table", "rows", "checksum")
    for name, (rows, checksum) in sorted(tables.items()):
        table.add_row(name, f"{int(rows):,}", str(checksum))
    return table


@store_app.command("backup")
def backup(
    out: Annotated[Path, typer.Option("--out", help="Backup file to write (must not exist).")],
    store: StoreOption = None,
    site: SiteOption = None,
) -> None:
    """Back up the store: a consistent DuckDB copy (also while `bitgaram run` writes) or a
    pg_dump of the PostgreSQL schema."""
    from bitgaram.store import open_store
    from bitgaram.store.backup import (
        backup_duckdb,
        backup_postgres,
        duckdb_path,
        running_service,
        store_digest,
    )

    url = _store_url(store, site)
    db = duckdb_path(url)
    if db is not None and running_service(db) is not None:
        from bitgaram.service.run import admin_request

        answer = admin_request(db, "POST", "/backup", {"path": str(out.resolve())})
        console.print(f"backup by the running service: {answer['path']}")
        console.print(_digest_table(answer["tables"]))
        return
    with open_store(url, migrate=False) as opened:
        if db is None:
            backup_postgres(opened, out)
            console.print(f"pg_dump of {opened.url.split('@')[-1]} written to {out}")
            return
        backup_duckdb(opened, out)
    with open_store(str(out), migrate=False) as copy:
        console.print(f"backup written to {out}")
        console.print(_digest_table(store_digest(copy)))


@store_app.command("restore")
def restore(
    backup_file: Annotated[Path, typer.Argument(help="A file written by `store backup`.")],
    store: Annotated[
        str, typer.Option("--store", help="New DuckDB file, or the postgresql:// database.")
    ],
) -> None:
    """Restore a backup into a new store (never over an existing DuckDB file)."""
    from bitgaram.store import open_store
    from bitgaram.store.backup import duckdb_path, restore_duckdb, restore_postgres, store_digest

    db = duckdb_path(store)
    if db is None:
        restore_postgres(backup_file, store)
        console.print(f"restored {backup_file} into {store.split('@')[-1]}")
        return
    restore_duckdb(backup_file, db)
    with open_store(str(db)) as restored:
        console.print(f"restored {backup_file} to {db}")
        console.print(_digest_table(store_digest(restored)))


@store_app.command("export")
def export(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant id.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write (new or empty).")],
    store: StoreOption = None,
    site: SiteOption = None,
    site_id: Annotated[
        str | None,
        typer.Option("--site-id", help="Stored site of the tenant (default: the only one)."),
    ] = None,
) -> None:
    """Export one tenant's site data, readings, forecasts, setpoints and users (CSV + JSON)."""
    from bitgaram.service.export import export_tenant
    from bitgaram.store import open_store
    from bitgaram.store.backup import duckdb_path, running_service

    url = _store_url(store, site)
    db = duckdb_path(url)
    if db is not None and running_service(db) is not None:
        from bitgaram.service.run import admin_request

        body = {"tenant": tenant, "path": str(out.resolve()), "site_id": site_id}
        files = admin_request(db, "POST", "/export", body)["files"]
    else:
        with open_store(url, migrate=False) as opened:
            files = export_tenant(opened, tenant, out, site_id).files
    for name, rows in files.items():
        console.print(f"  {name:<16} {rows:>10,} rows")
    console.print(f"tenant {tenant} exported to {out}")


@deploy_app.command("systemd")
def systemd(
    site: Annotated[Path, typer.Option("--site", help="The site file the service runs.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the unit files.")],
    user: Annotated[str, typer.Option(help="System user of the service.")] = "bitgaram",
    workdir: Annotated[
        Path | None, typer.Option(help="Working directory (default: the site file's folder).")
    ] = None,
    store: StoreOption = None,
    backup_dir: Annotated[Path, typer.Option(help="Nightly backups.")] = Path(
        "/var/backups/bitgaram"
    ),
    dask_scheduler: Annotated[
        str | None, typer.Option(help="host:port of a Dask scheduler: adds Dask units.")
    ] = None,
) -> None:
    """Write systemd unit files for this site (service, nightly backup, Dask)."""
    from bitgaram.service.config import load_service_site
    from bitgaram.service.deploy import UnitOptions, systemd_units

    load_service_site(site)  # refuse to deploy a site file that does not load
    site_abs = site.resolve()
    options = UnitOptions(
        site_file=site_abs,
        workdir=(workdir or site_abs.parent).resolve(),
        user=user,
        store=store,
        backup_dir=backup_dir,
        dask_scheduler=dask_scheduler,
    )
    out.mkdir(parents=True, exist_ok=True)
    for name, text in systemd_units(options).items():
        (out / name).write_text(text, encoding="utf-8")
        console.print(f"wrote {out / name}")
    console.print(
        f"install: sudo cp {out}/*.service {out}/*.timer /etc/systemd/system/ && "
        "sudo systemctl daemon-reload && sudo systemctl enable --now bitgaram "
        "bitgaram-backup.timer",
        soft_wrap=True,
    )
