"""A stored site as replay data: the imported sample park, and a generic metered site."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bitgaram.assets.battery import CITYLEARN_EFFICIENCY_CURVE
from bitgaram.collect.citylearn import import_citylearn
from bitgaram.errors import ConfigError, DataError, StoreError
from bitgaram.simulate import simulate
from bitgaram.simulate.controllers import RuleController
from bitgaram.simulate.from_store import MAX_GAP_STEPS, MIN_STEPS, site_from_store
from bitgaram.simulate.site import SiteData
from bitgaram.site.model import parse_site
from bitgaram.store import Store, open_store
from bitgaram.tariff import load_tariff

OVERRIDES = Path(__file__).resolve().parents[2] / "data" / "sample_park.toml"


@pytest.fixture(scope="module")
def park_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A DuckDB file holding the imported sample park (a full year, 5 buildings)."""
    from bitgaram.collect.citylearn import sample_park_dir

    path = str(tmp_path_factory.mktemp("park") / "park.duckdb")
    with open_store(path) as store:
        import_citylearn(store, sample_park_dir(), OVERRIDES)
    return path


def _same_series(a: SiteData, b: SiteData) -> None:
    assert a.index.equals(b.index)
    for name in ("load_kwh", "pv_kwh", "price", "carbon", "pv_kwp"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=0, atol=1e-9)


def test_store_site_equals_the_citylearn_site(park_store: str, citylearn_site: SiteData) -> None:
    with open_store(park_store) as store:
        full = site_from_store(store)
        start = pd.Timestamp("2023-01-10 08:00", tz="UTC")  # 00:00 local standard time
        window = site_from_store(store, start=start, days=3)
    assert full.data.names == tuple(n.lower() for n in citylearn_site.names)
    _same_series(full.data, citylearn_site)
    measured = list(full.data.weather.columns)
    assert len(measured) == 4
    np.testing.assert_allclose(
        full.data.weather.to_numpy(), citylearn_site.weather[measured].to_numpy(), atol=1e-9
    )
    assert full.sources["price"] == "meter fontana-price"
    assert full.sources["carbon"] == "meter fontana-carbon_intensity"
    # A Californian site: its load forecasts take US public holidays, not Korean ones.
    assert full.data.holiday_country == "US" and full.sources["holidays"] == "US"
    assert window.data.holiday_country == "US"
    # The window: same arrays as slicing the dataset at that hour.
    first = int(citylearn_site.index.get_loc(pd.Timestamp("2023-01-10 00:00")))
    assert (window.start, window.end) == (start, start + pd.Timedelta(days=3))
    _same_series(window.data, citylearn_site.slice(first, first + 72))
    # Default 'asset' physics: the schema's round trip 0.9 at every power, full power.
    fleet = window.data.fleet()
    assert fleet is not None
    np.testing.assert_allclose(fleet.capacity_kwh, 6.4)
    np.testing.assert_allclose(fleet.nominal_power_kw, 5.0)
    assert fleet.efficiency_curve == ((0.0, pytest.approx(0.9)), (1.0, pytest.approx(0.9)))


def test_last_days_by_default_and_citylearn_physics_match_the_dataset_run(
    park_store: str, citylearn_site: SiteData
) -> None:
    with open_store(park_store) as store:
        last = site_from_store(store, days=3, battery_model="citylearn")
    n = citylearn_site.n_steps
    assert last.data.n_steps == 72
    _same_series(last.data, citylearn_site.slice(n - 72, n))
    fleet = last.data.fleet()
    assert fleet is not None and fleet.efficiency_curve == CITYLEARN_EFFICIENCY_CURVE
    # Same physics up to the capacity fade (not stored): the rule's schedule agrees.
    ours = simulate(last.data, RuleController())
    theirs = simulate(citylearn_site.slice(n - 72, n), RuleController())
    np.testing.assert_allclose(ours.battery_kwh, theirs.battery_kwh, atol=1e-3)
    assert ours.score.score == pytest.approx(theirs.score.score, abs=1e-4)


