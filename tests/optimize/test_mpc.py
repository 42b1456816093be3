"""The MPC and oracle controllers on short slices of the CityLearn data."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bitgaram.optimize.mpc import MPCConfig, MPCController, _nan_quantiles, _peak_outlook
from bitgaram.optimize.oracle import OracleController
from bitgaram.simulate import SiteData, simulate


def test_mpc_with_forecast_models_is_causal(citylearn_site: SiteData) -> None:
    """Changing load and PV from hour T on leaves every action before T unchanged."""
    site = citylearn_site.slice(24 * 30, 24 * 36).subset([0, 1])
    t_change = 24 * 4 + 7
    load = site.load_kwh.copy()
    pv = site.pv_kwh.copy()
    load[t_change:] *= 1.8
    pv[t_change:] = pv[t_change:] * 0.3 + 0.2
    changed = replace(site, load_kwh=load, pv_kwh=pv)
    cfg = MPCConfig(horizon=24, n_scenarios=3, source="models")
    a = simulate(site, MPCController(cfg))
    b = simulate(changed, MPCController(cfg))
    assert np.array_equal(a.battery_kwh[:t_change], b.battery_kwh[:t_change])
    assert not np.array_equal(a.battery_kwh[t_change:], b.battery_kwh[t_change:])


def test_mpc_with_perfect_forecasts_beats_no_battery(citylearn_site: SiteData) -> None:
    site = citylearn_site.slice(0, 24 * 7).subset([0, 1])
    res = simulate(site, MPCController(MPCConfig(horizon=24, n_scenarios=1, source="perfect")))
    assert res.score.score < 0.9
    assert np.all(res.soc_kwh <= 6.4 + 1e-9)


def test_oracle_is_a_bound_for_mpc_on_a_week(citylearn_site: SiteData) -> None:
    site = citylearn_site.slice(0, 24 * 7).subset([0, 1])
    oracle = simulate(site, OracleController())
    naive = simulate(site, MPCController(MPCConfig(horizon=24, n_scenarios=3, source="naive")))
    assert oracle.score.score < 1.0
    assert oracle.score.score < naive.score.score + 0.02


def test_nan_quantiles_match_numpy() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 6, 3))
    x[:4, 2, 1] = np.nan
    x[:, 5, 0] = np.nan
    levels = np.array([0.1, 0.5, 0.9])
    with pytest.warns(RuntimeWarning):
        expected = np.nan_to_num(np.nanquantile(x, levels, axis=0))
    assert np.allclose(_nan_quantiles(x, levels), expected)


def test_peak_outlook_is_the_quantile_of_the_maximum_of_the_remaining_days() -> None:
    days = np.zeros((28, 24))
    days[:, 18] = np.arange(1.0, 29.0)  # daily maxima 1 .. 28 kWh
    measured = np.concatenate([np.zeros(24 * 3), days.ravel()])
    # One day left: the median of the daily maxima.
    assert _peak_outlook(measured, 24, 0.5) == pytest.approx(14.5)
    # Four weeks left: the maximum of 28 days exceeds the level with even odds.
    level = _peak_outlook(measured, 24 * 28, 0.5)
    assert level == pytest.approx(np.quantile(np.arange(1.0, 29.0), 0.5 ** (1 / 28)))
    assert 27.0 < level < 28.0
    # A lower probability level gives a lower outlook; nothing left or too little history: none.
    assert _peak_outlook(measured, 24, 0.25) < 14.5
    assert _peak_outlook(measured, 0, 0.5) == -np.inf
    assert _peak_outlook(measured[-24 * 6 :], 24, 0.5) == -np.inf
