"""Marginal demand charge for optimisers (piecewise-linear in the month's 15-min peak)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bitgaram.tariff import (
    TouTariff,
    billing_demand,
    demand_charge_slope,
    load_tariff,
    marginal_demand_charge,
)


@pytest.fixture(scope="module")
def eul1() -> TouTariff:
    return load_tariff("kepco-industrial-eul-high-a", option="I")


def test_peak_below_running_billing_demand_is_free(eul1: TouTariff) -> None:
    month = pd.Period("2026-10", "M")
    assert marginal_demand_charge(eul1, month, 800.0, 799.0) == 0.0
    assert marginal_demand_charge(eul1, month, 800.0, 800.0) == 7220.0


def test_ratchet_month_peak_costs_thirteen_months(eul1: TouTariff) -> None:
    # An August kW is billed in August and carried for the 12 following months.
    aug = demand_charge_slope(eul1, pd.Period("2026-08", "M"), 500.0)
    assert (aug.carry_months, aug.rate) == (12, 13 * 7220.0)
    myopic = demand_charge_slope(eul1, pd.Period("2026-08", "M"), 500.0, carry_months=0)
    assert myopic.rate == 7220.0
    assert demand_charge_slope(eul1, pd.Period("2026-11", "M"), 500.0).carry_months == 0


def test_excess_above_contract_and_taxes(eul1: TouTariff) -> None:
    s = demand_charge_slope(eul1, pd.Period("2026-10", "M"), 300.0, contract_kw=1000.0)
    np.testing.assert_allclose(s.marginal([200.0, 999.0, 1000.0]), [0.0, 7220.0, 7220.0 * 2.5])
    # cost(1100) = 800 kW above threshold at 7220 + 100 kW excess at 1.5 * 7220
    assert float(s.cost(1100.0)) == pytest.approx(800 * 7220 + 100 * 10830)
    taxed = demand_charge_slope(
        eul1, pd.Period("2026-10", "M"), 300.0, contract_kw=1000.0, include_taxes=True
    )
    assert taxed.rate == pytest.approx(7220.0 * 1.137)
    # An excess already incurred this month is not charged again below that peak.
    seen = demand_charge_slope(
        eul1, pd.Period("2026-10", "M"), 1200.0, contract_kw=1000.0, month_max_kw=1200.0
    )
    assert float(seen.marginal(1100.0)) == 0.0


def test_slope_matches_the_bill_difference(eul1: TouTariff) -> None:
    """Raising the October peak by 10 kW above the ratchet raises the bill's demand lines by
    exactly the slope's cost."""
    month = pd.Period("2026-10", "M")
    history = {pd.Period("2026-08", "M"): 420.0}
    idx = pd.date_range("2026-10-01", "2026-10-03", freq="15min", inclusive="left")
    base = pd.Series(100.0 / 4, index=idx)
    running = billing_demand(month, history | {month: 100.0}, eul1.demand_rules, 1000.0)
    slope = demand_charge_slope(eul1, month, running.billing_kw, contract_kw=1000.0)
    high = base.copy()
    high[pd.Timestamp("2026-10-01 16:00")] = 430.0 / 4
    (b0,) = eul1.bill(base, contract_kw=1000.0, demand_history=history)
    (b1,) = eul1.bill(high, contract_kw=1000.0, demand_history=history)
    assert b1.amount("demand") - b0.amount("demand") == pytest.approx(float(slope.cost(430.0)))
