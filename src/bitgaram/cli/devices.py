"""``bitgaram devices``: the device links (OCPP, Modbus, OpenADR), their status, DR baselines."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from datetime import date
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from bitgaram.cli import app
from bitgaram.devices.fleet import FleetDefault, load_fleet
from bitgaram.devices.service import DeviceService, MqttSetpoints
from bitgaram.devices.status import read_status
from bitgaram.errors import ConfigError
from bitgaram.site import load_site
from bitgaram.store import open_store
from bitgaram.verify.dr import event_report, find_event, parse_method

devices_app = typer.Typer(help="Device links: chargers, PCS/inverters, DR.", no_args_is_help=True)
app.add_typer(devices_app, name="devices")
console = Console()


def _status_path(site_file: Path, site_id: str) -> Path:
    return site_file.parent / f".devices-{site_id}.json"


@devices_app.command("run")
def run_cmd(
    site_file: Path = typer.Option(..., "--site", help="Site file with [[devices]] (TOML)."),
    fleet_file: Path | None = typer.Option(None, "--fleet", help="Fleet CSV (idTag -> vehicle)."),
    default_dwell_h: float | None = typer.Option(
        None, help="Stay of a vehicle not in the fleet file [h] (default: safe rate only)."
    ),
    default_kwh: float = typer.Option(30.0, help="Energy of a vehicle not in the fleet [kWh]."),
    ocpp_host: str = typer.Option("127.0.0.1", help="Central system address."),
    ocpp_port: int = typer.Option(9000, help="Central system port."),
    mqtt: bool = typer.Option(True, help="Take setpoints from MQTT and publish states."),
    host: str = typer.Option("127.0.0.1", help="MQTT broker."),
    port: int = typer.Option(1883, help="MQTT port."),
    store_url: str | None = typer.Option(None, "--store", help="Store for charger readings."),
    seconds: float | None = typer.Option(None, help="Stop after this many seconds."),
    tick: float = typer.Option(5.0, help="State and status period [s]."),
) -> None:
    """Run the central system, the Modbus writers and the VEN of the site's registry."""
    site = load_site(site_file)
    if not site.devices:
        raise ConfigError(f"{site_file}: no [[devices]] in the site file")
    default = FleetDefault(default_dwell_h, default_kwh) if default_dwell_h else None
    fleet = load_fleet(fleet_file, default, site.site.timezone)
    store = open_store(store_url) if store_url else None
    status = _status_path(site_file, site.site.id)

    async def main() -> None:
        stop = asyncio.Event()  # SIGTERM (a service manager) or Ctrl-C: stop cleanly, exit 0
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        link: MqttSetpoints | None = None
        service: DeviceService
        holder: list[DeviceService] = []
        if mqtt:
            link = MqttSetpoints(host, port, site.site.id, lambda p: holder[0].submit(p))
        service = DeviceService(
            site,
            fleet,
            publish=link.publish if link else None,
            status_path=status,
            sessions_path=status.with_suffix(".sessions.jsonl"),
            store=store,
            ocpp_host=ocpp_host,
            ocpp_port=ocpp_port,
            tick_s=tick,
        )
        holder.append(service)
        await service.start()
        if link is not None:
            await asyncio.to_thread(link.start)
        console.print(
            f"devices of {site.site.id!r}: {len(site.devices)} links; OCPP on "
            f"ws://{ocpp_host}:{service.ocpp_port}/<charge point id>; status in {status}"
        )
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), seconds)
        finally:
            await service.stop()
            if link is not None:
                link.stop()
        console.print(f"{len(service.confirmations)} setpoints confirmed or refused")

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    finally:
        if store is not None:
            store.close()


@devices_app.command("status")
def status_cmd(
    site_file: Path = typer.Option(..., "--site", help="Site file (TOML)."),
) -> None:
    """Each device: connected, last seen, last setpoint sent, last value read back, faults."""
    site = load_site(site_file)
    devices, extra = read_status(_status_path(site_file, site.site.id))
    age = time.time() - float(extra.get("at", 0.0))
    table = Table(title=f"{site.site.id}: device links (status {age:,.0f} s old)")
    for col in ("device", "protocol", "connected", "last seen", "setpoint kW", "read back kW"):
        table.add_column(col)
    table.add_column("faults (newest)")
    for d in devices:
        seen = "-" if d.last_seen is None else f"{time.time() - d.last_seen:,.0f} s ago"
        table.add_row(
            d.id,
            d.protocol,
            "yes" if d.connected else "no",
            seen,
            "-" if d.last_setpoint_kw is None else f"{d.last_setpoint_kw:,.1f}",
            "-" if d.last_readback_kw is None else f"{d.last_readback_kw:,.1f}",
            d.faults[-1] if d.faults else "",
        )
    console.print(table)


@devices_app.command("cbl")
def cbl_cmd(
    store_url: str | None = typer.Option(None, "--store", help="Store with site and readings."),
    event: str | None = typer.Option(None, help="A stored DR event's id (instead of start/end)."),
    start: str | None = typer.Option(None, help="Event start, ISO 8601 with offset."),
    end: str | None = typer.Option(None, help="Event end, ISO 8601 with offset."),
    method: list[str] = typer.Option(["mid", "max"], help="mid, max or high:X/Y (repeatable)."),
    exclude: list[str] = typer.Option([], help="Days to leave out, YYYY-MM-DD (repeatable)."),
    site_id: str | None = typer.Option(None, help="Site id (the only one if omitted)."),
) -> None:
    """Customer baseline load and reduction of a DR event, per tenant and for the park."""
    methods = [parse_method(m) for m in method]
    excluded = {date.fromisoformat(d) for d in exclude}
    with open_store(store_url) as store:
        site = store.load_site(site_id)
        if event is not None:
            found = find_event(store, site.site.id, event)
            if found is None:
                raise ConfigError(f"--event {event!r}: no such DR event of {site.site.id!r}")
            t0, t1 = pd.Timestamp(found.start_at), pd.Timestamp(found.end_at)
        elif start is None or end is None:
            raise ConfigError("give --event, or --start and --end")
        else:
            t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
            if t0.tzinfo is None or t1.tzinfo is None:
                raise ConfigError(
                    "--start and --end need a UTC offset (e.g. 2026-06-10T14:00+09:00)"
                )
        rep = event_report(store, site, t0, t1, methods, excluded)
    table = Table(title=f"{site.site.id}: DR event {t0} - {t1}, customer baseline load")
    for col in ("member", "method", "days", "CBL kWh", "metered kWh", "reduction kWh", "CBL kW"):
        table.add_column(col)
    for r in rep.rows.itertuples():
        table.add_row(
            str(r.member),
            str(r.method),
            str(r.days),
            f"{r.baseline_kwh:,.1f}",
            f"{r.metered_kwh:,.1f}",
            f"{r.reduction_kwh:,.1f}",
            f"{r.baseline_kw:,.1f}",
        )
    console.print(table)
    for name, why in rep.unavailable.items():
        console.print(f"{name}: not available: {why}")
