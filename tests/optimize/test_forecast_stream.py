"""Background site forecasts: same values as the batch composition, errors reach the consumer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bitgaram.errors import ForecastError
from bitgaram.forecast.base import rolling_forecast
from bitgaram.forecast.feedback import error_feedback
from bitgaram.forecast.load import LightGBMLoadForecaster
from bitgaram.forecast.pv import DEFAULT_NEAR_STEPS as PV_DEFAULT_NEAR_STEPS
from bitgaram.forecast.pv import PVForecaster
from bitgaram.optimize.forecasts import (
    NEAR_STEPS,
    PV_SHIPPED_WEIGHT,
    REFIT_EVERY,
    ForecastStream,
    pv_blend,
    site_forecast,
)
from bitgaram.optimize.mpc import MPCConfig, MPCController
from bitgaram.simulate import SiteData, simulate


def test_stream_equals_batch_forecasts_over_several_refit_blocks(citylearn_site: SiteData) -> None:
    site = citylearn_site.slice(0, REFIT_EVERY * 2 + 100).subset([0, 1])  # three refit blocks
    h = 8
    stream = ForecastStream(site, h, "models", "lightgbm")
    got = stream.result().net_kwh

    origins = np.arange(1, site.n_steps)
    frame = pd.DataFrame(site.load_kwh, index=site.index, columns=list(site.names))
    load = rolling_forecast(
        LightGBMLoadForecaster(max_horizon=h, quantiles=(), near_steps=NEAR_STEPS),
        frame,
        origins,
        h,
        exog=site.weather,
        refit_every=REFIT_EVERY,
    ).point
    pv_frame = pd.DataFrame(site.pv_kwh, index=site.index, columns=list(site.names))
    kwp = dict(zip(site.names, site.pv_kwp.tolist(), strict=True))
    # The shipped PV forecaster (default near-horizon models), blended with its own
    # all-horizon model corrected by error feedback.
    shipped = rolling_forecast(
        PVForecaster(kwp=kwp, quantiles=()), pv_frame, origins, h, site.weather, REFIT_EVERY
    ).point
    far = rolling_forecast(
        PVForecaster(kwp=kwp, quantiles=(), near_steps=0),
        pv_frame,
        origins,
        h,
        site.weather,
        REFIT_EVERY,
    ).point
    fixed = error_feedback(np.nan_to_num(far), site.pv_kwh, origins, REFIT_EVERY)
    pv = pv_blend(np.nan_to_num(shipped), fixed)
    expected = np.nan_to_num(load - np.clip(pv, 0.0, None), nan=0.0)
    np.testing.assert_allclose(got[1:], expected, rtol=0, atol=1e-9)
    assert np.all(got[0] == 0.0)


def test_wait_returns_once_the_origin_is_final(citylearn_site: SiteData) -> None:
    site = citylearn_site.slice(0, REFIT_EVERY * 2).subset([0, 1])
    stream = ForecastStream(site, 4, "models", "baseline").start()
    ready = stream.wait(5)
    assert 5 < ready <= site.n_steps
    assert stream.wait(site.n_steps - 1) == site.n_steps
    with pytest.raises(Exception, match="past the end"):
        stream.wait(site.n_steps)


def test_a_model_error_in_the_background_reaches_the_caller(
    citylearn_site: SiteData, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_fit(self: PVForecaster, *args: object, **kwargs: object) -> None:
        raise ForecastError("PV model broke")

    monkeypatch.setattr(PVForecaster, "fit", broken_fit)
    site = citylearn_site.slice(0, 24 * 10).subset([0, 1])
    stream = ForecastStream(site, 4, "models", "baseline")
    with pytest.raises(ForecastError, match="PV model broke"):
        stream.wait(30)


def test_mpc_on_the_stream_acts_as_on_precomputed_forecasts(citylearn_site: SiteData) -> None:
    site = citylearn_site.slice(0, REFIT_EVERY + 24 * 3).subset([0, 1])
    cfg = MPCConfig(horizon=12, n_scenarios=3, load_model="baseline", peak_risk_samples=4)
    streamed = simulate(site, MPCController(cfg))
    fc = site_forecast(site, cfg.horizon, cfg.source, cfg.load_model)
    batch = simulate(site, MPCController(cfg, forecast=fc))
    np.testing.assert_array_equal(streamed.battery_kwh, batch.battery_kwh)
    assert np.abs(streamed.battery_kwh).sum() > 0.0


@pytest.mark.parametrize("country", ["US", None])
def test_the_load_model_takes_the_sites_holiday_calendar(
    citylearn_site: SiteData, monkeypatch: pytest.MonkeyPatch, country: str | None
) -> None:
    """A stored Californian site forecasts with US holidays; None: none at all (not KR)."""
    from dataclasses import replace

    seen: list[str | None] = []
    fit = LightGBMLoadForecaster.fit

    def spy(self: LightGBMLoadForecaster, *args: object, **kwargs: object) -> object:
        seen.append(self.country)
        return fit(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(LightGBMLoadForecaster, "fit", spy)
    site = replace(citylearn_site.slice(0, 24 * 30).subset([0]), holiday_country=country)
    assert site.slice(0, 48).holiday_country == country  # kept by slicing
    ForecastStream(site, 4, "models", "lightgbm").wait(24 * 20)
    assert seen and set(seen) == {country}


def test_the_mpc_plans_on_the_shipped_pv_forecaster(
    citylearn_site: SiteData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its near-horizon models are fitted, and they move the MPC's PV forecast."""
    fitted: list[int] = []
    fit = PVForecaster.fit

    def spy(self: PVForecaster, *args: object, **kwargs: object) -> object:
        out = fit(self, *args, **kwargs)  # type: ignore[arg-type]
        fitted.append(len(self.near_models))
        return out

    monkeypatch.setattr(PVForecaster, "fit", spy)
    site = citylearn_site.slice(0, 24 * 30).subset([0, 1])
    got = site_forecast(site, 8, "models", "baseline").net_kwh
    assert fitted and fitted[-1] == PV_DEFAULT_NEAR_STEPS  # (too little history at first)
    # Without the shipped forecast's share the plan's net load is that of the all-horizon
    # model with feedback: the near models change the first steps only.
    monkeypatch.setattr("bitgaram.optimize.forecasts.PV_SHIPPED_WEIGHT", 0.0)
    far_only = site_forecast(site, 8, "models", "baseline").net_kwh
    diff = np.abs(got - far_only).max(axis=(0, 2))
    assert PV_SHIPPED_WEIGHT > 0.0
    assert np.all(diff[:PV_DEFAULT_NEAR_STEPS] > 0.0)
