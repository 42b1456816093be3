"""Tariff files: the shipped ones load, broken ones raise ConfigError naming file and field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bitgaram.errors import ConfigError
from bitgaram.tariff import list_tariffs, load_tariff, read_tariff_file
from bitgaram.tariff.load import _shipped

EUL = _shipped()["kepco_industrial_eul_high_a"]


def test_shipped_tariffs_are_listed() -> None:
    specs = list_tariffs()
    assert set(specs) == {"kepco-industrial-eul-high-a", "kepco-industrial-gap2-high-a"}
    assert specs["kepco-industrial-eul-high-a"].options == ["I", "II", "III"]
    assert specs["kepco-industrial-gap2-high-a"].options == ["I", "II"]


def test_names_stems_and_paths_resolve_to_the_same_tariff() -> None:
    by_name = load_tariff("kepco-industrial-eul-high-a", "III")
    by_stem = load_tariff("kepco_industrial_eul_high_a", "III")
    by_path = load_tariff(EUL, "III")
    month = pd.Period("2026-09", "M")
    assert by_name.demand_rate(month) == by_stem.demand_rate(month) == by_path.demand_rate(month)
    assert by_name.demand_rate(month) == 9810.0


def test_unknown_tariff_and_option() -> None:
    with pytest.raises(ConfigError, match="unknown tariff 'nope'"):
        load_tariff("nope", "I")
    with pytest.raises(ConfigError, match="no option 'IV'"):
        load_tariff("kepco-industrial-eul-high-a", "IV")
    with pytest.raises(ConfigError, match="choose one"):
        load_tariff("kepco-industrial-eul-high-a")


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = EUL.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "broken.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('peak = ["11-12", "13-18"] }', 'peak = ["11-12", "13-17"] }', r"versions\[0\]\.seasons"),
        ("demand = 7220.0", 'demand = "a lot"', r"versions\[0\]\.rates\.I\.demand"),
        ("floor_fraction = 0.30", "floor_fraction = 1.30", r"demand\.floor_fraction"),
        ("months = [6, 7, 8]", "months = [7, 8]", r"versions\[0\]: .*cover months 1-12"),
        ('excluded_periods = ["light"]', 'excluded_periods = ["night"]', "excluded_periods"),
        ("fraction = 0.5", "fraction = 1.5", r"discounts\[0\]\.fraction"),
    ],
)
def test_invalid_file_names_file_and_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    path = _broken(tmp_path, old, new)
    with pytest.raises(ConfigError, match=field) as info:
        read_tariff_file(path)
    assert str(path) in str(info.value)


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_tariff_file(bad)
    with pytest.raises(ConfigError, match="not found"):
        read_tariff_file(tmp_path / "absent.toml")


GENERIC = """
name = "example-usd"
currency = "USD"
options = ["flat"]
periods = ["off", "on"]
[demand]
excluded_periods = ["off"]
[[versions]]
effective = 2026-01-01
[versions.seasons.all]
months = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
weekday = { off = ["20-07"], on = ["07-20"] }
saturday = { off = ["00-24"] }
holiday = { off = ["00-24"] }
[versions.rates.flat]
demand = 10.0
energy.all = { off = 0.10, on = 0.30 }
[[versions]]
effective = 2026-04-16
[versions.seasons.all]
months = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
weekday = { off = ["20-07"], on = ["07-20"] }
saturday = { off = ["00-24"] }
holiday = { off = ["00-24"] }
[versions.rates.flat]
demand = 20.0
energy.all = { off = 0.12, on = 0.36 }
"""


def test_generic_tou_tariff_in_another_currency(tmp_path: Path) -> None:
    path = tmp_path / "example.toml"
    path.write_text(GENERIC, encoding="utf-8")
    t = load_tariff(path)  # single option: no need to name it
    assert t.currency == "USD"
    # No holiday calendar: 2026-05-05 (a Korean holiday, Tuesday) is a plain weekday.
    rates = t.energy_rate(["2026-01-05 08:00", "2026-01-05 21:00", "2026-05-05 08:00"])
    np.testing.assert_allclose(rates, [0.30, 0.10, 0.36])
    # April 2026: 15 days at 10 and 15 days at 20 per kW-month.
    assert t.demand_rate(pd.Period("2026-04", "M")) == pytest.approx(15.0)
    assert t.demand_rate(pd.Period("2026-05", "M")) == 20.0


def test_pyproject_ships_tariff_data() -> None:
    import tomllib

    root = Path(__file__).resolve().parents[2]
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["bitgaram"]
    assert "tariff/data/*.toml" in patterns
