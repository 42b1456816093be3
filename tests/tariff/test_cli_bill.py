"""``bitgaram bill`` on a readings CSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bitgaram.cli import _register, app
from bitgaram.cli.bill import read_readings_csv
from bitgaram.errors import ConfigError, DataError

_register()
runner = CliRunner()


@pytest.fixture
def readings_csv(tmp_path: Path) -> Path:
    idx = pd.date_range("2026-09-01", "2026-09-03", freq="15min", inclusive="left")
    frames = [
        pd.DataFrame({"tenant": name, "timestamp": idx, "kwh": kw / 4})
        for name, kw in (("plant", 300.0), ("office", 50.0))
    ]
    path = tmp_path / "readings.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


def test_bill_command_prints_and_writes_bills(readings_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "bills.csv"
    result = runner.invoke(
        app,
        [
            "bill",
            str(readings_csv),
            "--option",
            "II",
            "--contract-kw",
            "1000",
            "--tenant-contract",
            "plant=500",
            "--detail",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "park" in result.output and "기본요금" in result.output
    frame = pd.read_csv(out)
    totals = frame[frame["code"] == "demand"].set_index("meter")["quantity"]
    # office 50 kW (no contract), plant 300 kW (floor 150), park 350 kW (floor 300).
    assert totals.to_dict() == {"office": 50.0, "plant": 300.0, "park": 350.0}
    assert set(frame["option"]) == {"II"}


def test_bill_command_errors(readings_csv: Path) -> None:
    result = runner.invoke(app, ["bill", str(readings_csv), "--tariff", "nope", "--option", "I"])
    assert isinstance(result.exception, ConfigError)
    result = runner.invoke(app, ["bill", str(readings_csv), "--option", "I", "--month", "2026-01"])
    assert isinstance(result.exception, DataError)
    result = runner.invoke(
        app, ["bill", str(readings_csv), "--option", "I", "--tenant-contract", "plant"]
    )
    assert isinstance(result.exception, ConfigError)


def test_readings_csv_needs_its_columns(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("meter,when,kwh\na,2026-01-01,1\n", encoding="utf-8")
    with pytest.raises(DataError, match="missing columns"):
        read_readings_csv(path)
    path.write_text("meter,timestamp,kwh\na,2026-01-01,x\n", encoding="utf-8")
    with pytest.raises(DataError, match="row 2"):
        read_readings_csv(path)


def test_list_tariffs() -> None:
    result = runner.invoke(app, ["bill", "--list-tariffs"])
    assert result.exit_code == 0
    assert "kepco-industrial-gap2-high-a" in result.output


def test_demand_all_hours_reads_light_load_peaks(tmp_path: Path) -> None:
    idx = pd.date_range("2026-09-01", "2026-09-02", freq="15min", inclusive="left")
    kwh = pd.Series(25.0, index=idx)
    kwh[pd.Timestamp("2026-09-01 23:00")] = 100.0  # 400 kW in light load
    path = tmp_path / "r.csv"
    pd.DataFrame({"meter": "m", "timestamp": idx, "kwh": kwh.to_numpy()}).to_csv(path, index=False)
    maxima = []
    for extra in ([], ["--demand-all-hours"]):
        out = tmp_path / "out.csv"
        args = ["bill", str(path), "--option", "I", "-o", str(out), *extra]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        frame = pd.read_csv(out)
        maxima.append(
            frame[(frame["code"] == "demand") & (frame["meter"] == "m")]["quantity"].item()
        )
    assert maxima == [100.0, 400.0]
