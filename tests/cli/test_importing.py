"""``bitgaram import`` and ``bitgaram quarantine list`` end to end on a DuckDB file."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from click.testing import Result

from bitgaram.errors import ConfigError
from bitgaram.store import open_store

Invoke = Callable[..., Result]

SITE_TOML = textwrap.dedent(
    """
    [site]
    id = "cliprk"
    name = "CLI park"
    timezone = "Asia/Seoul"

    [[tenants]]
    id = "acme"
    name = "ACME"

    [[meters]]
    id = "acme-load"
    tenant = "acme"
    kind = "load"
    unit = "kWh"
    """
)


def _files(tmp_path: Path) -> tuple[Path, Path]:
    site = tmp_path / "site.toml"
    site.write_text(SITE_TOML)
    stamps = pd.date_range("2024-05-01", periods=12, freq="h").strftime("%Y-%m-%d %H:%M")
    lines = ["timestamp,meter,value"] + [f"{t},acme-load,{i + 1}" for i, t in enumerate(stamps)]
    lines[4] = "2024-05-01 03:00,acme-load,-7"
    lines[9] = "2024-05-01 08:00,ghost,1"
    csv = tmp_path / "readings.csv"
    csv.write_text("\n".join(lines) + "\n")
    return site, csv


def test_import_reports_counts_and_lists_bad_rows(tmp_path: Path, invoke: Invoke) -> None:
    site, csv = _files(tmp_path)
    db = str(tmp_path / "cli.duckdb")

    result = invoke("import", str(csv), "--site", str(site), "--store", db)
    assert result.exit_code == 0, result.output
    assert "12 rows read" in result.output
    assert "10 new" in result.output and "2 quarantined" in result.output
    assert "negative" in result.output and "unknown_meter" in result.output

    again = invoke("import", str(csv), "--store", db)  # the site is in the store now
    assert again.exit_code == 0, again.output
    assert "0 new" in again.output and "10 unchanged" in again.output
    assert "0 quarantined" in again.output

    listed = invoke("quarantine", "list", "--store", db)
    assert listed.exit_code == 0, listed.output
    assert f"2 quarantined rows (newest first) from {csv.resolve()}" in listed.output
    rows = [line for line in listed.output.splitlines() if "acme-load" in line or "ghost" in line]
    assert len(rows) == 2
    # captured output is not a terminal: the table comes as CSV (bitgaram.cli.output)
    cells = [[c.strip() for c in re.split(r"[,│]", r)] for r in rows]
    assert any("5" in c and "negative" in r and "-7" in c for c, r in zip(cells, rows, strict=True))
    assert any(
        "10" in c and "unknown_meter" in r and "ghost" in c
        for c, r in zip(cells, rows, strict=True)
    )

    one = invoke("quarantine", "list", "--store", db, "--limit", "1", "--source", str(csv))
    assert one.exit_code == 0 and "1 quarantined rows" in one.output
    none = invoke("quarantine", "list", "--store", db, "--source", "elsewhere.csv")
    assert "no quarantined rows from elsewhere.csv" in none.output
    with open_store(db) as store:
        assert store.count_readings() == 10


def test_import_without_a_site_says_how_to_fix_it(tmp_path: Path, invoke: Invoke) -> None:
    _, csv = _files(tmp_path)
    result = invoke("import", str(csv), "--store", str(tmp_path / "empty.duckdb"))
    assert isinstance(result.exception, ConfigError)
    assert "--site" in str(result.exception)
    bad_format = invoke("import", str(csv), "--format", "diagonal", "--store", ":memory:")
    assert bad_format.exit_code == 2 and "long" in bad_format.output


def test_import_citylearn_with_overrides(
    tmp_path: Path, invoke: Invoke, sample_park_dir: Path
) -> None:
    overrides = Path(__file__).resolve().parents[2] / "data" / "sample_park.toml"
    db = str(tmp_path / "cl.duckdb")
    args = ("import", "citylearn", str(sample_park_dir), "--overrides", str(overrides))
    result = invoke(*args, "--store", db)
    assert result.exit_code == 0, result.output
    assert "site fontana" in result.output and "5 tenants" in result.output
    assert "America/Los_Angeles" in result.output
    assert "140,160 new" in result.output
    again = invoke(*args, "--store", db)
    assert "140,160 unchanged" in again.output and "0 new" in again.output
