"""Load, PV and wind models: quantiles, physics bounds and accuracy on structured data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pvlib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitgaram.errors import ConfigError, ForecastError
from bitgaram.forecast.base import actual_matrix, rolling_forecast
from bitgaram.forecast.baselines import BestBaseline, SeasonalNaive
from bitgaram.forecast.gbm import LightGBMParams
from bitgaram.forecast.load import LightGBMLoadForecaster
from bitgaram.forecast.metrics import mae
from bitgaram.forecast.pv import PVForecaster, estimate_solar_geometry
from bitgaram.forecast.wind import PowerCurve, WindForecaster, log_law, power_law

SMALL = LightGBMParams(num_boost_round=40, min_data_in_leaf=20)


def test_load_model_beats_seasonal_naive_with_ordered_quantiles(
    hourly: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    load, exog = hourly
    origins = np.arange(24 * 28, 24 * 34)
    model = LightGBMLoadForecaster(max_horizon=24, params=SMALL, min_train_rows=100)
    res = rolling_forecast(model, load, origins, 24, exog, refit_every=None, quantiles=(0.1, 0.9))
    naive = rolling_forecast(SeasonalNaive(24), load, origins, 24, exog, refit_every=None)
    actual = actual_matrix(load.to_numpy(), origins, 24)
    assert mae(res.point, actual) < 0.9 * mae(naive.point, actual)
    assert np.all(res.quantile(0.1) <= res.point) and np.all(res.point <= res.quantile(0.9))
    inside = (actual >= res.quantile(0.1)) & (actual <= res.quantile(0.9))
    assert 0.5 < inside.mean() <= 1.0


def test_load_model_falls_back_on_short_history_and_checks_quantiles(
    hourly: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    load, exog = hourly
    model = LightGBMLoadForecaster(max_horizon=24, params=SMALL).fit(load, exog, end=60)
    res = model.predict(load, np.array([60]), 24, exog)
    expected = BestBaseline().fit(load, end=60).predict(load, np.array([60]), 24).point
    np.testing.assert_allclose(res.point, expected)
    trained = LightGBMLoadForecaster(
        max_horizon=24, params=SMALL, quantiles=(0.1,), min_train_rows=100
    )
    trained.fit(load, exog, end=24 * 20)
    with pytest.raises(ForecastError, match="not trained"):
        trained.predict(load, np.array([24 * 20]), 6, exog, quantiles=(0.9,))


def test_load_model_runs_without_weather(hourly: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    load, _ = hourly
    model = LightGBMLoadForecaster(max_horizon=24, params=SMALL, country=None, min_train_rows=50)
    res = rolling_forecast(model, load, np.array([24 * 30, len(load)]), 24, None, None)
    assert np.isfinite(res.point).all() and res.point.shape == (2, 24, 2)


@pytest.fixture(scope="module")
def site_pv() -> tuple[pd.DataFrame, pd.DataFrame]:
    """21 days of clear-sky PV at a known site (35.5 N, 129.3 E, Korea), naive local time."""
    index = pd.date_range("2024-05-01", periods=24 * 21, freq="h")
    loc = pvlib.location.Location(35.5, 129.3, tz="Asia/Seoul")
    mids = (index + pd.Timedelta(minutes=30)).tz_localize("Asia/Seoul")
    cs = loc.get_clearsky(mids, model="haurwitz")
    ghi = cs["ghi"].to_numpy()
    cloud = 0.55 + 0.45 * (np.sin(np.arange(len(index)) / 29.0) > -0.3)
    y = pd.DataFrame({"roof": 5.0 * ghi / 1000 * 0.8 * cloud}, index=index)
    return y, pd.DataFrame(index=index)


def test_solar_geometry_estimated_from_production(
    site_pv: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    y, _ = site_pv
    geo = estimate_solar_geometry(y["roof"].to_numpy(), pd.DatetimeIndex(y.index))
    assert geo.estimated
    assert abs(geo.latitude - 35.5) < 12  # hourly day lengths only bound it loosely
    # Korea standard time is UTC+9 (135 E): solar noon ~25 min late -> effective lon ~ -5.7
    assert abs(geo.longitude - (129.3 - 135.0)) < 5


def test_pv_zero_at_night_nonnegative_and_quantiles_ordered(
    site_pv: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    y, exog = site_pv
    model = PVForecaster(35.5, 129.3, "Asia/Seoul", kwp={"roof": 5.0}, params=SMALL)
    origins = np.arange(24 * 14, 24 * 20, 5)
    res = rolling_forecast(model, y, origins, 30, exog, None, quantiles=(0.1, 0.5, 0.9))
    actual = actual_matrix(y.to_numpy(), origins, 30)
    # Night: the sun is below the horizon at both ends of the interval.
    loc = pvlib.location.Location(35.5, 129.3, tz="Asia/Seoul")
    edges = pd.date_range(y.index[0], periods=len(y) + 31, freq="h").tz_localize("Asia/Seoul")
    elevation = loc.get_solarposition(edges)["apparent_elevation"].to_numpy()
    below = (elevation[:-1] <= 0) & (elevation[1:] <= 0)
    night = below[res.target_positions()][:, :, None] & np.isfinite(actual)
    assert night.sum() > 0.3 * night.size
    assert np.all(res.point[night] == 0) and np.all(res.quantile(0.9)[night] == 0)
    assert np.all(res.point >= 0)
    assert np.all(res.quantile(0.1) <= res.quantile(0.5))
    assert np.all(res.quantile(0.5) <= res.quantile(0.9))
    day = (actual > 0) & np.isfinite(actual)
    assert mae(res.point[day], actual[day]) < 0.5 * np.mean(actual[day])


def test_pv_near_step_model_follows_the_current_sky(
    site_pv: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """Clouds that persist for hours: the next hour's own model reads them off the last output."""
    y, exog = site_pv
    origins = np.arange(24 * 14, 24 * 20)
    kwargs = {"kwp": {"roof": 5.0}, "params": SMALL, "quantiles": ()}
    plain = PVForecaster(35.5, 129.3, "Asia/Seoul", near_steps=0, **kwargs)  # type: ignore[arg-type]
    near = PVForecaster(35.5, 129.3, "Asia/Seoul", near_steps=1, **kwargs)  # type: ignore[arg-type]
    res_plain = rolling_forecast(plain, y, origins, 6, exog, 24 * 3)
    res_near = rolling_forecast(near, y, origins, 6, exog, 24 * 3)
    actual = actual_matrix(y.to_numpy(), origins, 6)
    assert len(near.near_models) == 1
    assert mae(res_near.point[:, 0], actual[:, 0]) < 0.9 * mae(res_plain.point[:, 0], actual[:, 0])
    np.testing.assert_allclose(res_near.point[:, 1:], res_plain.point[:, 1:])
    assert np.all(res_near.point >= 0)
    with pytest.raises(ForecastError, match="near_steps"):
        PVForecaster(near_steps=-1)


