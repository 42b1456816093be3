"""Monthly bills line by line, against hand computations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitgaram.errors import DataError
from bitgaram.tariff import PriceSeriesTariff, TouTariff, bill_park, bills_to_frame, load_tariff

SAMPLE_PARK = Path(__file__).resolve().parents[2] / "data" / "citylearn_2022_phase_1"


@pytest.fixture(scope="module")
def eul1() -> TouTariff:
    return load_tariff("kepco-industrial-eul-high-a", option="I")


def flat(start: str, end: str, kw: float, freq: str = "15min") -> pd.Series:
    idx = pd.date_range(start, end, freq=freq, inclusive="left")
    hours = pd.Timedelta(pd.tseries.frequencies.to_offset(freq)) / pd.Timedelta("1h")
    return pd.Series(kw * hours, index=idx)


def test_complete_october_bill_by_hand(eul1: TouTariff) -> None:
    """A constant 100 kW through October 2026, an 420 kW August peak, contract 1000 kW.

    October 2026 (spring/fall, table of 2026-04-16): 31 days from Thursday the 1st.
    Holidays: Sundays 4, 11, 18, 25, National Foundation Day Sat 3, its substitute Mon 5,
    Hangul Day Fri 9 -> 7 holiday days; plain Saturdays 10, 17, 24, 31 -> 4; weekdays 20.
    Hours: light 20*10 + 4*10 + 7*24 = 408, mid 20*8 + 4*14 = 216, peak 20*6 = 120 (= 744).
    Weekend 11-14 h discount: 4 Saturdays x 3 h mid, 7 holidays x 3 h light, 50 %.
    """
    energy = flat("2026-10-01", "2026-11-01", 100.0)
    (bill,) = eul1.bill(energy, contract_kw=1000.0, demand_history={pd.Period("2026-08"): 420.0})
    assert bill.month == pd.Period("2026-10", "M")
    assert (bill.max_demand_kw, bill.billing_demand_kw) == (100.0, 420.0)
    assert bill.billing_demand_basis == "ratchet"
    expected = {
        "demand": 420 * 7220,  # 3,032,400
        "energy_light": 40_800 * 121.5,  # 4,957,200
        "energy_mid": 21_600 * 138.9,  # 3,000,240
        "energy_peak": 12_000 * 156.4,  # 1,876,800
        "discount_weekend_midday": -(1_200 * 138.9 + 2_100 * 121.5) / 2,  # -210,915
        "climate_environment": 74_400 * 9,  # 669,600
        "fuel_cost_adjustment": 74_400 * 5,  # 372,000
    }
    assert [ln.code for ln in bill.lines] == list(expected)
    for code, amount in expected.items():
        assert bill.amount(code) == pytest.approx(amount, abs=1e-6), code
    assert bill.line("energy_mid").quantity == pytest.approx(21_600)
    assert bill.subtotal == 13_697_325
    assert bill.fund == 506_800  # 506,801.025 truncated to 10 KRW
    assert bill.vat == 1_369_733  # 1,369,732.5 rounded half up
    assert bill.total == 15_573_850  # 15,573,858 truncated to 10 KRW
    frame = bill.to_frame()
    assert frame["amount"].iloc[-1] == bill.total
    assert frame["code"].tolist()[-4:] == ["subtotal", "fund", "vat", "total"]


def test_ratchet_carries_an_august_peak_and_floor_applies(eul1: TouTariff) -> None:
    energy = flat("2026-07-01", "2026-12-01", 100.0)
    energy[pd.Timestamp("2026-08-04 16:00")] = 150.0  # 600 kW over 15 min, peak hours
    energy[pd.Timestamp("2026-10-06 23:00")] = 250.0  # 1000 kW in light load: not read
    bills = eul1.bill(energy, contract_kw=2000.0)
    billed = {str(b.month): (b.billing_demand_kw, b.billing_demand_basis) for b in bills}
    assert billed == {
        "2026-07": (600.0, "floor"),  # 30 % of 2000 kW > 100 kW
        "2026-08": (600.0, "current"),  # 600 kW = floor: the month itself wins ties
        "2026-09": (600.0, "ratchet"),
        "2026-10": (600.0, "ratchet"),
        "2026-11": (600.0, "ratchet"),
    }
    assert bills[2].amount("demand") == 600 * 7220
    bills = eul1.bill(energy, contract_kw=1000.0)
    assert [b.billing_demand_kw for b in bills] == [300.0, 600.0, 600.0, 600.0, 600.0]


def test_contract_excess_surcharge(eul1: TouTariff) -> None:
    energy = flat("2026-09-01", "2026-09-02", 200.0)
    energy[pd.Timestamp("2026-09-01 16:00")] = 100.0  # 400 kW
    (bill,) = eul1.bill(energy, contract_kw=300.0)
    line = bill.line("demand_excess")
    assert (line.quantity, line.amount) == (100.0, 100 * 7220 * 1.5)
    (repeat,) = eul1.bill(energy, contract_kw=300.0, excess_multiplier=2.0)
    assert repeat.amount("demand_excess") == 100 * 7220 * 2.0
    (within,) = eul1.bill(energy, contract_kw=500.0)
    assert "demand_excess" not in [ln.code for ln in within.lines]


def test_energy_is_priced_by_the_version_in_force(eul1: TouTariff) -> None:
    energy = flat("2026-04-15", "2026-04-17", 0.0, freq="h")
    energy[pd.Timestamp("2026-04-15 11:00")] = 10.0  # peak before 2026-04-16
    energy[pd.Timestamp("2026-04-16 11:00")] = 20.0  # mid from 2026-04-16
    with pytest.raises(DataError, match="coarser"):
        eul1.bill(energy)
    (bill,) = eul1.bill(energy, allow_hourly_demand=True)
    assert bill.line("energy_peak").quantity == 10.0
    assert bill.line("energy_mid").quantity == 20.0
    assert bill.amount("energy_peak") == pytest.approx(1564.0)  # 10 * 156.4


def test_park_bill_uses_the_coincident_peak(eul1: TouTariff) -> None:
    a = flat("2026-09-01", "2026-09-02", 100.0)
    a[pd.Timestamp("2026-09-01 10:00")] = 50.0  # 200 kW
    b = flat("2026-09-01", "2026-09-02", 50.0)
    b[pd.Timestamp("2026-09-01 16:00")] = 37.5  # 150 kW
    readings = pd.concat(
        [
            pd.DataFrame({"meter": "A", "timestamp": a.index, "kwh": a.to_numpy()}),
            pd.DataFrame({"meter": "B", "timestamp": b.index, "kwh": b.to_numpy()}),
        ]
    )
    result = bill_park(eul1, readings, contract_kw=1000.0, tenant_contract_kw={"A": 400.0})
    tenants = {t.meter: t for t in result.tenants}
    (park,) = result.park
    assert tenants["A"].max_demand_kw == 200.0
    assert tenants["B"].max_demand_kw == 150.0
    assert park.max_demand_kw == 250.0  # not 350: the peaks do not coincide
    assert park.billing_demand_kw == 300.0  # 30 % floor of the park's 1000 kW
    assert tenants["A"].billing_demand_kw == 200.0  # floor 120 kW
    assert tenants["B"].billing_demand_kw == 150.0  # no contract given: no floor
    assert park.energy_kwh == tenants["A"].energy_kwh + tenants["B"].energy_kwh
    for code in ("energy_light", "energy_mid", "energy_peak"):
        assert park.amount(code) == pytest.approx(
            tenants["A"].amount(code) + tenants["B"].amount(code), abs=1.0
        )
    frame = result.to_frame()
    assert set(frame["meter"]) == {"A", "B", "park"}


def test_price_series_tariff_bills_energy_only() -> None:
    prices = pd.Series(
        np.r_[np.full(24, 0.10), np.full(24, 0.20)],
        index=pd.date_range("2026-01-01", periods=48, freq="h"),
    )
    t = PriceSeriesTariff(name="prices", currency="USD", prices=prices)
    assert t.energy_rate(["2026-01-01 23:45", "2026-01-02 00:00"]).tolist() == [0.10, 0.20]
    (bill,) = t.bill(flat("2026-01-01", "2026-01-03", 4.0))  # 1 kWh per 15 min
    assert bill.total == pytest.approx(96 * 0.10 + 96 * 0.20)
    assert [ln.code for ln in bill.lines] == ["energy_energy"]
    with pytest.raises(DataError, match="no price"):
        t.energy_rate(["2026-01-03 00:00"])


def test_citylearn_prices_are_looked_up_exactly() -> None:
    from bitgaram.datasets.citylearn import read_citylearn

    ds = read_citylearn(SAMPLE_PARK)
    t = PriceSeriesTariff.from_citylearn(ds)
    np.testing.assert_array_equal(t.energy_rate(ds.index), ds.price)


def test_unusable_readings_are_refused(eul1: TouTariff) -> None:
    energy = flat("2026-09-01", "2026-09-02", 100.0)
    energy.iloc[3] = -1.0
    with pytest.raises(DataError, match="negative energy"):
        eul1.bill(energy)
    with pytest.raises(DataError, match="priced by time-of-use period"):
        eul1.bill(flat("2026-09-01", "2026-09-03", 100.0, freq="2h"), allow_hourly_demand=True)
    with pytest.raises(DataError, match="indexed by timestamps"):
        eul1.bill(pd.Series([1.0, 2.0]))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0, 500), min_size=96 * 2, max_size=96 * 2))
def test_bill_invariants(eul1: TouTariff, kw: list[float]) -> None:
    idx = pd.date_range("2026-05-01", periods=len(kw), freq="15min")
    energy = pd.Series(np.asarray(kw) / 4, index=idx)
    (bill,) = eul1.bill(energy, contract_kw=1000.0)
    energy_lines = [ln for ln in bill.lines if ln.code.startswith("energy_")]
    assert sum(ln.quantity for ln in energy_lines) == pytest.approx(energy.sum())
    assert bill.subtotal == sum(ln.amount for ln in bill.lines)
    assert bill.billing_demand_kw >= 300.0
    assert abs(bill.total - bill.subtotal * 1.137) <= 20.0
    assert bills_to_frame([bill])["amount"].iloc[-1] == bill.total


def test_price_series_flat_demand_rate() -> None:
    prices = pd.Series(0.2, index=pd.date_range("2026-01-01", periods=24 * 31, freq="h"))
    t = PriceSeriesTariff(name="p", currency="USD", prices=prices, flat_demand_rate=12.0)
    energy = flat("2026-01-01", "2026-01-02", 40.0)
    energy.iloc[10] = 20.0  # 80 kW
    (bill,) = t.bill(energy)
    assert (bill.line("demand").quantity, bill.amount("demand")) == (80.0, 80.0 * 12.0)
