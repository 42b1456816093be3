"""Reading CityLearn 2022 datasets: any dataset in the format, clear errors on bad ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bitgaram.datasets.citylearn import infer_start_timestamp, read_citylearn
from bitgaram.errors import DataError


def _copy(sample: Path, tmp_path: Path) -> Path:
    target = tmp_path / "ds"
    shutil.copytree(sample, target)
    return target


def test_sample_park_energies_match_the_source_files(sample_park_dir: Path) -> None:
    ds = read_citylearn(sample_park_dir)
    schema = json.loads((sample_park_dir / "schema.json").read_text())
    assert ds.building_names == list(schema["buildings"])
    assert ds.load_matrix().shape == (8760, 5)
    for b in ds.buildings:
        raw = pd.read_csv(sample_park_dir / f"{b.name}.csv")
        kwp = schema["buildings"][b.name]["pv"]["attributes"]["nominal_power"]
        assert np.allclose(b.load_kwh, raw["non_shiftable_load"])
        assert np.allclose(b.pv_kwh, kwp * raw["solar_generation"] / 1000.0)
        assert b.battery is not None and b.battery.capacity_kwh == 6.4
    # Row 0 is hour 24 of Sunday 31 July: the interval 23:00-24:00, labelled by its start.
    assert ds.index[0] == pd.Timestamp("2022-07-31 23:00")
    assert (ds.index.day_of_week + 1 == ds.calendar["day_type"]).all()


def test_a_subset_of_buildings_and_steps_is_read(sample_park_dir: Path, tmp_path: Path) -> None:
    ds_dir = _copy(sample_park_dir, tmp_path)
    schema = json.loads((ds_dir / "schema.json").read_text())
    schema["buildings"]["Building_2"]["include"] = False
    del schema["buildings"]["Building_3"]["electrical_storage"]
    schema["simulation_start_time_step"] = 100
    schema["simulation_end_time_step"] = 299
    (ds_dir / "schema.json").write_text(json.dumps(schema))
    ds = read_citylearn(ds_dir)
    assert ds.building_names == ["Building_1", "Building_3", "Building_4", "Building_5"]
    assert ds.n_steps == 200 and len(ds.price) == 200
    assert ds.buildings[1].battery is None
    full = read_citylearn(sample_park_dir)
    assert ds.index[0] == full.index[100]
    assert np.array_equal(ds.buildings[0].load_kwh, full.buildings[0].load_kwh[100:300])


def test_a_bad_value_names_file_line_and_column(sample_park_dir: Path, tmp_path: Path) -> None:
    ds_dir = _copy(sample_park_dir, tmp_path)
    frame = pd.read_csv(ds_dir / "Building_4.csv")
    frame["non_shiftable_load"] = frame["non_shiftable_load"].astype(object)
    frame.loc[41, "non_shiftable_load"] = "n/a"
    frame.to_csv(ds_dir / "Building_4.csv", index=False)
    with pytest.raises(DataError, match=r"Building_4\.csv: line 43, column 'non_shiftable_load'"):
        read_citylearn(ds_dir)


def test_missing_schema_and_missing_column_are_clear(sample_park_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no schema\.json"):
        read_citylearn(tmp_path)
    ds_dir = _copy(sample_park_dir, tmp_path)
    pd.read_csv(ds_dir / "Building_1.csv").drop(columns="solar_generation").to_csv(
        ds_dir / "Building_1.csv", index=False
    )
    with pytest.raises(DataError, match=r"Building_1\.csv: missing column 'solar_generation'"):
        read_citylearn(ds_dir)


@pytest.mark.parametrize("start", ["2019-03-14 05:00", "2024-12-30 00:00", "2031-07-01 12:00"])
def test_the_year_is_inferred_from_the_calendar(start: str) -> None:
    index = pd.date_range(start, periods=24 * 70, freq="h")
    calendar = pd.DataFrame(
        {
            "month": index.month,
            "hour": index.hour + 1,  # hour h is the interval ending at h:00
            "day_type": index.day_of_week + 1,
        }
    )
    got = infer_start_timestamp(calendar)
    # Weekdays repeat every 28 years at most; the month/day must match exactly.
    assert (got.month, got.day, got.hour) == (index[0].month, index[0].day, index[0].hour)
    assert got.day_of_week == index[0].day_of_week


def test_without_a_month_change_weekdays_still_match() -> None:
    index = pd.date_range("2023-03-09 00:00", periods=24 * 10, freq="h")  # within March
    calendar = pd.DataFrame(
        {"month": index.month, "hour": index.hour + 1, "day_type": index.day_of_week + 1}
    )
    got = infer_start_timestamp(calendar)
    assert got.month == 3 and got.day_of_week == index[0].day_of_week and got.hour == 0


def test_a_building_selection_reads_only_those_buildings(
    sample_park_dir: Path, tmp_path: Path
) -> None:
    ds_dir = _copy(sample_park_dir, tmp_path)
    # Without its file, Building_2 can only be left out if it is never read.
    (ds_dir / "Building_2.csv").unlink()
    with pytest.raises(DataError, match=r"Building_2\.csv"):
        read_citylearn(ds_dir)
    chosen = ["Building_4", "Building_1", "Building_3"]
    ds = read_citylearn(ds_dir, buildings=chosen)
    # Schema order, whatever the order asked.
    assert ds.building_names == ["Building_1", "Building_3", "Building_4"]
    # The same dataset as a schema that includes only them.
    schema = json.loads((sample_park_dir / "schema.json").read_text())
    for name, spec in schema["buildings"].items():
        spec["include"] = name in chosen
    (ds_dir / "schema.json").write_text(json.dumps(schema))
    same = read_citylearn(ds_dir)
    assert same.building_names == ds.building_names
    assert np.array_equal(ds.load_matrix(), same.load_matrix())
    assert np.array_equal(ds.pv_matrix(), same.pv_matrix())
    assert ds.index.equals(same.index) and np.array_equal(ds.price, same.price)
    assert [b.battery for b in ds.buildings] == [b.battery for b in same.buildings]
    # A named building is read even when the schema excludes it.
    assert read_citylearn(ds_dir, buildings=["Building_5"]).building_names == ["Building_5"]


def test_an_unknown_building_in_the_selection_is_named(sample_park_dir: Path) -> None:
    with pytest.raises(DataError, match=r"'Building_9'.*the schema has Building_1, Building_2"):
        read_citylearn(sample_park_dir, buildings=["Building_1", "Building_9"])
    with pytest.raises(DataError, match="empty"):
        read_citylearn(sample_park_dir, buildings=[])
    # One name as a plain string is one building, not its characters.
    assert read_citylearn(sample_park_dir, buildings="Building_2").building_names == ["Building_2"]
