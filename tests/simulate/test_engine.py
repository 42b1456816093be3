"""The replay engine: baseline, energy balance, SoC bounds, controllers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitgaram.assets.battery import BatteryParams
from bitgaram.errors import DataError
from bitgaram.simulate import SiteData, simulate
from bitgaram.simulate.controllers import NoBatteryController, RuleController
from bitgaram.simulate.engine import Observation


class RandomController:
    """Random requests from a fixed sequence (any sign, beyond the limits)."""

    def __init__(self, requests: np.ndarray) -> None:
        self.name = "random"
        self.requests = requests

    def prepare(self, site: SiteData) -> None:
        pass

    def act(self, obs: Observation) -> np.ndarray:
        assert obs.load_kwh.shape[0] == obs.t  # sees the past only
        return self.requests[obs.t]


def _site(
    load: np.ndarray, pv: np.ndarray, batteries: tuple[BatteryParams | None, ...]
) -> SiteData:
    n, b = load.shape
    return SiteData(
        names=tuple(f"B{i}" for i in range(b)),
        index=pd.date_range("2022-01-01", periods=n, freq="h"),
        load_kwh=load,
        pv_kwh=pv,
        price=np.linspace(0.1, 0.4, n),
        carbon=np.full(n, 0.4),
        batteries=batteries,
        pv_kwp=np.full(b, 4.0),
    )


def test_none_scores_exactly_one(citylearn_site: SiteData) -> None:
    res = simulate(citylearn_site.slice(0, 24 * 14), NoBatteryController())
    assert res.score.score == 1.0
    assert np.array_equal(res.net_kwh, citylearn_site.slice(0, 24 * 14).net_load_kwh)


def test_rule_controller_reduces_cost(citylearn_site: SiteData) -> None:
    site = citylearn_site.slice(0, 24 * 14)
    res = simulate(site, RuleController())
    assert res.score.price_cost < 1.0
    assert res.kpis.self_consumption > res.baseline.self_consumption


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 48),
    seed=st.integers(0, 10_000),
    scale=st.floats(0.1, 20.0),
)
def test_energy_balance_and_soc_bounds_every_step(n: int, seed: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    load = rng.uniform(0, 5, (n, 3))
    pv = rng.uniform(0, 4, (n, 3))
    batteries = (BatteryParams(6.4, 5.0, 1e-5), None, BatteryParams(2.0, 1.0, initial_soc_kwh=1.0))
    requests = rng.normal(0, scale, (n, 2))
    res = simulate(_site(load, pv, batteries), RandomController(requests))
    assert np.allclose(res.net_kwh, load - pv + res.battery_kwh)
    assert np.all(res.battery_kwh[:, 1] == 0)
    caps = np.array([6.4, 0.0, 2.0])
    assert np.all(res.soc_kwh >= -1e-9)
    assert np.all(res.soc_kwh <= caps + 1e-9)
    # Stored energy changes only by what the battery exchanged (losses make it smaller).
    for j, soc0 in ((0, 0.0), (2, 1.0)):
        prev = np.r_[soc0, res.soc_kwh[:-1, j]]
        delta = res.soc_kwh[:, j] - prev
        assert np.all(delta <= np.clip(res.battery_kwh[:, j], 0, None) + 1e-9)
        assert np.all(np.sign(delta) * np.sign(res.battery_kwh[:, j]) >= 0)


def test_wrong_action_shape_raises() -> None:
    site = _site(np.ones((4, 1)), np.zeros((4, 1)), (BatteryParams(1.0, 1.0),))
    with pytest.raises(DataError, match="expected 1"):
        simulate(site, RandomController(np.ones((4, 2))))


def test_subset_keeps_the_chosen_buildings_in_order(citylearn_site: SiteData) -> None:
    part = citylearn_site.slice(0, 48).subset([3, 1])
    assert part.names == (citylearn_site.names[3], citylearn_site.names[1])
    np.testing.assert_array_equal(part.load_kwh[:, 0], citylearn_site.load_kwh[:48, 3])
    np.testing.assert_array_equal(part.pv_kwh[:, 1], citylearn_site.pv_kwh[:48, 1])
    assert part.pv_kwp.tolist() == [citylearn_site.pv_kwp[3], citylearn_site.pv_kwp[1]]
    assert len(part.batteries) == 2
    with pytest.raises(DataError, match=r"not in 0\.\.4"):
        citylearn_site.subset([5])
