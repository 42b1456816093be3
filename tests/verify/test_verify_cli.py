"""``bitgaram verify`` on a CSV: savings per meter and tenant, rejection, report files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

# Register commands without importing every capability (keeps the test fast); with two or more
# commands Typer keeps the command name in the arguments.
from bitgaram.cli import account as _account  # noqa: F401
from bitgaram.cli import app
from bitgaram.cli import citylearn as _citylearn  # noqa: F401
from bitgaram.cli import verify as _verify  # noqa: F401


@pytest.fixture
def meters_csv(tmp_path: Path) -> Path:
    idx = pd.date_range("2024-01-01", periods=8 * 168, freq="h")
    rng = np.random.default_rng(7)
    busy = (idx.day_of_week < 5) & (idx.hour >= 8) & (idx.hour < 18)
    temp = 10 + 5 * np.sin(np.arange(len(idx)) * 2 * np.pi / 24) + rng.normal(0, 1, len(idx))
    m1 = np.where(busy, 40.0, 10.0) + rng.normal(0, 1.0, len(idx))
    m1[idx >= "2024-01-29"] *= 0.9  # the retrofit
    m2 = np.where(busy, 20.0, 8.0) + rng.normal(0, 1.0, len(idx))
    noisy = np.repeat(rng.uniform(0, 10, 56), 24)  # day-to-day swings no driver explains
    frame = pd.DataFrame(
        {
            "timestamp": idx.strftime("%Y-%m-%d %H:%M"),
            "temperature_c": temp,
            "price": 120.0,
            "m1": m1,
            "m2": m2,
            "noisy": noisy,
        }
    )
    path = tmp_path / "meters.csv"
    frame.to_csv(path, index=False)
    (tmp_path / "tenants.csv").write_text("meter,tenant\nm1,acme\nm2,acme\nnoisy,beta\n")
    return path


def test_verify_csv(meters_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [
        "verify",
        "--csv",
        str(meters_csv),
        "--tenants",
        str(tmp_path / "tenants.csv"),
        "--baseline-start",
        "2024-01-01",
        "--baseline-end",
        "2024-01-28",
        "--reporting-start",
        "2024-01-29",
        "--reporting-end",
        "2024-02-25",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "FAIL" in result.output  # the noisy meter's baseline is rejected, not used
    savings = pd.read_csv(out / "savings.csv")
    m1 = savings[savings["meter"] == "m1"].iloc[0]
    truth = m1["reporting_kwh"] / 0.9 * 0.1
    assert abs(m1["avoided_kwh"] - truth) <= m1["uncertainty_kwh"]
    noisy = savings[savings["meter"] == "noisy"].iloc[0]
    assert not noisy["baseline_accepted"] and np.isnan(noisy["avoided_kwh"])
    acme = savings[(savings["tenant"] == "acme") & savings["meter"].isna()].iloc[0]
    both = savings[savings["meter"].isin(["m1", "m2"])]["avoided_kwh"].sum()
    assert acme["avoided_kwh"] == pytest.approx(both)
    assert "beta" not in set(savings[savings["meter"].isna()]["tenant"])
    baselines = pd.read_csv(out / "baselines.csv")
    assert {"cv_rmse", "nmbe", "verdict"} <= set(baselines.columns)
    assert (out / "report.html").is_file() and (out / "m1_savings.png").is_file()
    assert "REJECTED" in (out / "report.html").read_text()


def test_verify_needs_one_input(tmp_path: Path) -> None:
    args = ["verify", "--baseline-start", "2024-01-01", "--baseline-end", "2024-01-02"]
    args += ["--reporting-start", "2024-01-03", "--reporting-end", "2024-01-04"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert "exactly one input" in str(result.exception)
