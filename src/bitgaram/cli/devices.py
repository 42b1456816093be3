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
from bitgaram.tariff import load_tariff
from bitgaram.verify.cbl import MAX_4_5, MID_6_10, CblMethod, cbl_report, high_x_of_y

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


def _method(text: str) -> CblMethod:
    if text == "mid":
        return MID_6_10
    if text == "max":
        return MAX_4_5
    if text.startswith("high:"):
        try:
            x, y = (int(v) for v in text[5:].split("/"))
            return high_x_of_y(x, y)
        except ValueError as exc:
            raise ConfigError(f"--method {text!r}: use high:X/Y, e.g. high:5/10") from exc
    raise ConfigError(f"--method {text!r}: use mid, max or high:X/Y")


@devices_app.command("cbl")
def cbl_cmd(
    store_url: str | None = typer.Option(None, "--store", help="Store with site and readings."),
    start: str = typer.Option(..., help="Event start, ISO 8601 with offset."),
    end: str = typer.Option(..., help="Event end, ISO 8601 with offset."),
    method: list[str] = typer.Option(["mid", "max"], help="mid, max or high:X/Y (repeatable)."),
    exclude: list[str] = typer.Option([], help="Days to leave out, YYYY-MM-DD (repeatable)."),
    site_id: str | None = typer.Option(None, help="Site id (the only one if omitted)."),
) -> None:
    """Customer baseline load and reduction of a DR event, per tenant and for the park."""
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    if t0.tzinfo is None or t1.tzinfo is None:
        raise ConfigError("--start and --end need a UTC offset (e.g. 2026-06-10T14:00+09:00)")
    methods = [_method(m) for m in method]
    look = pd.Timedelta(days=2 * 2 * max(m.days for m in methods) + 7)
    with open_store(store_url) as store:
        site = store.load_site(site_id)
        tenants = store.tenant_totals("load", t0 - look, t1, resolution="1h")
        park = store.park_totals("grid_import", t0 - look, t1, resolution="1h")
    energy = tenants.pivot_table(index="ts", columns="tenant_id", values="value")
    if energy.empty:
        raise ConfigError(f"no load readings in the store before {t0}")
    park_series = park.set_index("ts")["value"] if not park.empty else None
    holidays: set[date] = set()
    if site.site.tariff is not None:
        tariff = load_tariff(site.site.tariff.name, option=site.site.tariff.option)
        country = getattr(tariff, "holiday_country", None)
        if country:
            import holidays as hol

            holidays = set(hol.country_holidays(country, years=range(t0.year - 1, t0.year + 1)))
    excluded = {date.fromisoformat(d) for d in exclude}
    rep = cbl_report(
        energy, t0, t1, methods, site.site.timezone, holidays, excluded, park_energy=park_series
    )
    table = Table(title=f"{site.site.id}: DR event {t0} - {t1}, customer baseline load")
    for col in ("member", "method", "days", "CBL kWh", "metered kWh", "reduction kWh", "CBL kW"):
        table.add_column(col)
    for r in rep.itertuples():
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
