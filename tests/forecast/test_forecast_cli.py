"""``bitgaram forecast backtest`` on a 5-week cut of the sample park."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

import bitgaram.cli.forecast  # noqa: F401  (registers the commands)
from bitgaram.cli import app

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "citylearn_2022_phase_1"


def test_backtest_writes_report_scores_and_plots(tmp_path: Path) -> None:
    data = tmp_path / "park"
    shutil.copytree(SAMPLE, data)
    schema = json.loads((data / "schema.json").read_text())
    schema["simulation_end_time_step"] = 24 * 33 - 1
    schema["buildings"] = dict(list(schema["buildings"].items())[:2])
    (data / "schema.json").write_text(json.dumps(schema))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["forecast", "backtest", "--citylearn", str(data), "--out", str(out), "--country", "US"],
    )
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out / "scores.csv")
    assert {"bitgaram_lightgbm", "bitgaram_pvlib_lightgbm", "best_baseline"} <= set(scores["model"])
    assert set(scores["horizon"]) == {1, 6, 24}
    assert set(scores["series"]) == {"Building_1", "Building_2", "all"}
    ref = scores[(scores["model"] == "best_baseline") & (scores["target"] == "load")]
    assert (ref["skill"].abs() < 1e-12).all()  # the reference has zero skill against itself
    assert (scores["mae"] >= 0).all()
    assert (out / "load_week.png").stat().st_size > 0 and (out / "pv_week.png").exists()
    assert "skill" in (out / "report.md").read_text()
