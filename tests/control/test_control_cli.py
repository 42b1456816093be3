"""``bitgaram control replay``, ``bitgaram peak status`` and ``bitgaram peak alerts``."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from park_fixtures import park_readings, park_site
from rich.console import Console
from typer.testing import CliRunner

from bitgaram.cli import app
from bitgaram.store import open_store


@pytest.fixture
def store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    from bitgaram.cli import control, peak

    for module in (control, peak):
        monkeypatch.setattr(module, "console", Console(width=200, no_color=True, highlight=False))
    path = tmp_path / "park.duckdb"
    with open_store(path) as store:
        store.save_site(park_site())
        store.write_readings(park_readings())
    return str(path)


def test_replay_then_status_and_alerts(store_path: str) -> None:
    runner = CliRunner()
    args = ["--store", store_path, "--start", "2026-08-04", "--target", "600", "--horizon", "8"]
    out = runner.invoke(app, ["control", "replay", *args])
    assert out.exit_code == 0, out.output
    base, ctrl = (float(x.replace(",", "")) for x in re.findall(r"([\d,.]+) kW", out.output)[:2])
    assert ctrl < base  # the ESS shaves the afternoon bump
    alerts = runner.invoke(app, ["peak", "alerts", "--store", store_path, "--limit", "50"])
    assert alerts.exit_code == 0, alerts.output
    assert "park" in alerts.output and "raised" in alerts.output
    status = runner.invoke(
        app,
        [
            "peak",
            "status",
            "--store",
            store_path,
            "--at",
            "2026-08-04T05:12:00Z",
            "--target",
            "600",
        ],
    )
    assert status.exit_code == 0, status.output

    # 14:12 in Seoul: the 14:00 window, two of three 5-min readings in, bump included.
    # a table on a terminal, CSV when captured (bitgaram.cli.output): read the cells either way
    def cells_of(line: str) -> list[str]:
        if "│" in line or "|" in line:
            return [c.strip() for c in re.split(r"[│|]", line) if c.strip()]
        return [c.strip() for c in next(csv.reader([line]), [])]

    rows = {
        cells[0]: cells[1:]
        for line in status.output.splitlines()
        if len(cells := cells_of(line)) == 7
    }
    window, covered, projected = rows["b"][:3]
    assert (window, covered) == ("14:00", "67%")
    assert float(projected.replace(",", "")) > 300.0  # 180 kW base + 180 kW bump
