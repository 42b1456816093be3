"""The energy accounts core: balance rules, units, the park as one connection, DST."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bitgaram.account.energy import (
    account_step,
    energy_account,
    energy_accounts,
    local_bound,
    month_bounds,
)
from bitgaram.api.series import forecast_power_on_axis
from bitgaram.errors import DataError
from bitgaram.site import Site, parse_site
from bitgaram.store import Store, open_store
from bitgaram.verify.inputs import from_store


def _site(meters: list[dict[str, object]], timezone: str = "Asia/Seoul") -> Site:
    return parse_site(
        {
            "site": {
                "id": "p",
                "name": "P",
                "timezone": timezone,
                "tariff": {"name": "kepco-industrial-eul-high-a", "option": "II"},
            },
            "tenants": [{"id": "dc", "name": "DC"}, {"id": "shop", "name": "Shop"}],
            "meters": meters,
        }
    )


def _rows(meter: str, index: pd.DatetimeIndex, values: np.ndarray | float) -> pd.DataFrame:
    return pd.DataFrame(
        {"meter_id": meter, "ts": index.tz_convert("UTC"), "value": values, "quality": 0}
    )


@pytest.fixture
def store() -> Iterator[Store]:
    with open_store(":memory:") as st:
        yield st


DAY = pd.date_range("2026-06-01", periods=96, freq="15min", tz="Asia/Seoul")
SUN = np.where((DAY.hour >= 8) & (DAY.hour < 16), 300.0, 0.0) / 4  # kWh per quarter


def test_data_centre_and_site_pv(store: Store) -> None:
    """A data-centre meter is consumption; site-level PV serves the park's load."""
    site = _site(
        [
            {"id": "dc-load", "tenant": "dc", "kind": "data_centre", "unit": "kWh",
             "resolution": "15min"},
            {"id": "shop-load", "tenant": "shop", "kind": "load", "unit": "kW",
             "resolution": "15min"},
            {"id": "pv", "kind": "pv", "unit": "kWh", "resolution": "15min"},
        ]
    )  # fmt: skip
    store.save_site(site)
    store.write_readings(
        pd.concat(
            [
                _rows("dc-load", DAY, 50.0),  # 200 kW
                _rows("shop-load", DAY, 100.0),  # kW: 25 kWh per quarter
                _rows("pv", DAY, SUN),
            ]
        )
    )
    start, end = local_bound("2026-06-01", "Asia/Seoul"), local_bound("2026-06-02", "Asia/Seoul")
    accs = energy_accounts(store, site, start, end)
    dc, shop, park = accs["dc"], accs["shop"], accs[None]
    assert dc.consumption_kwh == {"data_centre": pytest.approx(96 * 50.0)}
    assert dc.import_kwh == pytest.approx(96 * 50.0) and dc.generation_kwh == 0
    assert dc.peak_demand_kw == pytest.approx(200.0)
    assert dc.bill_total is not None and dc.bill_total > 0 and dc.currency == "KRW"
    assert shop.consumption_kwh == {"load": pytest.approx(96 * 25.0)}  # kW x 0.25 h
    assert park.consumption_kwh == {
        "data_centre": pytest.approx(96 * 50.0),
        "load": pytest.approx(96 * 25.0),
    }
    load = 75.0
    sun = SUN
    assert park.generation_kwh == pytest.approx(sun.sum())
    assert park.self_consumed_kwh == pytest.approx(np.minimum(sun, load).sum())
    assert park.export_kwh == pytest.approx(np.clip(sun - load, 0, None).sum())
    assert park.import_kwh == pytest.approx(np.clip(load - sun, 0, None).sum())
    assert park.re_share == pytest.approx(np.minimum(sun, load).sum() / (96 * load))
    assert park.re_share is not None and park.re_share > 0
    # hourly CFE matches hourly sums: the same here (flat load, whole-hour sun)
    assert park.cfe_share == pytest.approx(park.re_share)
    assert park.self_sufficiency == pytest.approx(park.re_share)
    # the balance closes: consumption + export = import + generation (no battery)
    assert park.consumption_total_kwh + park.export_kwh == pytest.approx(
        park.import_kwh + park.generation_kwh
    )
    # park import nets tenants within the interval: less than the tenants' imports summed
    assert park.import_kwh < dc.import_kwh + shop.import_kwh
    assert energy_account(store, site, start, end, "dc").import_kwh == dc.import_kwh


def test_grid_meters_only_give_derived_consumption(store: Store) -> None:
    site = _site(
        [
            {"id": "dc-in", "tenant": "dc", "kind": "grid_import", "unit": "kWh",
             "resolution": "15min"},
            {"id": "dc-pv", "tenant": "dc", "kind": "pv", "unit": "kWh", "resolution": "15min"},
        ]
    )  # fmt: skip
    store.save_site(site)
    imp = np.clip(40.0 - SUN, 0, None)
    store.write_readings(pd.concat([_rows("dc-in", DAY, imp), _rows("dc-pv", DAY, SUN)]))
    acc = energy_account(store, site, DAY[0], DAY[-1] + pd.Timedelta("15min"), "dc")
    assert acc.import_kwh == pytest.approx(imp.sum())  # measured
    assert acc.consumption_kwh["load"] == pytest.approx(imp.sum() + SUN.sum())
    assert acc.self_consumed_kwh == pytest.approx(SUN.sum())  # nothing exported


