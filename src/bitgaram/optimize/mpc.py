"""Model-predictive control of a site's batteries (receding horizon, HiGHS LP).

Every step ``t`` the controller

1. reads the forecasts issued for origin ``t`` (fitted block by block in
   background threads by :class:`bitgaram.optimize.forecasts.ForecastStream`
   while the replay runs, causal by construction):
   LightGBM load with dedicated models for the next hours, and the shipped PV
   forecaster (near-horizon models for the next hours) averaged with its
   all-horizon model corrected by its error on the last measured hour. The
   decision is applied to the next hour only, and the error of that one
   forecast moves the score most (on the design window, perfect next-hour net
   load alone takes the score from 0.85 to 0.74), so the forecasts spend their effort there;
2. estimates the no-battery baseline KPI rates from the measured history (plus
   the forecast, early on) and turns them into objective weights equal to the
   CityLearn score's sensitivities (:mod:`bitgaram.optimize.weights`). The
   forecast's uncertainty enters through the scenarios below, not through the
   weights (``skill_scaling``, which scaled the ramping and peak weights by
   the forecast's measured R^2, counts it twice and is off by default);
3. builds forecast-error scenarios from its own past errors: for each step
   ahead, the empirical quantiles of the errors made at the same time of day
   (+- ``error_hours``) over the last ``error_window_days`` days (only errors
   whose target lies before ``t``). The clipped cost terms are averaged over
   these scenarios, so plans that only pay off if the point forecast is exact
   are penalised; the block peak is priced against the upper scenario, and
   the next step's expected exceedance of the peak so far is priced over the
   largest ``peak_risk_samples`` past errors (a few equal-probability
   scenarios cannot represent the rare surges that set a month's peak: without
   this term the controller would charge into them). The peak is priced only
   above its *outlook*, the level the block's steps beyond the horizon reach
   anyway with even odds (from the recent daily maxima): early in a block, a
   rise far below the peak the month will set costs nothing, and pricing it
   from the peak reached so far made the controller give up arbitrage and PV
   storage to shave peaks that never counted;
4. solves the site LP (:class:`bitgaram.optimize.site.SiteProblem`) from the
   measured SoC and applies the first step only.

No weight is fitted to data: the weights come from the score's definition,
the scenarios from the forecaster's own measured errors. The first design
choices (scenarios, pooled hours, peak margin, 24 h horizon, next-hour
models) were made on the first 2,000 steps of the shipped data only; the later
ones (unscaled weights, peak risk, the load model's change features, the
peak outlook) on the full year of buildings 1-5 and its five 4-building districts, so the second
half-year is no longer a strict held-out check (see BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from bitgaram.errors import ConfigError
from bitgaram.optimize.forecasts import ForecastSource, ForecastStream, LoadModel, SiteForecast
from bitgaram.optimize.site import HorizonInput, SiteLimits, SiteProblem
from bitgaram.optimize.weights import (
    BaselineRates,
    RunningBaselineRates,
    baseline_rates,
    peak_weight,
    score_weights,
)
from bitgaram.site.controller import Observation
from bitgaram.site.data import SiteData

#: Throughput weight per kWh: tiny, only to rule out simultaneous charge and discharge.
WEAR_WEIGHT = 1e-4


@dataclass(frozen=True)
class MPCConfig:
    """Settings of the MPC controller.

    Attributes
    ----------
    horizon : int
        Planning horizon [steps].
    n_scenarios : int
        Forecast-error scenarios (equal-probability quantile midpoints); 1 = point only.
    error_window_days : int
        Days of past forecast errors used for the scenarios.
    error_hours : int
        Errors of origins up to this many hours either side of the same time of
        day are pooled (more samples per quantile; 0 = same hour only).
    source : {"models", "naive", "perfect"}
        Forecast source (see :mod:`bitgaram.optimize.forecasts`).
    load_model : {"lightgbm", "baseline"}
        Load model of the ``"models"`` source.
    block : int
        Load-factor block length [steps].
    use_peak : bool
        Whether to include the block-peak (load factor) term.
    use_ramping : bool
        Whether to include the ramping term.
    skill_scaling : bool
        Scale the ramping and peak weights by the measured forecast skill
        (off: the scenarios already price the forecast error).
    peak_margin : bool
        Price the block peak against the upper error scenario of the district
        net load rather than its point forecast.
    peak_risk_samples : int
        Largest past errors of the next step's district net load whose expected
        exceedance of the block's peak so far is priced (0 = no such term).
    peak_outlook : float or None
        Probability level ``q`` of the peak outlook: a block's peak is priced only
        above the level its steps beyond the horizon reach with probability
        ``q`` (from the daily maxima of the last ``error_window_days``), since a
        peak below the one the block will set anyway costs nothing. None = price
        every rise above the peak reached so far.
    limits : SiteLimits
        Site import/export limits.
    """

    horizon: int = 24
    n_scenarios: int = 7
    error_window_days: int = 28
    error_hours: int = 1
    source: ForecastSource = "models"
    load_model: LoadModel = "lightgbm"
    block: int = 730
    use_peak: bool = True
    use_ramping: bool = True
    skill_scaling: bool = False
    peak_margin: bool = True
    peak_risk_samples: int = 16
    peak_outlook: float | None = 0.5
    limits: SiteLimits = field(default_factory=SiteLimits)


class MPCController:
    """Receding-horizon LP controller (see module docstring).

    Parameters
    ----------
    config : MPCConfig
        Settings.
    forecast : SiteForecast, optional
        Precomputed forecasts (else computed in :meth:`prepare`).
    on_progress : callable, optional
        Called with a label before each forecasting stage.
    """

    def __init__(
        self,
        config: MPCConfig | None = None,
        forecast: SiteForecast | None = None,
        on_progress: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config or MPCConfig()
        self.name = "mpc"
        self.forecast = forecast
        self._on_progress = on_progress

    def prepare(self, site: SiteData) -> None:
        """Start the forecasts (causal, in the background) and build the LP."""
        cfg = self.config
        if cfg.horizon < 1 or cfg.n_scenarios < 1 or cfg.error_window_days < 1:
            raise ConfigError("MPC horizon, n_scenarios and error_window_days must be >= 1")
        fleet = site.fleet()
        # No-battery rates of the measured history, queried with prefixes [0, t) only.
        self._history_rates = RunningBaselineRates(
            site.load_kwh - site.pv_kwh, site.price, site.carbon, cfg.block
        )
        self._cols = site.battery_buildings
        self._site = site
        h = cfg.horizon
        self._stream: ForecastStream | None = None
        if fleet is None:
            self._problem: SiteProblem | None = None
            return
        fc: SiteForecast | ForecastStream
        if self.forecast is not None and self.forecast.net_kwh.shape[0] == site.n_steps:
            fc = self.forecast
        else:
            # Fitted in background threads while the replay runs: the replay waits for
            # each origin's block, and the values are those of ``site_forecast``.
            fc = ForecastStream(site, h, cfg.source, cfg.load_model, self._on_progress)
            self._stream = fc.start()
        self._net, self._price, self._carbon = fc.net_kwh, fc.price, fc.carbon
        cand = np.tile(np.arange(2), (h, 1)) if cfg.use_peak else None
        n_risk = cfg.peak_risk_samples if cfg.use_peak else 0
        self._problem = SiteProblem(fleet, h, cfg.n_scenarios, cand, cfg.limits, n_risk)
        # Forecast errors are actual - forecast, NaN until the target is measured.
        self._actual = _actual(site.net_load_kwh, h)
        self._actual_district = self._actual.sum(axis=2)
        self._levels = (np.arange(cfg.n_scenarios) + 0.5) / cfg.n_scenarios
        self._offsets = self._scenario_offsets()
        self._chunk: tuple[int, np.ndarray, np.ndarray] | None = None

    def _scenarios(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Error quantiles at origin t: buildings (K, H, B), district and district ramp (K, H).

        Computed for a chunk of upcoming origins at once (vectorised); each origin's
        quantiles only use errors of targets measured before it.
        """
        cfg = self.config
        if cfg.n_scenarios == 1:
            n_b = self._net.shape[2]
            zero = np.zeros((1, cfg.horizon))
            return np.zeros((1, cfg.horizon, n_b)), zero, zero
        q = self._chunk_at(t)[0]  # (K, H, B + 2)
        return q[..., :-2], q[..., -2], q[..., -1]

    def _chunk_at(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Scenario quantiles (K, H, B + 2) and peak-risk errors (J + 1,) of origin t."""
        chunk = self._chunk
        if chunk is None or not chunk[0] <= t < chunk[0] + len(chunk[1]):
            n_b = self._net.shape[2]
            size = int(np.clip(2e7 / (self._offsets.size * (n_b + 2)), 1, 256))
            # Only origins whose forecasts are final (their errors' targets lie before them).
            origins = np.arange(t, min(t + size, self._ready(t)))
            chunk = (t, *self._scenario_chunk(origins))
            self._chunk = chunk
        return chunk[1][t - chunk[0]], chunk[2][t - chunk[0]]

    def _ready(self, t: int) -> int:
        """Number of leading origins with final forecasts, waiting for origin ``t``."""
        if self._stream is None:
            return int(self._net.shape[0])
        return self._stream.wait(t)

    def _peak_risk(self, t: int) -> tuple[np.ndarray, int]:
        """Largest J past errors of the next step's district net load, and the sample size."""
        tail = self._chunk_at(t)[1]
        return tail[:-1], int(tail[-1])

    def _scenario_offsets(self) -> np.ndarray:
        """Origin offsets (W', H) of the pooled past errors for each step ahead.

        Origins at the same time of day (+- ``error_hours``) on past days; for offset
        ``dh`` and step ``k`` the smallest whole-day lag whose target ``pos + k`` is
        measured at the decision (``pos + k <= t - 1``).
        """
        cfg = self.config
        k = np.arange(cfg.horizon)
        spd = 24
        parts = []
        for dh in range(-cfg.error_hours, cfg.error_hours + 1):
            d_min = (k + dh + spd) // spd
            d = d_min[None, :] + np.arange(cfg.error_window_days)[:, None]  # (W, H)
            parts.append(-spd * d + dh)
        return np.concatenate(parts, axis=0)

    def _scenario_chunk(self, origins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Error quantiles and peak-risk samples of a chunk of origins.

        Returns the quantiles (T, K, H, B + 2) of building, district and ramp
        errors, and (T, J + 1): the J largest district errors of the first step
        (ascending; ``-inf`` where fewer were measured) and their sample size.
        """
        pos = origins[:, None, None] + self._offsets[None]  # (T, W', H)
        ok = pos >= 0
        steps = np.broadcast_to(np.arange(self.config.horizon), pos.shape)
        at = np.where(ok, pos, 0)
        err = self._actual[at, steps] - self._net[at, steps]  # (T, W', H, B)
        err = np.where(ok[..., None], err, np.nan)
        dist = err.sum(axis=3)
        dist = np.where(np.isnan(err).any(axis=3), np.nan, dist)
        # Ramp error: E[t] - E[t-1] with E[-1] measured, so step 0 carries the level error.
        ramp = np.diff(dist, axis=2, prepend=0.0)
        values = np.concatenate([err, dist[..., None], ramp[..., None]], axis=3)
        q = _nan_quantiles(np.moveaxis(values, 1, 0), self._levels)  # (K, T, H, B + 2)
        n_risk = self.config.peak_risk_samples
        first = dist[:, :, 0]  # (T, W')
        n_ok = np.isfinite(first).sum(axis=1)
        top = np.sort(np.where(np.isfinite(first), first, -np.inf), axis=1)
        top = top[:, max(top.shape[1] - n_risk, 0) :]
        if top.shape[1] < n_risk:
            pad = np.full((len(origins), n_risk - top.shape[1]), -np.inf)
            top = np.concatenate([pad, top], axis=1)
        return np.moveaxis(q, 0, 1), np.concatenate([top, n_ok[:, None]], axis=1)

    def _skill(self, t: int) -> tuple[float, float]:
        """Forecast skill (R^2 in [0, 1]) of the district ramp and level over the error window.

        Uses the first horizon step of past origins whose target is measured
        (origins ``< t``). A term that rewards matching the forecast (ramping,
        peak) is only worth its weight to the extent the forecast explains
        the actual values, so its weight is scaled by this skill.
        """
        lo = max(1, t - 24 * self.config.error_window_days)
        if t - lo < 24:
            return 0.0, 0.0
        act = self._actual_district[lo:t, 0]
        err = (self._actual[lo:t, 0, :] - self._net[lo:t, 0, :]).sum(axis=1)
        prev = self._actual_district[lo - 1 : t - 1, 0]
        ramp = act - prev
        out = []
        for truth, e in ((ramp, err), (act, err)):
            var = float(np.var(truth))
            out.append(float(np.clip(1.0 - np.mean(e**2) / var, 0.0, 1.0)) if var > 0 else 0.0)
        return out[0], out[1]

    def act(self, obs: Observation) -> np.ndarray:
        """Battery energies for step ``obs.t`` [kWh, + = charge]."""
        cols = self._cols
        if self._problem is None or obs.t == 0:
            return np.zeros(cols.size)
        cfg = self.config
        t = obs.t
        self._ready(t)
        net_f = self._net[t]  # (H, B)
        price_f, carbon_f = self._price[t], self._carbon[t]
        district_f = net_f.sum(axis=1)

        # Baseline rates from measured history (no-battery net = load - PV) and the forecast.
        rates = _blend_rates(
            self._history_rates.at(t),
            baseline_rates(net_f, price_f, carbon_f, cfg.block),
            t,
            cfg.horizon,
        )
        weights = score_weights(rates, WEAR_WEIGHT)
        ramp_skill, level_skill = self._skill(t) if cfg.skill_scaling else (1.0, 1.0)
        weights = replace(weights, ramping=weights.ramping * ramp_skill if cfg.use_ramping else 0.0)

        q_b, q_d, q_r = self._scenarios(t)
        measured = obs.net_kwh.sum(axis=1)
        inp_peak: dict[str, Any] = {}
        if cfg.use_peak:
            blk = t // cfg.block
            start = blk * cfg.block
            steps = t + np.arange(cfg.horizon)
            slot = (steps // cfg.block - blk).clip(0, 1)
            so_far = measured[start:t]
            hist = obs.load_kwh[start:t] - obs.pv_kwh[start:t]
            base_blk = np.concatenate([hist.sum(axis=1), district_f[slot == 0]])
            mean, peak = float(base_blk.mean()), float(base_blk.max())
            wgt = peak_weight(mean, peak, rates.load_factor, cfg.block) * level_skill
            reached = float(so_far.max()) if so_far.size else -np.inf
            outlook = (-np.inf, -np.inf)
            if cfg.peak_outlook is not None:
                # Steps of each block beyond the horizon: the current block's rest, and
                # the next block minus its steps in the horizon.
                in_blk = int((slot == 0).sum())
                after = (start + cfg.block - t - in_blk, cfg.block - (cfg.horizon - in_blk))
                outlook = (
                    _peak_outlook(measured, after[0], cfg.peak_outlook, cfg.error_window_days),
                    _peak_outlook(measured, after[1], cfg.peak_outlook, cfg.error_window_days),
                )
            base_floor = max(reached, outlook[0])
            floor = base_floor
            if cfg.peak_margin and so_far.size:
                # The peak rows see the point forecast; a new peak comes from the error on
                # top of it. Lowering the floor by the upper error scenario of the next step
                # makes "p >= E + margin" the constraint priced (same cost, shifted variable).
                floor -= max(float(q_d[-1, 0]), 0.0)
            inp_peak = {
                "peak_slot": slot,
                "peak_floor": np.array([floor, outlook[1]]),
                "peak_weight": np.array([wgt, wgt]),
            }
            if cfg.peak_risk_samples and so_far.size:
                # Expected exceedance of the peak so far by the next step, over the tail of
                # its past errors (at the full, unscaled score sensitivity: a new peak is
                # paid for whether or not the forecast saw it coming).
                errs, n_ok = self._peak_risk(t)
                if n_ok >= cfg.peak_risk_samples:
                    full = peak_weight(mean, peak, rates.load_factor, cfg.block)
                    inp_peak["peak_risk_offsets"] = district_f[0] + errs - base_floor
                    inp_peak["peak_risk_weight"] = full / n_ok
        inp = HorizonInput(
            building_net=net_f[:, cols].T,
            district_net=district_f,
            price=price_f,
            carbon=carbon_f,
            soc_kwh=obs.soc_kwh,
            capacity_kwh=obs.capacity_kwh,
            weights=weights,
            building_errors=np.moveaxis(q_b[:, :, cols], 2, 1),
            district_errors=q_d,
            ramp_errors=q_r,
            previous_district_net=float(measured[-1]),
            **inp_peak,
        )
        return self._problem.solve(inp).battery_kwh[:, 0]


def _peak_outlook(measured: np.ndarray, steps_left: int, q: float, days: int = 28) -> float:
    """Level the district peak will reach anyway in the next ``steps_left`` hours [kWh].

    The ``q``-quantile of the maximum over ``steps_left / 24`` independent days
    whose maxima follow the empirical distribution of the last ``days`` daily
    maxima of the measured net load ``measured`` (hourly, oldest first): the
    quantile ``q ** (24 / steps_left)`` of those maxima. ``-inf`` (no outlook) with
    less than a week of history or no step left.
    """
    n_days = min(days, measured.size // 24)
    if n_days < 7 or steps_left <= 0:
        return -np.inf
    daily = measured[measured.size - 24 * n_days :].reshape(n_days, 24).max(axis=1)
    return float(np.quantile(daily, q ** (24.0 / steps_left)))


def _nan_quantiles(values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles along axis 0 ignoring NaN (linear interpolation); 0 where all are NaN.

    A vectorised ``numpy.nanquantile`` (which loops in Python over columns).
    """
    ordered = np.sort(values, axis=0)  # NaN sort last
    n_ok = np.isfinite(values).sum(axis=0)
    pos = levels.reshape((-1,) + (1,) * (values.ndim - 1)) * np.maximum(n_ok - 1, 0)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, np.maximum(n_ok - 1, 0))
    frac = pos - lo
    lo_v = np.take_along_axis(ordered, lo, axis=0)
    hi_v = np.take_along_axis(ordered, hi, axis=0)
    out = lo_v + frac * (hi_v - lo_v)
    return np.where(n_ok > 0, np.nan_to_num(out), 0.0)


def _actual(values: np.ndarray, horizon: int) -> np.ndarray:
    from bitgaram.forecast.base import actual_matrix

    return actual_matrix(values, np.arange(len(values)), horizon)


def _blend_rates(
    hist: BaselineRates, fcst: BaselineRates, n_hist: int, n_fcst: int
) -> BaselineRates:
    """Step-weighted mix of history and forecast rates (the forecast matters only early on)."""
    a = n_hist / (n_hist + n_fcst)
    lf = hist.load_factor if n_hist >= 24 * 7 else fcst.load_factor
    return BaselineRates(
        cost=a * hist.cost + (1 - a) * fcst.cost,
        emissions=a * hist.emissions + (1 - a) * fcst.emissions,
        ramping=a * hist.ramping + (1 - a) * fcst.ramping,
        load_factor=lf,
    )
