"""One park, one set of numbers: CLI, API and the dashboard's JSON agree, to the Wh and the won.

Both shipped sample parks are put into a store once per module: the CityLearn
sample (``bitgaram import citylearn`` with ``data/sample_park.toml``) and the
industrial park (``data/industrial_park``: its site file and its 15-minute
profiles [kW] stored as energy per quarter hour [kWh]). For every tenant and the
park, for a month and a year, ``bitgaram account --json``, ``bitgaram bill
--json``, ``bitgaram query --json``, ``GET /tenants/{id}/accounts`` and ``GET
/park/accounts`` (what the dashboard reads) must give the same figures.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bitgaram.account.energy import energy_accounts, local_bound
from bitgaram.api import Settings, create_app
from bitgaram.api.app import token_store_for
from bitgaram.api.auth import Role
from bitgaram.cli import _register, app
from bitgaram.collect.citylearn import import_citylearn, sample_overrides_file, sample_park_dir
from bitgaram.site import load_site
from bitgaram.store import open_store

_register()

DATA = Path(__file__).resolve().parents[2] / "data"
#: Energy agrees to the Wh [kWh]; money to the won (and the cent of USD).
WH = 1e-3
WON = 0.5
SHARE = 1e-9

#: profiles.csv column [kW] -> meter of the industrial park (dc: IT power x PUE).
PROFILE_METERS = {
    "plant24_kw": ("plant24-load", 1.0),
    "plant1_kw": ("plant1-load", 1.0),
    "office_kw": ("office-load", 1.0),
    "dc_it_kw": ("dc-load", 1.35),
    "pv_kw": ("rooftop-pv", 1.0),
}


def _industrial(url: str) -> None:
    site = load_site(DATA / "industrial_park" / "site.toml")
    profiles = pd.read_csv(DATA / "industrial_park" / "profiles.csv", parse_dates=["timestamp"])
    ts = pd.DatetimeIndex(profiles["timestamp"]).tz_localize(site.site.timezone).tz_convert("UTC")
    rows = [
        pd.DataFrame(
            {"meter_id": meter, "ts": ts, "value": profiles[col] * scale * 0.25, "quality": 0}
        )
        for col, (meter, scale) in PROFILE_METERS.items()
    ]
    with open_store(url) as store:
        store.save_site(site)
        store.write_readings(pd.concat(rows, ignore_index=True))


@dataclass(frozen=True)
class Park:
    url: str
    client: TestClient
    periods: tuple[tuple[str, str], ...]  # local [start, end) dates


@pytest.fixture(scope="module", params=["citylearn", "industrial"])
def park(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Park]:
    url = str(tmp_path_factory.mktemp(request.param) / "bitgaram.duckdb")
    if request.param == "citylearn":
        with open_store(url) as store:
            import_citylearn(store, sample_park_dir(), sample_overrides_file())
        periods = (("2023-01-01", "2023-02-01"), ("2023-01-01", "2024-01-01"))
    else:
        _industrial(url)
        periods = (("2026-06-01", "2026-07-01"), ("2026-01-01", "2027-01-01"))
    store = open_store(url)
    settings = Settings(login_max_failures=0)
    tokens = token_store_for(store, settings)
    tokens.add_user("op", Role.OPERATOR, None)
    client = TestClient(create_app(settings, store, tokens), raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {tokens.issue_token('op')}"
    yield Park(url, client, periods)
    store.close()


def _cli(*args: str) -> object:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _same(a: dict[str, object], b: dict[str, object], what: str) -> None:
    for key, tol in (
        ("consumption_total_kwh", WH),
        ("generation_kwh", WH),
        ("self_consumed_kwh", WH),
        ("import_kwh", WH),
        ("export_kwh", WH),
        ("bill_total", WON),
        ("bill_energy", WON),
        ("bill_demand", WON),
        ("re_share", SHARE),
        ("cfe_share", SHARE),
        ("scope2_location_kgco2", WH),
    ):
        x, y = a[key], b[key]
        if x is None or y is None:
            assert x is None and y is None, f"{what}: {key} {x} vs {y}"
        else:
            assert abs(float(x) - float(y)) <= tol, f"{what}: {key} {x} vs {y}"  # type: ignore[arg-type]
    assert a["consumption_kwh"].keys() == b["consumption_kwh"].keys(), what  # type: ignore[attr-defined]


def test_every_surface_gives_the_same_figures(park: Park) -> None:
    with open_store(park.url, migrate=False) as store:
        site = store.load_site()
    tz = site.site.timezone
    for first, end in park.periods:
        last = (pd.Timestamp(end) - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
        lo, hi = local_bound(first, tz), local_bound(end, tz)
        cli = {r["tenant_id"]: r for r in _cli(  # type: ignore[union-attr]
            "account", "--store", park.url, "--start", first, "--end", last, "--json"
        )}  # fmt: skip
        bills = _cli("bill", "--store", park.url, "--start", first, "--end", end, "--json")
        with open_store(park.url, migrate=False) as store:
            core = energy_accounts(store, site, lo, hi)
        assert set(cli) == {t.id for t in site.tenants} | {None}
        for owner, acc in core.items():
            what = f"{site.site.id} {owner or 'park'} {first}..{end}"
            path = f"/tenants/{owner}/accounts" if owner else "/park/accounts"
            response = park.client.get(f"/api/v1{path}", params={"start": first, "end": end})
            assert response.status_code == 200, response.text
            api = response.json()
            _same(cli[owner], api, what)
            assert abs(api["consumption_total_kwh"] - acc.consumption_total_kwh) <= WH
            # every tenant consumes something, the data centre included
            assert acc.consumption_total_kwh > 0, what
            meter = owner or site.site.id
            mine = [b for b in bills if b["meter"] == meter]  # type: ignore[union-attr,index]
            assert abs(sum(b["total"] for b in mine) - api["bill_total"]) <= WON, what
            assert abs(sum(b["energy_kwh"] for b in mine) - api["import_kwh"]) <= WH, what
            # query: stored totals per kind add up to the account's consumption by kind
            zoned = (lo.isoformat(), hi.isoformat())
            for kind, kwh in api["consumption_kwh"].items():
                who = ["--tenant", owner] if owner else ["--park"]
                rows = _cli(
                    "query", "--store", park.url, *who, "--kind", kind, "--resolution", "1h",
                    "--start", zoned[0], "--end", zoned[1], "--json",
                )  # fmt: skip
                total = sum(r["value"] for r in rows)  # type: ignore[union-attr,index]
                assert abs(total - kwh) <= WH, f"{what}: query {kind}"
        park_acc = core[None]
        assert park_acc.generation_kwh > 0 and park_acc.re_share is not None
        assert park_acc.re_share > 0  # the industrial park's site-level PV counts


def test_report_summary_is_the_accounts(park: Park) -> None:
    """The HTML/PNG report's figures are the accounts' over all stored data."""
    from bitgaram.account.energy import data_bounds
    from bitgaram.report import read_park_summary

    with open_store(park.url, migrate=False) as store:
        site = store.load_site()
        summary = read_park_summary(store, site)
        core = energy_accounts(store, site, *data_bounds(store, site))
    assert abs(summary.load_kwh - core[None].consumption_total_kwh) <= WH
    assert abs(summary.pv_kwh - core[None].generation_kwh) <= WH
    assert abs(summary.grid_import_kwh - core[None].import_kwh) <= WH
    for t in summary.tenants:
        assert abs(t.load_kwh - core[t.tenant_id].consumption_total_kwh) <= WH
        assert t.load_kwh > 0  # the data centre too
