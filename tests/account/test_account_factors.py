"""Dated grid factors are data, selectable per reporting year."""

from __future__ import annotations

from pathlib import Path

import pytest

from bitgaram.account.factors import grid_factor_for_year, load_grid_factors
from bitgaram.errors import ConfigError


def test_packaged_factors_hold_the_reference_values() -> None:
    by_id = {f.id: f.value_kg_per_kwh for f in load_grid_factors()}
    assert by_id["kr-grid-2023"] == 0.4173
    assert by_id["kr-grid-2022"] == 0.4312
    assert by_id["kr-grid-2021"] == 0.4509


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        (2021, "kr-grid-2021"),
        (2022, "kr-grid-2022"),
        (2023, "kr-grid-2023"),
        (2026, "kr-grid-2023"),
    ],
)
def test_latest_factor_not_after_the_year(year: int, expected: str) -> None:
    assert grid_factor_for_year(year).id == expected


def test_factor_by_id_and_errors() -> None:
    assert grid_factor_for_year(2023, factor_id="kr-ets-2014-2016").value_kg_per_kwh == 0.45941
    with pytest.raises(ConfigError, match="unknown grid factor"):
        grid_factor_for_year(2023, factor_id="nope")
    with pytest.raises(ConfigError, match="no dated grid factor"):
        grid_factor_for_year(2015)


def test_custom_factor_file(tmp_path: Path) -> None:
    path = tmp_path / "f.toml"
    path.write_text('[[factor]]\nid = "x-2030"\ndata_year = 2030\nvalue = 0.1\n')
    pool = load_grid_factors(path)
    assert grid_factor_for_year(2031, pool).value_kg_per_kwh == 0.1
    path.write_text('[[factor]]\nid = "bad"\nvalue = "high"\n')
    with pytest.raises(ConfigError, match="numeric 'value'"):
        load_grid_factors(path)
