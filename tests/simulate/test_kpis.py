"""KPIs and the CityLearn 2022 score."""

from __future__ import annotations

import numpy as np
import pytest

from bitgaram.simulate.kpis import citylearn_score, load_factor_kpi, site_kpis


def test_price_cost_is_clipped_at_district_level_and_emissions_per_building() -> None:
    net = np.array([[2.0, -1.0], [-3.0, 1.0]])
    price = np.array([1.0, 2.0])
    carbon = np.array([0.5, 0.5])
    k = site_kpis(net, price, carbon)
    assert k.price_cost == pytest.approx(1.0)  # district 1.0 then -2.0 (clipped)
    assert k.emission_cost == pytest.approx(0.5 * 2.0 + 0.5 * 1.0)
    assert k.ramping == pytest.approx(3.0)


def test_load_factor_uses_blocks() -> None:
    e = np.r_[np.full(730, 1.0), np.r_[np.full(729, 1.0), 2.0]]
    lf = load_factor_kpi(e)
    second = 1.0 - (729 + 2) / 730 / 2.0
    assert lf == pytest.approx((0.0 + second) / 2)


def test_score_is_mean_of_ratios() -> None:
    base = site_kpis(np.array([[1.0], [3.0], [1.0], [2.0]]), np.ones(4), np.ones(4))
    run = site_kpis(np.array([[1.0], [2.0], [1.5], [2.0]]), np.ones(4), np.ones(4))
    s = citylearn_score(run, base)
    c = run.price_cost / base.price_cost
    g = run.emission_cost / base.emission_cost
    d = (run.ramping / base.ramping + run.load_factor / base.load_factor) / 2
    assert s.score == pytest.approx((c + g + d) / 3)
    assert citylearn_score(base, base).score == 1.0
