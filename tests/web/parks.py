"""The three parks of the browser tests, each in a real in-memory DuckDB store behind the app.

- ``citylearn``: the shipped CityLearn 2022 sample park (5 buildings, a year of hourly data,
  America/Los_Angeles), imported as ``bitgaram demo`` does, with a rule-based battery replay of
  its last week journaled as the plan (:func:`bitgaram.cli.citylearn.journal_plan`) and
  P10/P50/P90 load forecasts of its last two weeks;
- ``industrial``: the sample industrial park (``data/industrial_park``: 4 tenants, 15-minute
  data, Asia/Seoul), its profiles [kW] written as energy per interval [kWh];
- ``synth``: a 1,000-tenant synthetic park (``bitgaram synth``), 62 days of hourly data.

Each park has an operator ``operator`` and a tenant manager ``manager`` (password
``pw-<name>``).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import uvicorn
from fastapi import FastAPI

from bitgaram.api import Settings, create_app
from bitgaram.api.app import token_store_for
from bitgaram.api.auth import TokenStore
from bitgaram.site.model import load_site
from bitgaram.store import Store, open_store

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pw-{}-secret"


@dataclass(frozen=True)
class ServedPark:
    """A park served on 127.0.0.1 with an operator and a tenant manager."""

    name: str
    url: str
    store: Store
    tenant: str
    tenant_name: str


def _users(store: Store, tenant: str) -> TokenStore:
    tokens = token_store_for(store, Settings())
    tokens.add_user("operator", "operator", password=PASSWORD.format("operator"))
    tokens.add_user("manager", "tenant_manager", tenant, password=PASSWORD.format("manager"))
    return tokens


def citylearn_store() -> tuple[Store, str, TokenStore]:
    """The CityLearn sample park, its plan journaled and quantile forecasts stored."""
    from bitgaram.cli.citylearn import journal_plan
    from bitgaram.collect.citylearn import import_citylearn, sample_overrides_file, sample_park_dir
    from bitgaram.datasets.citylearn import read_citylearn
    from bitgaram.simulate import simulate, site_from_citylearn
    from bitgaram.simulate.controllers import RuleController

    store = open_store(":memory:")
    site, _ = import_citylearn(store, sample_park_dir(), sample_overrides_file())
    data = site_from_citylearn(read_citylearn(sample_park_dir()))
    week = data.slice(data.n_steps - 7 * 24, data.n_steps)
    result = simulate(week, RuleController())
    journal_plan(store, site, week.names, result.battery_kwh, week.step_hours)
    loads = [m.id for m in site.meters if m.kind.value == "load" and m.tenant == "building_1"]
    readings = store.read_readings(loads)
    readings["ts"] = pd.to_datetime(readings["ts"], utc=True)
    last = readings[readings["ts"] >= readings["ts"].max() - pd.Timedelta(days=14)]
    issued = last["ts"].min() - pd.Timedelta(hours=1)
    # a seasonal-naive forecast (same hour a week before) with a +-20 % band: test data only
    frames = []
    for q, factor in ((0.1, 0.8), (0.5, 1.0), (0.9, 1.2)):
        frames.append(
            pd.DataFrame(
                {
                    "meter_id": last["meter_id"].to_numpy(),
                    "issued_at": issued,
                    "ts": last["ts"].to_numpy(),
                    "horizon": 1.0,
                    "quantile": q,
                    "value": last["value"].to_numpy() * factor,
                    "model": "test-naive",
                }
            )
        )
    store.write_forecasts(pd.concat(frames, ignore_index=True))
    return store, "building_1", _users(store, "building_1")


def industrial_store() -> tuple[Store, str, TokenStore]:
    """The sample industrial park: 15-minute energy per meter from its kW profiles."""
    folder = ROOT / "data" / "industrial_park"
    site = load_site(folder / "site.toml")
    store = open_store(":memory:")
    store.save_site(site)
    profiles = pd.read_csv(folder / "profiles.csv")
    local = pd.DatetimeIndex(pd.to_datetime(profiles["timestamp"])).tz_localize(site.site.timezone)
    ts = local.tz_convert("UTC")
    columns = {
        "plant24-load": "plant24_kw",
        "plant1-load": "plant1_kw",
        "office-load": "office_kw",
        "dc-load": "dc_it_kw",
        "rooftop-pv": "pv_kw",
    }
    frames = [
        pd.DataFrame(
            {"meter_id": meter, "ts": ts, "value": profiles[col].to_numpy() * 0.25, "quality": 0}
        )
        for meter, col in columns.items()
        if meter in {m.id for m in site.meters}
    ]
    store.write_readings(pd.concat(frames, ignore_index=True), source="test")
    return store, "plant24", _users(store, "plant24")


def synth_store(tenants: int = 1000, days: int = 62) -> tuple[Store, str, TokenStore]:
    """A synthetic park of ``tenants`` tenants (``bitgaram synth``), hourly."""
    from bitgaram.synth import SynthSpec, plan_tenants, read_base_profiles, synth_site
    from bitgaram.synth.write import write_store

    spec = SynthSpec(tenants=tenants, days=days, resolution="1h", start="2025-05-01", seed=0)
    base = read_base_profiles(ROOT / "data" / "citylearn_2022_phase_1")
    plan = plan_tenants(spec, base.load_shapes.shape[1])
    site = synth_site(plan, spec)
    store = open_store(":memory:")
    write_store(base, plan, spec, site, store, chunk=250)
    return store, site.tenants[0].id, _users(store, site.tenants[0].id)


def serve(app: FastAPI) -> tuple[str, uvicorn.Server, threading.Thread]:
    """Run ``app`` on a free port of 127.0.0.1 in a thread; its URL, server and thread."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


BUILDERS = {"citylearn": citylearn_store, "industrial": industrial_store, "synth": synth_store}


def served(name: str, view_cache_seconds: float = 10.0) -> Iterator[ServedPark]:
    """Build park ``name``, serve it, yield it, stop it."""
    store, tenant, tokens = BUILDERS[name]()
    settings = Settings(
        login_max_failures=0,
        site_id=store.list_sites()[0],
        view_cache_seconds=view_cache_seconds,
    )
    app = create_app(settings, store, tokens)
    url, server, thread = serve(app)
    tenant_name = store.load_site(settings.site_id).tenant(tenant).name
    try:
        yield ServedPark(name, url, store, tenant, tenant_name)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


__all__ = ["PASSWORD", "ServedPark", "served"]
