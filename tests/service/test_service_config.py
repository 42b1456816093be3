"""The [service] section, the systemd units, and the control loop's state after a restart."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bitgaram.cli import app
from bitgaram.cli import service as _service_commands  # noqa: F401
from bitgaram.control.setpoints import Mode, Setpoint
from bitgaram.errors import ConfigError
from bitgaram.peak.points import PARK_POINT
from bitgaram.service.components import ControlComponent, restore_control_state
from bitgaram.service.config import load_service_site
from bitgaram.service.metrics import ServiceMetrics
from bitgaram.store import open_store

SITE = """\
[site]
id = "cfg"
name = "Config park"
timezone = "Asia/Seoul"
tariff = { name = "kepco-industrial-eul-high-a", option = "II", contract_kw = 1000 }

[[tenants]]
id = "a"
name = "A"

[[meters]]
id = "a-load"
tenant = "a"
kind = "load"
unit = "kWh"
resolution = "5min"

[[assets]]
type = "battery"
id = "ess"
tenant = "a"
capacity_kwh = 400
power_kw = 200
"""


def _write(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "park.toml"
    path.write_text(SITE + extra, encoding="utf-8")
    return path


def test_sections_parse_with_defaults(tmp_path: Path) -> None:
    config = load_service_site(
        _write(
            tmp_path,
            '[collect.mqtt]\nhost = "10.0.0.2"\n[service.control]\nenabled = true\n'
            "target_kw = 700\n",
        )
    )
    assert config.collect is not None and config.collect.mqtt.host == "10.0.0.2"
    assert config.service.admin.port == 9108 and config.service.api.enabled
    assert config.collect_state == tmp_path / ".collect-cfg.json"
    control = ControlComponent(config, open_store(":memory:"), ServiceMetrics())
    assert control.host == "10.0.0.2"  # the collector's broker by default
    assert control.client_id == "bitgaram-control-cfg"


def test_bad_fields_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"service\.admin\.port"):
        load_service_site(_write(tmp_path, "[service.admin]\nport = -1\n"))
    with pytest.raises(ConfigError, match=r"service\.control\.target_kw: required"):
        load_service_site(_write(tmp_path, "[service.control]\nenabled = true\n"))
    with pytest.raises(ConfigError, match=r"service\.colour"):
        load_service_site(_write(tmp_path, "[service]\ncolour = 1\n"))
    off = load_service_site(_write(tmp_path, "[collect]\n[service.collect]\nenabled = false\n"))
    assert off.collect is None


def test_deploy_systemd_writes_units(tmp_path: Path) -> None:
    site = _write(tmp_path, "")
    out = tmp_path / "units"
    args = ["deploy", "systemd", "--site", str(site), "--out", str(out)]
    done = CliRunner().invoke(app, [*args, "--dask-scheduler", "10.0.0.9:8786"])
    assert done.exit_code == 0, done.output
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "bitgaram-backup.service",
        "bitgaram-backup.timer",
        "bitgaram-dask-scheduler.service",
        "bitgaram-dask-worker.service",
        "bitgaram.service",
    ]
    unit = (out / "bitgaram.service").read_text()
    assert f"run --site {site.resolve()}" in unit
    assert "KillSignal=SIGTERM" in unit and "TimeoutStopSec=15" in unit
    assert "tcp://10.0.0.9:8786" in (out / "bitgaram-dask-worker.service").read_text()
    assert "%%Y" in (out / "bitgaram-backup.service").read_text()  # systemd escapes %


def test_restarted_loop_gets_month_peak_and_setpoints_back(tmp_path: Path) -> None:
    """State survives a restart: the month's stored readings and valid setpoints return."""
    config = load_service_site(
        _write(tmp_path, "[service.control]\nenabled = true\ntarget_kw = 600\n")
    )
    now = pd.Timestamp("2026-08-04T06:02Z")  # 15:02 in Seoul
    with open_store(tmp_path / "s.duckdb") as store:
        store.save_site(config.site)
        ts = pd.date_range("2026-08-03T15:00Z", now - pd.Timedelta("5min"), freq="5min")
        # 50 kWh per 5 min = 600 kW; one window at 14:00-14:15 local of 100 kWh = 1200 kW.
        value = [
            100.0
            if pd.Timestamp("2026-08-04T05:00Z") <= t < pd.Timestamp("2026-08-04T05:15Z")
            else 50.0
            for t in ts
        ]
        store.write_readings(pd.DataFrame({"meter_id": "a-load", "ts": ts, "value": value}))
        component = ControlComponent(config, store, ServiceMetrics())
        _link, ctl = component._build()
        at = now - pd.Timedelta("10min")
        kept = Setpoint("ess", "battery", -80.0, at, now + pd.Timedelta("10min"), Mode.PEAK, "p")
        gone = Setpoint("old", "battery", 5.0, at, now - pd.Timedelta("1min"), Mode.MPC, "")
        ctl.loop.journal.record_setpoints("cfg", at, [kept, gone])
        replayed = restore_control_state(ctl, store, now)
    assert replayed == len(ts)
    assert set(ctl.loop.setpoints) == {"ess"} and ctl.loop.setpoints["ess"].power_kw == -80.0
    assert ctl.data_time == pd.Timestamp("2026-08-04T06:00Z")  # the newest reading's end
    assert ctl.loop.watch.status(PARK_POINT).month_peak_kw == pytest.approx(1200.0)
