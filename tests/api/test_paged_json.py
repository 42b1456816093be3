"""The column-wise JSON of paged time points equals what the json module would write."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from bitgaram.api.deps import Page
from bitgaram.api.schemas.common import paged_points


def test_paged_points_match_row_wise_json() -> None:
    ts = pd.date_range("2025-05-01", periods=7, freq="15min", tz="Asia/Seoul")
    kwh = np.array([1.5, np.nan, 1e-7, 1e20, -0.0, 2 / 3, 5.0])
    odd = np.array([1.0, 2.0, 3.0, np.inf, 5.0, 6.0, 7.0])
    response = paged_points(ts, {"kwh": kwh, 'k"%w': odd}, 99, Page(50, 3))
    body = json.loads(response.body)
    keep = np.isfinite(kwh) & np.isfinite(odd)
    expected = [
        {"ts": t.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"), "kwh": a, 'k"%w': b}
        for t, a, b in zip(ts[keep], kwh[keep].tolist(), odd[keep].tolist(), strict=True)
    ]
    assert body == {"items": expected, "total": 99, "limit": 50, "offset": 3}
    micros = ts.tz_convert("UTC").as_unit("us").asi8
    same = paged_points(micros, {"kwh": kwh, 'k"%w': odd}, 99, Page(50, 3))
    assert same.body == response.body


def test_paged_points_without_rows_or_columns() -> None:
    empty = paged_points(pd.DatetimeIndex([], tz="UTC"), {"value": np.array([])}, 0, Page(10, 0))
    assert json.loads(empty.body) == {"items": [], "total": 0, "limit": 10, "offset": 0}
    ts = pd.date_range("2025-05-01", periods=2, freq="1h", tz="UTC")
    stamps = json.loads(paged_points(ts, {}, 2, Page(10, 0)).body)["items"]
    assert stamps == [{"ts": "2025-05-01T00:00:00Z"}, {"ts": "2025-05-01T01:00:00Z"}]