def test_coarse_meter_refused() -> None:
    site = _site([{"id": "m", "tenant": "dc", "kind": "load", "unit": "kWh", "resolution": "1D"}])
    with pytest.raises(DataError, match="1D"):
        account_step(site.meters)


@pytest.mark.parametrize(
    ("tz", "day", "hours"),
    [
        ("America/Los_Angeles", "2025-03-09", 23),
        ("America/Los_Angeles", "2025-11-02", 25),
        ("Asia/Seoul", "2025-11-02", 24),
    ],
)
def test_local_days_across_dst(store: Store, tz: str, day: str, hours: int) -> None:
    site = _site(
        [{"id": "m", "tenant": "shop", "kind": "load", "unit": "kWh", "resolution": "1h"}], tz
    )
    store.save_site(site)
    idx = pd.date_range("2025-03-01", "2025-12-01", freq="h", tz="UTC")
    store.write_readings(_rows("m", idx, 2.0))
    start = local_bound(day, tz)
    end = local_bound(pd.Timestamp(day) + pd.Timedelta(days=1), tz)
    acc = energy_account(store, site, start, end, "shop")
    assert acc.intervals == hours
    assert acc.consumption_total_kwh == pytest.approx(2.0 * hours)
    assert acc.bill_total is not None
    assert len(acc.hourly) == hours


def test_month_bounds_are_local() -> None:
    start, end = month_bounds("2023-11", "America/Los_Angeles")
    assert start == pd.Timestamp("2023-11-01 07:00", tz="UTC")
    assert end == pd.Timestamp("2023-12-01 08:00", tz="UTC")
    start, end = month_bounds("2023-11", "Asia/Seoul")
    assert end - start == pd.Timedelta(days=30)


def test_verify_input_across_fall_back(tmp_path: Path) -> None:
    """The store read for verify/account keeps both fall-back hours (no duplicate labels)."""
    site = _site(
        [{"id": "m", "tenant": "shop", "kind": "load", "unit": "kWh", "resolution": "1h"}],
        "America/Los_Angeles",
    )
    url = str(tmp_path / "s.duckdb")
    with open_store(url) as st:
        st.save_site(site)
        idx = pd.date_range("2023-11-04 07:00", "2023-11-07 08:00", freq="h", tz="UTC")
        st.write_readings(_rows("m", idx, np.arange(len(idx), dtype=float)))
    data = from_store(url, "2023-11-05", "2023-11-06")
    index = pd.DatetimeIndex(data.energy_kwh.index)
    assert index.is_unique and len(index) == 25
    assert str(index.tz) == "America/Los_Angeles"


def test_hourly_forecast_on_a_quarter_hour_axis() -> None:
    """An hourly forecast [kWh/h] is drawn as the hour's kW on 15-min slots, not 4x."""
    axis = pd.date_range("2026-06-01", periods=8, freq="15min", tz="UTC")
    stamps = pd.DatetimeIndex(axis[::4]).as_unit("us").asi8
    kw = forecast_power_on_axis(
        stamps, np.array([400.0, 800.0]), np.array(["m", "m"], dtype=object), axis, "15min"
    )
    assert kw.tolist() == [400.0] * 4 + [800.0] * 4
    fine = pd.DatetimeIndex(axis).as_unit("us").asi8
    hourly_axis = axis[::4]
    kw = forecast_power_on_axis(
        fine, np.full(8, 25.0), np.array(["m"] * 8, dtype=object), hourly_axis, "1h"
    )
    assert kw.tolist() == [100.0, 100.0]


def test_ratchet_sees_the_months_before_the_period(store: Store) -> None:
    """August's peak sets October's billing demand, whichever period October is billed in."""
    site = _site([{"id": "m", "tenant": "shop", "kind": "load", "unit": "kWh",
                   "resolution": "15min"}])  # fmt: skip
    store.save_site(site)
    idx = pd.date_range("2026-08-01", "2026-11-01", freq="15min", tz="Asia/Seoul", inclusive="left")
    values = np.full(len(idx), 25.0)  # 100 kW
    values[(idx.month == 8) & (idx.day == 5) & (idx.hour == 14)] = 100.0  # 400 kW, mid-load
    store.write_readings(_rows("m", idx, values))
    october = month_bounds("2026-10", "Asia/Seoul")
    alone = energy_account(store, site, *october, "shop")
    assert alone.peak_demand_kw == pytest.approx(100.0)
    assert alone.billing_demand_kw == pytest.approx(400.0)
    quarter = energy_account(
        store, site, month_bounds("2026-08", "Asia/Seoul")[0], october[1], "shop"
    )
    assert quarter.bills[-1].billing_demand_kw == pytest.approx(400.0)
    assert quarter.bills[-1].total == pytest.approx(alone.bill_total)
    blind = energy_accounts(store, site, *october, ["shop"], park=False, ratchet=False)
    assert blind["shop"].billing_demand_kw == pytest.approx(100.0)
