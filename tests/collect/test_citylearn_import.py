"""CityLearn import: site mapping, idempotence, energy totals, overrides, other datasets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bitgaram.collect import citylearn as citylearn_import
from bitgaram.collect.citylearn import (
    citylearn_site,
    import_citylearn,
    load_overrides,
)
from bitgaram.datasets.citylearn import read_citylearn
from bitgaram.errors import ConfigError
from bitgaram.site.model import BatteryAsset, MeterKind, PVAsset
from bitgaram.store import open_store

OVERRIDES = Path(__file__).resolve().parents[2] / "data" / "sample_park.toml"


def test_sample_park_paths_resolve_from_the_package(sample_park_dir: Path) -> None:
    assert citylearn_import.sample_park_dir() == sample_park_dir.resolve()
    assert citylearn_import.sample_overrides_file() == OVERRIDES.resolve()


def test_sample_park_imports_twice_with_identical_counts_and_exact_totals(
    tmp_path: Path, sample_park_dir: Path
) -> None:
    with open_store(str(tmp_path / "park.duckdb")) as store:
        site, first = import_citylearn(store, sample_park_dir, OVERRIDES)
        count = store.count_readings()
        n_quarantined = len(store.list_quarantine(limit=1_000))
        _, second = import_citylearn(store, sample_park_dir, OVERRIDES)
        assert store.count_readings() == count == first.inserted == 16 * 8760
        assert len(store.list_quarantine(limit=1_000)) == n_quarantined == 0
        assert second.inserted == 0 and second.unchanged == count

        load = store.tenant_totals("load", resolution="1h")
        pv = store.tenant_totals("pv", resolution="1h")
        park_load = store.park_totals("load", resolution="1h")

    # Source sums straight from the CSVs, without the reader under test.
    schema = json.loads((sample_park_dir / "schema.json").read_text())
    expected_park = np.zeros(8760)
    for name, spec in schema["buildings"].items():
        csv = pd.read_csv(sample_park_dir / spec["energy_simulation"])
        kwp = spec["pv"]["attributes"]["nominal_power"]
        tenant = name.lower()
        got_load = load[load["tenant_id"] == tenant].sort_values("ts")["value"].to_numpy()
        got_pv = pv[pv["tenant_id"] == tenant].sort_values("ts")["value"].to_numpy()
        np.testing.assert_allclose(got_load, csv["non_shiftable_load"], rtol=0, atol=1e-6)
        np.testing.assert_allclose(got_pv, kwp * csv["solar_generation"] / 1000, rtol=0, atol=1e-6)
        expected_park += csv["non_shiftable_load"].to_numpy()
    np.testing.assert_allclose(
        park_load.sort_values("ts")["value"].to_numpy(), expected_park, rtol=0, atol=1e-6
    )
    # Interval starts: the first row is hour 24 of 31 July, local standard time (UTC-8).
    assert park_load["ts"].min() == pd.Timestamp("2022-08-01 07:00", tz="UTC")
    assert site.site.id == "fontana"
    assert site.site.timezone == "America/Los_Angeles"
    assert (site.site.latitude, site.site.longitude) == (34.09, -117.44)


def test_site_model_of_the_sample(sample_park_dir: Path) -> None:
    dataset = read_citylearn(sample_park_dir)
    site = citylearn_site(dataset)
    assert site.site.id == "citylearn_2022_phase_1" and site.site.timezone == "UTC"
    assert [t.id for t in site.tenants] == [f"building_{i}" for i in range(1, 6)]
    kinds = [m.kind for m in site.meters_of(None)]
    assert kinds[:2] == [MeterKind.PRICE, MeterKind.CARBON_INTENSITY]
    assert kinds.count(MeterKind.WEATHER) == 4
    batteries = [a for a in site.assets if isinstance(a, BatteryAsset)]
    assert len(batteries) == 5
    assert batteries[0].capacity_kwh == 6.4 and batteries[0].power_kw == 5.0
    # Round-trip 0.9 split evenly between charge and discharge.
    assert batteries[0].charge_efficiency * batteries[0].discharge_efficiency == pytest.approx(0.9)
    schema = json.loads((sample_park_dir / "schema.json").read_text())
    expected_kwp = [b["pv"]["attributes"]["nominal_power"] for b in schema["buildings"].values()]
    assert [a.kwp for a in site.assets if isinstance(a, PVAsset)] == expected_kwp


def _small_dataset(root: Path, sample: Path, rows: int = 72) -> Path:
    """Two renamed buildings, one without PV or battery, and a shorter period."""
    root.mkdir()
    for name in ("weather.csv", "pricing.csv", "carbon_intensity.csv"):
        pd.read_csv(sample / name).head(rows).to_csv(root / name, index=False)
    a = pd.read_csv(sample / "Building_1.csv").head(rows)
    b = pd.read_csv(sample / "Building_2.csv").head(rows)
    a.to_csv(root / "office a.csv", index=False)
    b.to_csv(root / "Plant-B.csv", index=False)
    common = {"weather": "weather.csv", "pricing": "pricing.csv",
              "carbon_intensity": "carbon_intensity.csv"}  # fmt: skip
    schema = {
        "seconds_per_time_step": 3600,
        "simulation_start_time_step": 2,
        "simulation_end_time_step": rows - 1,
        "buildings": {
            "Office A": {"include": True, "energy_simulation": "office a.csv", **common,
                         "pv": {"attributes": {"nominal_power": 120.0}},
                         "electrical_storage": {"attributes": {"capacity": 200,
                                                               "nominal_power": 100}}},
            "Plant-B": {"include": True, "energy_simulation": "Plant-B.csv", **common},
            "Skipped": {"include": False, "energy_simulation": "none.csv", **common},
        },
    }  # fmt: skip
    (root / "schema.json").write_text(json.dumps(schema))
    return root


def test_another_dataset_in_the_same_format(tmp_path: Path, sample_park_dir: Path) -> None:
    root = _small_dataset(tmp_path / "My Park", sample_park_dir)
    overrides = tmp_path / "o.toml"
    overrides.write_text('[site]\nid = "seoul-test"\ntimezone = "Asia/Seoul"\n')
    with open_store(":memory:") as store:
        site, report = import_citylearn(store, root, overrides)
        assert [t.id for t in site.tenants] == ["office_a", "plant-b"]
        assert [m.id for m in site.meters_of("plant-b")] == ["seoul-test-plant-b-load"]
        pv_meter = site.meter("seoul-test-office_a-pv")
        assert pv_meter.max_value == pytest.approx(1.5 * 120.0)
        # 70 steps (rows 2..71) of 2 price/carbon + 4 weather + 2 + 1 building meters.
        assert report.readings == 70 * 9 == report.inserted
        load = store.read_readings(["seoul-test-office_a-load"])
        source = pd.read_csv(root / "office a.csv")["non_shiftable_load"].iloc[2:72]
        np.testing.assert_allclose(load.sort_values("ts")["value"], source, atol=1e-9)
        # Seoul has no DST: local = UTC+9 all year.
        ds = read_citylearn(root)
        assert load["ts"].min() == (ds.index[0] - pd.Timedelta(hours=9)).tz_localize("UTC")


def test_bad_values_in_a_dataset_are_quarantined_with_file_and_line(
    tmp_path: Path, sample_park_dir: Path
) -> None:
    root = _small_dataset(tmp_path / "dirty", sample_park_dir)
    weather = pd.read_csv(root / "weather.csv")
    weather.loc[10, "outdoor_relative_humidity"] = 250.0  # not a humidity
    weather.to_csv(root / "weather.csv", index=False)
    with open_store(":memory:") as store:
        _, report = import_citylearn(store, root)
        bad = store.list_quarantine()
        assert report.quarantined == 1 == len(bad)
        row = bad.iloc[0]
        assert row["source"] == str(root / "weather.csv")
        assert row["line"] == 12  # row 10 of the data, after the header
        assert row["reason"].startswith("out_of_bounds")
        _, again = import_citylearn(store, root)
        assert again.quarantined == 0 and len(store.list_quarantine()) == 1


def test_invalid_overrides_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[site]\nlatitude = 123\ncolour = "red"\n')
    with pytest.raises(ConfigError) as err:
        load_overrides(bad)
    assert "site.latitude" in str(err.value) and "site.colour" in str(err.value)
    assert load_overrides(OVERRIDES).site.id == "fontana"


def test_a_copy_of_the_sample_elsewhere_imports_the_same(
    tmp_path: Path, sample_park_dir: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(sample_park_dir, copy)
    assert citylearn_site(read_citylearn(copy)).site.id == "copy"


def test_series_the_schema_does_not_name_are_not_invented(
    tmp_path: Path, sample_park_dir: Path
) -> None:
    root = _small_dataset(tmp_path / "bare", sample_park_dir)
    schema = json.loads((root / "schema.json").read_text())
    for spec in schema["buildings"].values():
        spec.pop("pricing")
        spec.pop("carbon_intensity")
    (root / "schema.json").write_text(json.dumps(schema))
    site = citylearn_site(read_citylearn(root))
    kinds = {m.kind for m in site.meters}
    assert MeterKind.PRICE not in kinds and MeterKind.CARBON_INTENSITY not in kinds
    with open_store(":memory:") as store:
        _, report = import_citylearn(store, root)
        assert report.inserted == 70 * 7  # 4 weather + 2 + 1 building meters