def test_pv_model_without_location_still_forecasts(
    site_pv: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    y, exog = site_pv
    res = rolling_forecast(PVForecaster(params=SMALL), y, np.array([24 * 15]), 24, exog, None)
    assert res.point.shape == (1, 24, 1) and np.all(res.point >= 0)
    assert res.point.max() > 0
    with pytest.raises(ForecastError):
        PVForecaster(latitude=30.0)


def test_hub_height_extrapolation() -> None:
    v = np.array([4.0, 8.0])
    assert power_law(v, 10.0, 10.0, 0.2).tolist() == v.tolist()
    np.testing.assert_allclose(power_law(v, 10.0, 80.0, 1 / 7), v * 8 ** (1 / 7))
    np.testing.assert_allclose(log_law(v, 10.0, 100.0, 0.1), v * np.log(1000) / np.log(100))
    assert np.all(log_law(v, 10.0, 80.0, 0.03) > v)
    with pytest.raises(ConfigError):
        log_law(v, 0.01, 80.0, 0.03)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.floats(-5, 60), st.just(float("nan"))), min_size=1, max_size=50))
def test_power_curve_bounds(speeds: list[float]) -> None:
    curve = PowerCurve.generic(rated_kw=2000.0, cut_in=3.0, rated_speed=12.0, cut_out=25.0)
    v = np.asarray(speeds)
    p = curve.power(v)
    assert np.all(p >= 0) and np.all(p <= curve.rated_kw)
    finite = np.isfinite(v)
    assert np.all(p[finite & ((v < 3.0) | (v > 25.0))] == 0)
    assert np.all(p[finite & (v >= 12.0) & (v <= 25.0)] == pytest.approx(2000.0))
    order = np.argsort(v[finite & (v <= 25.0)])
    assert np.all(np.diff(p[finite & (v <= 25.0)][order]) >= -1e-9)


