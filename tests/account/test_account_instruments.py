"""Renewable instruments from TOML/CSV, and their hourly spread."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bitgaram.account.instruments import (
    Instrument,
    InstrumentKind,
    hourly_delivery,
    read_instruments,
)
from bitgaram.errors import ConfigError

TOML = """
residual_factor = 0.5

[[instrument]]
id = "rec-1"
tenant = "acme"
kind = "rec"
volume_mwh = 8.76
start = 2023-01-01
end = 2023-12-31

[[instrument]]
id = "ppa-1"
tenant = "acme"
kind = "ppa"
volume_mwh = 1.0
start = 2023-06-01
end = 2023-06-30
profile = "pv"
"""


def test_read_toml(tmp_path: Path) -> None:
    path = tmp_path / "i.toml"
    path.write_text(TOML)
    book = read_instruments(path)
    assert book.residual_factor_kg_per_kwh == 0.5
    rec, ppa = book.for_tenant("acme")
    assert rec.kind is InstrumentKind.REC and rec.volume_kwh == pytest.approx(8760.0)
    assert ppa.hourly_matched and not rec.hourly_matched


def test_read_csv_and_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "i.csv"
    path.write_text(
        "id,tenant,kind,volume_mwh,start,end\ngp,beta,green_premium,2,2023-01-01,2023-12-31\n"
    )
    (gp,) = read_instruments(path).instruments
    assert gp.kind is InstrumentKind.GREEN_PREMIUM and gp.end == date(2023, 12, 31)
    path.write_text("id,tenant,kind,volume_mwh,start,end\nx,beta,coal,2,2023-01-01,2023-12-31\n")
    with pytest.raises(ConfigError, match="line 2: kind: "):
        read_instruments(path)
    path.write_text("id,tenant,kind,volume_mwh,start,end\nx,b,rec,2,2023-05-01,2023-01-01\n")
    with pytest.raises(ConfigError, match="before start"):
        read_instruments(path)


def test_flat_delivery_is_pro_rated_to_the_covered_hours() -> None:
    rec = Instrument("r", "t", InstrumentKind.REC, 8760.0, date(2023, 1, 1), date(2023, 12, 31))
    idx = pd.date_range("2022-12-31 22:00", periods=6, freq="h")  # 2 hours before, 4 inside
    out = hourly_delivery(rec, idx)
    assert list(out) == [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]


def test_pv_profile_follows_the_shape() -> None:
    ppa = Instrument("p", "t", InstrumentKind.PPA, 24.0, date(2023, 6, 1), date(2023, 6, 1), "pv")
    idx = pd.date_range("2023-06-01", periods=24, freq="h")
    shape = np.zeros(24)
    shape[10:14] = [1, 2, 2, 1]
    out = hourly_delivery(ppa, idx, shape)
    assert out.sum() == pytest.approx(24.0)
    assert out[11] == pytest.approx(8.0) and out[0] == 0.0