def test_too_little_history_and_an_empty_store_are_refused(park_store: str, tmp_path: Path) -> None:
    with open_store(park_store) as store, pytest.raises(DataError, match="too little history"):
        site_from_store(store, end="2022-08-02 07:00")
    with open_store(park_store) as store, pytest.raises(DataError, match="--end or --days"):
        site_from_store(store, start="2022-09-01", end="2022-09-05", days=2)
    with open_store(str(tmp_path / "empty.duckdb")) as store, pytest.raises(StoreError):
        site_from_store(store)


# -- a generic site: grid meters, a tariff, a carbon factor -------------------------------

SITE = {
    "site": {
        "id": "cheomdan",
        "name": "Cheomdan test park",
        "timezone": "Asia/Seoul",
        "tariff": {"name": "kepco-industrial-eul-high-a", "option": "II"},
    },
    "tenants": [{"id": "acme", "name": "ACME"}, {"id": "bolt", "name": "Bolt"}],
    "meters": [
        {"id": "acme-import", "tenant": "acme", "kind": "grid_import", "unit": "kWh",
         "resolution": "15min"},
        {"id": "acme-export", "tenant": "acme", "kind": "grid_export", "unit": "kWh",
         "resolution": "15min"},
        {"id": "acme-pv", "tenant": "acme", "kind": "pv", "unit": "kWh", "resolution": "15min"},
        {"id": "bolt-load", "tenant": "bolt", "kind": "load", "unit": "kW", "resolution": "1h"},
        {"id": "park-import", "kind": "grid_import", "unit": "kWh", "resolution": "15min"},
    ],
    "assets": [
        {"type": "battery", "id": "acme-ess", "tenant": "acme", "capacity_kwh": 500,
         "power_kw": 250, "charge_efficiency": 0.95, "discharge_efficiency": 0.96,
         "soc_min": 0.1, "soc_max": 0.9, "initial_soc": 0.5},
        {"type": "pv", "id": "acme-pv-array", "tenant": "acme", "kwp": 300},
    ],
}  # fmt: skip

START = pd.Timestamp("2026-06-01 00:00", tz="UTC")


def _generic(store: Store, hours: int = 72, gap: int = 0, site: dict | None = None) -> None:
    """Save the site and ``hours`` of readings (15-min kWh, hourly kW); ``gap`` hours missing."""
    store.save_site(parse_site(site or SITE))
    quarter = pd.date_range(START, periods=hours * 4, freq="15min")
    hourly = pd.date_range(START, periods=hours, freq="h")
    k = np.arange(hours * 4)
    series = {
        "acme-import": (quarter, 50 + 10 * np.sin(k / 7.0)),
        "acme-export": (quarter, np.where(k % 96 == 50, 5.0, 0.0)),
        "acme-pv": (quarter, np.clip(20 * np.sin((k % 96 - 24) / 48 * np.pi), 0, None)),
        "park-import": (quarter, np.full(hours * 4, 999.0)),
        "bolt-load": (hourly, 80 + np.arange(hours) % 5),
    }
    rows = []
    for meter, (ts, values) in series.items():
        keep = np.ones(len(ts), dtype=bool)
        if gap and meter == "bolt-load":
            keep[10 : 10 + gap] = False
        rows.append(pd.DataFrame({"meter_id": meter, "ts": ts[keep], "value": values[keep],
                                  "quality": 0}))  # fmt: skip
    store.write_readings(pd.concat(rows, ignore_index=True))