def test_wind_forecaster_learns_availability_and_respects_rating(
    hourly: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    _, exog = hourly
    curve = PowerCurve.generic(rated_kw=100.0)
    hub = power_law(exog["wind_speed"].to_numpy(), 10.0, 80.0, 1 / 7)
    y = pd.DataFrame({"wt": 0.8 * curve.power(hub)}, index=exog.index)
    model = WindForecaster(curve, hub_height=80.0)
    res = rolling_forecast(model, y, np.arange(24 * 10, 24 * 12), 24, exog, None, (0.1, 0.9))
    assert model.availability is not None
    assert model.availability[0] == pytest.approx(0.8, rel=1e-6)
    assert np.all(res.point >= 0) and np.all(res.quantile(0.9) <= 100.0 + 1e-9)
    actual = actual_matrix(y.to_numpy(), res.origins, 24)
    assert mae(res.point, actual) < 0.1 * np.mean(actual)  # forecasts are nearly exact here
    with pytest.raises(ForecastError):
        model.fit(y, None)


def test_pv_short_history_falls_back_to_yesterday_masked_at_night(
    site_pv: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    y, exog = site_pv
    model = PVForecaster(35.5, 129.3, "Asia/Seoul", params=SMALL).fit(y, exog, end=30)
    res = model.predict(y, np.array([30]), 24, exog, quantiles=(0.1, 0.9))
    naive = SeasonalNaive(24).fit(y, end=30).predict(y, np.array([30]), 24).point
    day = res.point[0, :, 0] > 0
    assert day.any() and (~day).any()
    np.testing.assert_allclose(res.point[0, day, 0], naive[0, day, 0])
    assert np.all(res.quantile(0.1) <= res.quantile(0.9))


def test_load_model_refuses_predict_with_other_exog(
    hourly: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    load, exog = hourly
    model = LightGBMLoadForecaster(max_horizon=24, params=SMALL, min_train_rows=100)
    model.fit(load, exog, end=24 * 20)
    with pytest.raises(ForecastError, match="same exog"):
        model.predict(load, np.array([24 * 20]), 24, None)


def test_near_step_model_uses_the_last_reading_better() -> None:
    """A dedicated next-hour model beats the all-horizon model where the last hour matters."""
    rng = np.random.default_rng(7)
    n = 24 * 40
    index = pd.date_range("2024-01-01", periods=n, freq="h")
    shape = 1.5 + np.sin(2 * np.pi * index.hour.to_numpy() / 24)
    ar = np.zeros(n)
    for t in range(1, n):
        ar[t] = 0.85 * ar[t - 1] + rng.normal(0, 0.25)
    load = pd.DataFrame({"m": 3.0 * shape + ar}, index=index)
    origins = np.arange(24 * 30, n)
    kwargs = {"max_horizon": 24, "params": SMALL, "country": None, "min_train_rows": 100}
    plain = LightGBMLoadForecaster(**kwargs, quantiles=(0.1, 0.9), near_steps=0)  # type: ignore[arg-type]
    near = LightGBMLoadForecaster(**kwargs, quantiles=(0.1, 0.9), near_steps=2)  # type: ignore[arg-type]
    res_plain = rolling_forecast(plain, load, origins, 24, None, None, quantiles=(0.1, 0.9))
    res_near = rolling_forecast(near, load, origins, 24, None, None, quantiles=(0.1, 0.9))
    actual = actual_matrix(load.to_numpy(), origins, 24)
    assert len(near.near_models) == 2
    assert mae(res_near.point[:, 0], actual[:, 0]) < 0.95 * mae(res_plain.point[:, 0], actual[:, 0])
    # Beyond the near steps both use the same all-horizon model.
    np.testing.assert_allclose(res_near.point[:, 2:], res_plain.point[:, 2:])
    assert np.all(res_near.quantile(0.1) <= res_near.point)
    assert np.all(res_near.point <= res_near.quantile(0.9))
    with pytest.raises(ForecastError, match="near_steps"):
        LightGBMLoadForecaster(near_steps=-1)
    # On a history too short for the all-horizon model, the near step is still modelled.
    short = LightGBMLoadForecaster(
        max_horizon=24, params=SMALL, country=None, min_train_rows=1000, near_steps=1
    ).fit(load, None, end=24 * 30)
    res_short = short.predict(load, origins[:5], 24, None)
    naive = BestBaseline().fit(load, end=24 * 30).predict(load, origins[:5], 24).point
    assert len(short.near_models) == 1
    np.testing.assert_allclose(res_short.point[:, 1:], naive[:, 1:])
    assert not np.allclose(res_short.point[:, 0], naive[:, 0])
