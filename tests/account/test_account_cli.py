"""``bitgaram account`` on CSV files: ledgers, progress and reports per tenant and park."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

# Register commands without importing every capability (keeps the test fast); with two or more
# commands Typer keeps the command name in the arguments.
from bitgaram.cli import account as _account  # noqa: F401
from bitgaram.cli import app
from bitgaram.cli import citylearn as _citylearn  # noqa: F401
from bitgaram.cli import verify as _verify  # noqa: F401


def test_account_csv(tmp_path: Path) -> None:
    idx = pd.date_range("2023-01-01", periods=48, freq="h")
    pd.DataFrame(
        {"timestamp": idx.strftime("%Y-%m-%d %H:%M"), "a": 10.0, "b": 5.0, "carbon_intensity": 0.5}
    ).to_csv(tmp_path / "load.csv", index=False)
    pd.DataFrame({"timestamp": idx.strftime("%Y-%m-%d %H:%M"), "a": 4.0}).to_csv(
        tmp_path / "pv.csv", index=False
    )
    (tmp_path / "inst.csv").write_text(
        "id,tenant,kind,volume_mwh,start,end\nr,b,rec,0.24,2023-01-01,2023-01-02\n"
    )
    out = tmp_path / "out"
    args = ["account", "--csv", str(tmp_path / "load.csv"), "--onsite", str(tmp_path / "pv.csv")]
    args += ["--instruments", str(tmp_path / "inst.csv"), "--residual-factor", "0.5"]
    args += ["--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    annual = pd.read_csv(out / "annual.csv").set_index("name")
    assert annual.loc["a", "re_share"] == pytest.approx(0.4)
    assert annual.loc["b", "re_share"] == pytest.approx(1.0)  # 240 kWh REC over 240 kWh
    assert annual.loc["a", "location_kgco2"] == pytest.approx(48 * 6 * 0.4173)
    assert annual.loc["a", "market_kgco2"] == pytest.approx(48 * 6 * 0.5)
    assert annual.loc["park", "consumption_kwh"] == pytest.approx(48 * 15)
    progress = pd.read_csv(out / "progress.csv")
    park = progress[progress["name"] == "park"]
    assert set(park["target_year"]) == {2030, 2035}
    assert park["gap_mwh"].iloc[0] == pytest.approx((720 - 192 - 240) / 1000)
    assert (out / "a.html").is_file() and (out / "park.html").is_file()


def test_unknown_tenant_in_instruments(tmp_path: Path) -> None:
    idx = pd.date_range("2023-01-01", periods=4, freq="h")
    pd.DataFrame({"timestamp": idx.strftime("%Y-%m-%d %H:%M"), "a": 1.0}).to_csv(
        tmp_path / "load.csv", index=False
    )
    (tmp_path / "i.csv").write_text(
        "id,tenant,kind,volume_mwh,start,end\nr,zz,rec,1,2023-01-01,2023-01-02\n"
    )
    args = ["account", "--csv", str(tmp_path / "load.csv"), "--instruments"]
    args += [str(tmp_path / "i.csv"), "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert "unknown tenant" in str(result.exception)
