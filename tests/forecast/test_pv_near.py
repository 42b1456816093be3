"""The PV near-horizon models: clear-sky-index features, read before the origin only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bitgaram.forecast.base import actual_matrix, rolling_forecast
from bitgaram.forecast.gbm import LightGBMParams
from bitgaram.forecast.metrics import mae
from bitgaram.forecast.pv import (
    DEFAULT_NEAR_STEPS,
    MIN_CLEAR_POA,
    NEAR_LAGS,
    PVForecaster,
    SolarGeometry,
)

SMALL = LightGBMParams(num_boost_round=30, min_data_in_leaf=20)
KWP = 5.0
SITE = (35.5, 129.3, "Asia/Seoul")


def _model(**kwargs: object) -> PVForecaster:
    return PVForecaster(*SITE, kwp={"roof": KWP}, params=SMALL, quantiles=(), **kwargs)  # type: ignore[arg-type]


def _sky_series(index: pd.DatetimeIndex, clear_index: np.ndarray) -> pd.DataFrame:
    """Output [kWh] = kWp x clear-sky index x modelled clear-sky POA [kW/m2]."""
    model = _model()
    model.fitted_geometry = SolarGeometry(*SITE)
    clear = model._sky_for(index, len(index)).clear_poa[: len(index)]
    return pd.DataFrame({"roof": KWP * clear_index * clear / 1000.0}, index=index)


def _near(model: PVForecaster, y: pd.DataFrame, o: np.ndarray, k: np.ndarray) -> pd.DataFrame:
    index = pd.DatetimeIndex(y.index)
    sky = model._sky_for(index, len(y) + int(k.max()) + 1)
    names, blocks = model._near_features(y, o, k, sky)
    return pd.DataFrame(blocks[0], columns=names)


def test_near_features_are_the_clear_sky_index_of_the_last_hours() -> None:
    index = pd.date_range("2024-05-01", periods=24 * 20, freq="h")
    ci = np.where(np.arange(len(index)) < 24 * 18 + 11, 0.8, 0.4)  # clouds from 11:00 on day 18
    y = _sky_series(index, ci)
    model = _model().fit(y, None)
    clear = model._sky_for(index, len(index) + 24).clear_poa
    o = np.full(6, 24 * 18 + 13)  # 13:00, two hours into the clouds
    k = np.arange(6)
    f = _near(model, y, o, k)
    assert [f"clear_index_lag{i}" for i in range(1, NEAR_LAGS + 1)] == list(f.columns[:NEAR_LAGS])
    np.testing.assert_allclose(f["clear_index_lag1"], 0.4)
    np.testing.assert_allclose(f["clear_index_lag2"], 0.4)
    np.testing.assert_allclose(f["clear_index_lag3"], 0.8)
    np.testing.assert_allclose(f["clear_index_change"], 0.0, atol=1e-12)
    # Clear-sky-weighted mean of 0.4, 0.4, 0.8 over the last three hours.
    w = clear[o[0] - 3 : o[0]]
    np.testing.assert_allclose(f["clear_index_recent"], (0.8 * w[0] + 0.4 * w[1:].sum()) / w.sum())
    # Persistence of the last index onto each target hour [kWh/kWp].
    np.testing.assert_allclose(f["persist_last"], 0.4 * clear[o + k] / 1000.0)
    # Against the array's own envelope (0.8 on the clear days before): half of it.
    np.testing.assert_allclose(f["envelope_index_last"], 0.5, rtol=0.02)
    np.testing.assert_allclose(f["persist_envelope"], 0.4 * clear[o + k] / 1000.0, rtol=0.03)
    # One hour into the clouds the index dropped by 0.4.
    step = _near(model, y, np.array([24 * 18 + 12]), np.array([0]))
    np.testing.assert_allclose(step["clear_index_change"], -0.4)


def test_near_features_undefined_at_night_and_before_the_data() -> None:
    index = pd.date_range("2024-05-01", periods=24 * 6, freq="h")
    y = _sky_series(index, np.full(len(index), 0.7))
    model = _model().fit(y, None)
    clear = model._sky_for(index, len(index) + 24).clear_poa
    o = np.array([24 * 5 + 3, 2])  # 03:00 (night before) and the first hours of the data
    f = _near(model, y, o, np.zeros(2, dtype=np.int64))
    assert clear[o[0] - 1] < MIN_CLEAR_POA
    assert np.isnan(f["clear_index_lag1"]).all()
    assert np.isnan(f["clear_index_recent"]).all()
    assert np.isnan(f["persist_last"]).all()
    assert np.isnan(f["envelope_index_last"]).all()


def test_near_features_and_forecasts_ignore_data_from_the_origin_on() -> None:
    index = pd.date_range("2024-05-01", periods=24 * 21, freq="h")
    rng = np.random.default_rng(3)
    ci = np.clip(0.75 + np.cumsum(rng.normal(0, 0.05, len(index))), 0.1, 1.0)
    y = _sky_series(index, ci)
    o = np.array([24 * 17 + 9])
    k = np.arange(DEFAULT_NEAR_STEPS)
    model = _model()
    origins = np.array([24 * 16 + 10, int(o[0])])
    before = rolling_forecast(model, y, origins, 8, None, None)
    f_before = _near(model, y, np.repeat(o, k.size), k)
    changed = y.copy()
    changed.iloc[int(o[0]) :] = changed.iloc[int(o[0]) :].to_numpy() * 3.0 + 1.0
    f_after = _near(model, changed, np.repeat(o, k.size), k)
    pd.testing.assert_frame_equal(f_before, f_after)
    after = rolling_forecast(_model(), changed, origins, 8, None, None)
    np.testing.assert_array_equal(before.point, after.point)
    # The test has teeth: a change one step earlier moves the near features.
    earlier = y.copy()
    earlier.iloc[int(o[0]) - 1] *= 0.5
    assert not _near(model, earlier, np.repeat(o, k.size), k).equals(f_before)


def test_near_models_are_the_default_and_follow_the_current_sky() -> None:
    index = pd.date_range("2024-05-01", periods=24 * 28, freq="h")
    rng = np.random.default_rng(5)
    # Cloudiness that persists for hours: a slow random walk of the clear-sky index.
    ci = np.clip(0.6 + np.cumsum(rng.normal(0, 0.08, len(index))) * 0.3, 0.1, 1.0)
    y = _sky_series(index, ci)
    origins = np.arange(24 * 21, 24 * 27)
    near = _model()
    plain = _model(near_steps=0)
    res_near = rolling_forecast(near, y, origins, 8, None, 24 * 3)
    res_plain = rolling_forecast(plain, y, origins, 8, None, 24 * 3)
    assert len(near.near_models) == DEFAULT_NEAR_STEPS and plain.near_models == []
    actual = actual_matrix(y.to_numpy(), origins, 8)
    for step in (0, 1, 2):
        assert mae(res_near.point[:, step], actual[:, step]) < 0.8 * mae(
            res_plain.point[:, step], actual[:, step]
        )
    # Beyond the near steps, the all-horizon model as before.
    np.testing.assert_allclose(
        res_near.point[:, DEFAULT_NEAR_STEPS:], res_plain.point[:, DEFAULT_NEAR_STEPS:]
    )
    assert np.all(res_near.point >= 0)


def test_near_models_quantiles_stay_ordered() -> None:
    index = pd.date_range("2024-05-01", periods=24 * 21, freq="h")
    rng = np.random.default_rng(7)
    ci = np.clip(0.6 + np.cumsum(rng.normal(0, 0.08, len(index))) * 0.3, 0.1, 1.0)
    y = _sky_series(index, ci)
    model = PVForecaster(*SITE, kwp={"roof": KWP}, params=SMALL, near_steps=2)
    res = rolling_forecast(model, y, np.arange(24 * 18, 24 * 19), 4, None, None, (0.1, 0.5, 0.9))
    assert len(model.near_models) == 2
    assert np.all(res.quantile(0.1) <= res.quantile(0.5))
    assert np.all(res.quantile(0.5) <= res.quantile(0.9))


@pytest.mark.parametrize("steps", [0, 3])
def test_near_steps_counts_models(steps: int) -> None:
    index = pd.date_range("2024-05-01", periods=24 * 10, freq="h")
    y = _sky_series(index, np.full(len(index), 0.7))
    model = _model(near_steps=steps).fit(y, None)
    assert len(model.near_models) == steps


def test_predict_pair_gives_the_shipped_and_the_all_horizon_forecasts_of_one_fit() -> None:
    index = pd.date_range("2024-05-01", periods=24 * 24, freq="h")
    rng = np.random.default_rng(11)
    ci = np.clip(0.6 + np.cumsum(rng.normal(0, 0.08, len(index))) * 0.3, 0.1, 1.0)
    y = _sky_series(index, ci)
    origins = np.arange(24 * 21, 24 * 23)
    model = _model().fit(y, None, end=int(origins[0]))
    near, far = model.predict_pair(y, origins, 10)
    np.testing.assert_array_equal(near.point, model.predict(y, origins, 10).point)
    plain = _model(near_steps=0).fit(y, None, end=int(origins[0]))
    np.testing.assert_allclose(far.point, plain.predict(y, origins, 10).point)
    # The two differ at the near-model steps only.
    assert not np.allclose(near.point[:, :DEFAULT_NEAR_STEPS], far.point[:, :DEFAULT_NEAR_STEPS])
    np.testing.assert_array_equal(
        near.point[:, DEFAULT_NEAR_STEPS:], far.point[:, DEFAULT_NEAR_STEPS:]
    )
    assert np.all(far.point >= 0) and far.quantiles == {}