def test_generic_site_from_grid_meters_tariff_and_grid_factor() -> None:
    with open_store(":memory:") as store:
        _generic(store)
        built = site_from_store(store)
        raw = store.read_readings(resolution="1h")
    data = built.data
    # The park's own import meter is not a building: the tenants are metered.
    assert data.names == ("acme", "bolt") and data.n_steps == 72
    hourly = raw.pivot_table(index="ts", columns="meter_id", values="value")
    np.testing.assert_allclose(
        data.load_kwh[:, 0],
        hourly["acme-import"] - hourly["acme-export"] + hourly["acme-pv"],
        atol=1e-9,
    )
    np.testing.assert_allclose(data.pv_kwh[:, 0], hourly["acme-pv"], atol=1e-9)
    np.testing.assert_allclose(data.load_kwh[:, 1], 80 + np.arange(72) % 5, atol=1e-9)
    assert data.pv_kwh[:, 1].sum() == 0 and list(data.pv_kwp) == [300.0, 0.0]
    # Index: Korea standard time; price: the tariff's energy rate at those hours.
    assert data.index[0] == pd.Timestamp("2026-06-01 09:00")
    tariff = load_tariff("kepco-industrial-eul-high-a", option="II")
    np.testing.assert_allclose(data.price, tariff.energy_rate(data.index), rtol=0, atol=1e-12)
    assert len(np.unique(data.price)) > 1
    np.testing.assert_allclose(data.carbon, 0.4173)  # kr-grid-2023, the latest for 2026
    assert built.sources["carbon"] == "factor kr-grid-2023"
    assert data.holiday_country == "KR"  # Asia/Seoul
    # The ESS: its usable window (80 % of 500 kWh), starting at 40 % of it.
    bat = data.batteries[0]
    assert data.batteries[1] is None and bat is not None
    assert bat.capacity_kwh == pytest.approx(400.0)
    assert bat.initial_soc_kwh == pytest.approx(200.0)
    assert bat.efficiency_curve[0][1] == pytest.approx(0.95 * 0.96)


def test_short_gaps_are_interpolated_and_long_ones_named() -> None:
    with open_store(":memory:") as store:
        _generic(store, gap=MAX_GAP_STEPS)
        filled = site_from_store(store).data
        assert filled.load_kwh[10 : 10 + MAX_GAP_STEPS, 1] == pytest.approx(
            np.interp(np.arange(10, 13), [9, 13], [80 + 9 % 5, 80 + 13 % 5])
        )
    with open_store(":memory:") as store:
        _generic(store, gap=MAX_GAP_STEPS + 1)
        with pytest.raises(DataError, match=r"'bolt-load' misses 4 of 72.*2026-06-01 10:00"):
            site_from_store(store)


def test_sites_without_battery_or_price_are_refused() -> None:
    no_battery = {**SITE, "assets": [a for a in SITE["assets"] if a["type"] != "battery"]}
    with open_store(":memory:") as store:
        _generic(store, site=no_battery)
        with pytest.raises(DataError, match="has no battery"):
            site_from_store(store)
    no_price = {**SITE, "site": {k: v for k, v in SITE["site"].items() if k != "tariff"}}
    with open_store(":memory:") as store:
        _generic(store, site=no_price)
        with pytest.raises(ConfigError, match="no price meter and no tariff"):
            site_from_store(store)
    with open_store(":memory:") as store:
        _generic(store, hours=MIN_STEPS - 1)
        with pytest.raises(DataError, match=f"47 hourly steps.*at least {MIN_STEPS}"):
            site_from_store(store)


@pytest.mark.postgres
def test_postgres_store_gives_the_same_site_data(postgres_server: str) -> None:
    import uuid

    import psycopg

    schema = f"simstore_{uuid.uuid4().hex[:10]}"
    sep = "&" if "?" in postgres_server else "?"
    try:
        with open_store(f"{postgres_server}{sep}schema={schema}") as pg:
            _generic(pg)
            theirs = site_from_store(pg, days=2).data
    finally:
        with psycopg.connect(postgres_server.split("?")[0], autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    with open_store(":memory:") as duck:
        _generic(duck)
        ours = site_from_store(duck, days=2).data
    assert theirs.n_steps == 48 and theirs.names == ours.names
    _same_series(theirs, ours)
