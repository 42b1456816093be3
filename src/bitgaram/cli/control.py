"""``bitgaram control``: the live control loop and its replay from stored history."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.console import Console
from rich.progress import Progress

from bitgaram.cli import app
from bitgaram.cli.options import SiteOption, load_cli_site
from bitgaram.control.journal import StoreJournal
from bitgaram.control.live import LiveController
from bitgaram.control.loop import ControlLoop, LoopConfig
from bitgaram.control.mqtt_link import MqttLink
from bitgaram.control.planner import DEFAULT_HORIZON, ParkPlanner, site_battery
from bitgaram.control.replay import firm_from_store, replay
from bitgaram.control.state import stored_sessions
from bitgaram.devices.openadr_ven import CappedPlanner, DrCaps
from bitgaram.errors import ConfigError
from bitgaram.peak import PeakWatch
from bitgaram.peak.watch import metered_by
from bitgaram.site import Site, load_site
from bitgaram.store import open_store
from bitgaram.tariff import TouTariff, load_tariff

control_app = typer.Typer(help="Peak watch and the live control loop.", no_args_is_help=True)
app.add_typer(control_app, name="control")
console = Console()


def _tariff(site: Site) -> TouTariff:
    if site.site.tariff is None:
        raise ConfigError(f"site {site.site.id!r}: the control loop needs [site] tariff")
    tariff = load_tariff(site.site.tariff.name, option=site.site.tariff.option)
    if not isinstance(tariff, TouTariff):
        raise ConfigError("the control loop needs a time-of-use tariff")
    return tariff


@control_app.command("replay")
def replay_cmd(
    store_url: str = typer.Option(..., "--store", help="Store holding the site and readings."),
    start: str = typer.Option(..., help="First local day, YYYY-MM-DD."),
    days: int = typer.Option(1, help="Days to replay."),
    target_kw: float = typer.Option(..., "--target", help="Park-connection target [kW]."),
    site_id: SiteOption = None,
    horizon: int = typer.Option(DEFAULT_HORIZON, help="MPC horizon [15-min steps]."),
) -> None:
    """Replay stored readings with and without the loop; print the peaks."""
    with open_store(store_url) as store:
        site = load_cli_site(store, site_id)
        t0 = pd.Timestamp(start, tz=site.site.timezone).tz_convert("UTC")
        firm, raw = firm_from_store(store, site, t0, t0 + pd.Timedelta(days=days))
        journal = StoreJournal(store)
        bat = site_battery(site, 0.25)
        power = float(bat[1].nominal_power_kw) if bat is not None else 0.0
        tariff = _tariff(site)
        metered = metered_by(tariff, site.site.timezone)
        loop = ControlLoop(
            PeakWatch(site, targets={"park": target_kw}, metered=metered),
            ParkPlanner(site, tariff, horizon=horizon),
            lambda t, p: None,
            journal,
            (bat[0],) if bat else (),
            power,
            LoopConfig(limit_kw=site.site.connection_limit_kw),
        )
        base = replay(site, firm, metered=metered)
        with Progress(console=console) as progress:
            task = progress.add_task("replay", total=len(firm))
            res = replay(
                site,
                firm,
                loop=loop,
                tenant_readings=raw,
                on_step=lambda k: progress.update(task, completed=k + 1),
                metered=metered,
            )
    console.print(
        f"billing peak (metered windows) without control {base.metered_peak_kw:,.1f} kW, "
        f"with control {res.metered_peak_kw:,.1f} kW "
        f"(target {target_kw:,.0f} kW); {loop.stats.alerts} alerts, {loop.stats.actions} "
        f"peak actions, {loop.stats.fallbacks} safe fallbacks; replayed in {res.wall_s:.1f} s"
    )


def _on_state(
    live: LiveController, dr_caps: DrCaps | None, asset: str, data: dict[str, Any]
) -> None:
    if asset == "dr" and dr_caps is not None:
        dr_caps.on_state(data)
    live.on_state(asset, data)


@control_app.command("run")
def run_cmd(
    site_file: Path = typer.Option(..., "--site", help="Site file (TOML)."),
    target_kw: float = typer.Option(..., "--target", help="Park-connection target [kW]."),
    host: str = typer.Option("127.0.0.1", help="MQTT broker."),
    port: int = typer.Option(1883, help="MQTT port."),
    store_url: str | None = typer.Option(None, "--store", help="Store for the timeline."),
    interval: float = typer.Option(900.0, help="Control interval [s]."),
    ticks: int | None = typer.Option(None, help="Stop after this many ticks."),
    dr: bool = typer.Option(
        False, help="Cap the import in DR events (the `devices run` VEN's dr/state messages)."
    ),
    evs_from_store: bool = typer.Option(
        False,
        help="Plan the EV sessions `devices run --store` keeps in the store (instead of the "
        "chargers' MQTT state messages).",
    ),
) -> None:
    """Run the live loop: readings in, alerts and setpoints out on MQTT."""
    site = load_site(site_file)
    dr_caps = DrCaps() if dr else None
    store = open_store(store_url)
    try:
        bat = site_battery(site, interval / 3600.0)
        holder: dict[str, LiveController] = {}
        link = MqttLink(
            host,
            port,
            site.site.id,
            on_state=lambda a, d: _on_state(holder["c"], dr_caps, a, d),
            on_readings=lambda m, rows, now: holder["c"].on_readings(m, rows, now),
        )
        loop = ControlLoop(
            PeakWatch(
                site,
                targets={"park": target_kw},
                metered=metered_by(_tariff(site), site.site.timezone),
            ),
            ParkPlanner(site, _tariff(site), interval_s=interval)
            if dr_caps is None
            else CappedPlanner(site, _tariff(site), interval_s=interval, caps=dr_caps.caps),
            link.publish,
            StoreJournal(store),
            (bat[0],) if bat else (),
            float(bat[1].nominal_power_kw) if bat else 0.0,
            LoopConfig(interval_s=interval, limit_kw=site.site.connection_limit_kw),
        )
        evs = stored_sessions(store, site.site.id) if evs_from_store else None
        holder["c"] = LiveController(loop, evs=evs)
        link.start()
        console.print(f"control loop on {host}:{port} for site {site.site.id!r}; Ctrl-C stops")
        stop = threading.Event()
        try:
            holder["c"].run(stop, interval, ticks)
        except KeyboardInterrupt:
            stop.set()
        finally:
            link.stop()
        console.print(f"{loop.stats}")
    finally:
        store.close()
