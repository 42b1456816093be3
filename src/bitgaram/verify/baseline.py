"""Baseline models of a meter's energy use, fitted on a baseline period.

Two families, both ordinary least squares on regressors from
:mod:`bitgaram.verify.features`:

* **hourly time-of-week-and-temperature** (CalTRACK-like): one level per hour
  of the week (holidays count as Sundays) plus a continuous piecewise-linear
  temperature response, with separate slopes for occupied and unoccupied hours
  of the week; production volume enters linearly when given.
* **daily change-point** (HDD/CDD): daily energy against heating and/or cooling
  degree days with balance points chosen by grid search, a day-off level and
  production volume when given. The intercept-only, heating-only, cooling-only
  and heating-and-cooling forms compete; a slope must be positive and
  significant (one-sided t >= 1.645) to be kept; the lowest residual variance
  wins. Balance points count as parameters (``p``).

Every fit is judged against ASHRAE Guideline 14 (:mod:`bitgaram.verify.metrics`)
and carries its verdict; nothing downstream uses a rejected baseline silently.

Input frames have a :class:`pandas.DatetimeIndex` of interval-start timestamps
and the columns :data:`ENERGY` [kWh per interval], :data:`TEMPERATURE` [degC]
and optionally :data:`PRODUCTION` [units per interval].
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

import numpy as np
import pandas as pd

from bitgaram.errors import DataError
from bitgaram.verify.features import (
    DEFAULT_KNOTS_C,
    is_day_off,
    select_knots,
    temperature_segments,
    time_of_week,
)
from bitgaram.verify.features import (
    degree_days as _degree_days,
)
from bitgaram.verify.metrics import (
    Acceptance,
    FitMetrics,
    Interval,
    check_acceptance,
    fit_metrics,
    g14_criteria,
    prediction_inflation,
)

ENERGY = "energy_kwh"
TEMPERATURE = "temperature_c"
PRODUCTION = "production"

#: One-sided t value (95 %) a change-point slope needs to be kept.
MIN_SLOPE_T = 1.645
#: Fewest days on the active side of a balance point for it to be a candidate.
MIN_DAYS_ACTIVE = 10
#: Balance-point grids [degC]; 1 K steps are finer than daily-mean noise warrants.
HEATING_BALANCE_GRID_C = tuple(float(x) for x in range(8, 22))
COOLING_BALANCE_GRID_C = tuple(float(x) for x in range(14, 28))
#: Fewest months before monthly-total figures are reported (fewer say nothing).
MIN_MONTHS_FOR_MONTHLY = 6
#: Fewest complete days a daily baseline needs.
MIN_BASELINE_DAYS = 28


def prepare_frame(
    energy_kwh: pd.Series,
    temperature_c: pd.Series,
    production: pd.Series | None = None,
) -> pd.DataFrame:
    """Align energy, temperature and production into one model frame.

    Parameters
    ----------
    energy_kwh : pandas.Series
        Energy per interval [kWh], DatetimeIndex of interval starts.
    temperature_c : pandas.Series
        Outdoor temperature [degC], same index (reindexed, gaps interpolated
        over at most 3 intervals).
    production : pandas.Series, optional
        Production volume per interval [units].

    Returns
    -------
    pandas.DataFrame
        Columns ``energy_kwh``, ``temperature_c`` (and ``production``); rows
        with a missing value are dropped.

    Raises
    ------
    DataError
        If the index is not a DatetimeIndex or nothing is left.
    """
    if not isinstance(energy_kwh.index, pd.DatetimeIndex):
        raise DataError("energy series needs a DatetimeIndex of interval-start timestamps")
    temp = temperature_c.reindex(energy_kwh.index).interpolate(limit=3)
    frame = pd.DataFrame(
        {ENERGY: energy_kwh.astype(float), TEMPERATURE: temp.astype(float)},
        index=energy_kwh.index,
    )
    if production is not None:
        frame[PRODUCTION] = production.reindex(energy_kwh.index).astype(float)
    frame = frame.dropna()
    if frame.empty:
        raise DataError("no interval has both energy and temperature")
    return frame


def aggregate_daily(frame: pd.DataFrame) -> pd.DataFrame:
    """Daily sums of energy (and production) and mean temperature; incomplete days dropped.

    Parameters
    ----------
    frame : pandas.DataFrame
        Hourly (or finer) model frame from :func:`prepare_frame`.

    Returns
    -------
    pandas.DataFrame
        One row per complete day, index = midnight of the day.
    """
    if len(frame.index) < 2:
        raise DataError("need at least two intervals to aggregate to days")
    index = pd.DatetimeIndex(frame.index)
    step = pd.Series(index[1:] - index[:-1]).median()
    per_day = max(1, int(np.rint(pd.Timedelta(days=1) / step)))
    grouped = frame.groupby(index.normalize())
    agg: dict[str, str] = {ENERGY: "sum", TEMPERATURE: "mean"}
    if PRODUCTION in frame:
        agg[PRODUCTION] = "sum"
    daily = grouped.agg(agg)
    daily = daily[grouped.size() >= per_day]
    daily.index = pd.DatetimeIndex(daily.index)
    return daily


class BaselineModel(Protocol):
    """What every fitted baseline offers."""

    @property
    def interval(self) -> Interval:
        """Data interval the model predicts."""
        ...

    @property
    def n_parameters(self) -> int:
        """Number of fitted parameters ``p`` (G14)."""
        ...

    @property
    def uses_production(self) -> bool:
        """Whether production volume is a driver."""
        ...

    def predict(self, frame: pd.DataFrame) -> pd.Series:
        """Predicted energy per interval [kWh] for a frame at the model's interval."""
        ...

    def sigma(self, index: pd.DatetimeIndex) -> np.ndarray:
        """Residual standard deviation per interval [kWh], for prediction intervals."""
        ...

    def describe(self) -> str:
        """One line naming the model and its main parameters."""
        ...


def _lstsq(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, int]:
    # A few thousand rows by ~180 columns is too small for threaded BLAS: on a busy machine
    # the threads oversubscribe the cores and one solve takes seconds instead of ~0.1 s.
    # threadpoolctl is installed with the locked dependencies; without it, run as is.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        coef, _, rank, _ = np.linalg.lstsq(x, y, rcond=None)
        return coef, int(rank)
    with threadpool_limits(limits=1, user_api="blas"):
        coef, _, rank, _ = np.linalg.lstsq(x, y, rcond=None)
    return coef, int(rank)


def _require_production(model: BaselineModel, frame: pd.DataFrame) -> None:
    if model.uses_production and PRODUCTION not in frame:
        raise DataError("the baseline uses production volume; the frame has no 'production'")


@dataclass(frozen=True, eq=False)
class HourlyModel:
    """Fitted time-of-week-and-temperature model (hourly data).

    Attributes
    ----------
    knots_c : tuple of float
        Temperature knots retained [degC].
    occupied : numpy.ndarray
        168 booleans: hours of the week treated as occupied.
    coef : numpy.ndarray
        Regression coefficients.
    seen_tow : numpy.ndarray
        168 booleans: hours of the week present in the baseline.
    rank : int
        Rank of the design matrix (= ``n_parameters``).
    sigma_by_hour : numpy.ndarray
        Residual standard deviation by hour of day (24 values) [kWh].
    uses_production : bool
        Whether production volume is a driver.
    holidays : frozenset of datetime.date
        Days treated as Sundays.
    """

    knots_c: tuple[float, ...]
    occupied: np.ndarray
    coef: np.ndarray
    seen_tow: np.ndarray
    rank: int
    sigma_by_hour: np.ndarray
    uses_production: bool = False
    holidays: frozenset[date] = field(default_factory=frozenset)

    @property
    def interval(self) -> Interval:
        """Always :attr:`Interval.HOURLY`."""
        return Interval.HOURLY

    @property
    def n_parameters(self) -> int:
        """Rank of the design matrix."""
        return self.rank

    def design(self, frame: pd.DataFrame) -> np.ndarray:
        """Regressors for a model frame (columns as fitted)."""
        _require_production(self, frame)
        index = pd.DatetimeIndex(frame.index)
        return _towt_design(
            index,
            frame[TEMPERATURE].to_numpy(float),
            frame[PRODUCTION].to_numpy(float) if self.uses_production else None,
            self.knots_c,
            self.occupied,
            self.holidays,
        )

    def predict(self, frame: pd.DataFrame) -> pd.Series:
        """Predicted energy per hour [kWh].

        Raises
        ------
        DataError
            If the frame holds an hour of the week the baseline never saw.
        """
        tow = time_of_week(pd.DatetimeIndex(frame.index), self.holidays)
        unseen = ~self.seen_tow[tow]
        if unseen.any():
            raise DataError(
                f"hour of week {int(tow[unseen][0])} (first at {frame.index[unseen][0]}) "
                "is absent from the baseline period; use a baseline of whole weeks"
            )
        return pd.Series(self.design(frame) @ self.coef, index=frame.index, name="baseline_kwh")

    def sigma(self, index: pd.DatetimeIndex) -> np.ndarray:
        """Residual standard deviation for each timestamp's hour of day [kWh]."""
        return np.asarray(self.sigma_by_hour[index.hour.to_numpy()], dtype=float)

    def describe(self) -> str:
        """Model family, knots and occupancy."""
        knots = ", ".join(f"{k:g}" for k in self.knots_c) or "none"
        extra = " + production" if self.uses_production else ""
        return (
            f"hourly time-of-week + temperature (knots {knots} degC, "
            f"{int(self.occupied.sum())}/168 occupied hours){extra}, p={self.rank}"
        )


def _towt_design(
    index: pd.DatetimeIndex,
    temperature: np.ndarray,
    production: np.ndarray | None,
    knots: tuple[float, ...],
    occupied: np.ndarray,
    holidays: Collection[date],
) -> np.ndarray:
    tow = time_of_week(index, holidays)
    dummies = np.zeros((len(index), 168))
    dummies[np.arange(len(index)), tow] = 1.0
    segs = temperature_segments(temperature, knots)
    occ = occupied[tow][:, None]
    cols = [dummies, segs * occ, segs * ~occ]
    if production is not None:
        cols.append(production[:, None])
    return np.hstack(cols)


@dataclass(frozen=True, eq=False)
class DailyModel:
    """Fitted daily change-point model (HDD/CDD, day-off level, production).

    Attributes
    ----------
    heating_balance_c, cooling_balance_c : float or None
        Balance points [degC]; None when that branch is absent.
    coef : numpy.ndarray
        Intercept, day-off level, HDD slope, CDD slope, production slope
        (absent terms omitted).
    rmse_kwh : float
        Standard error of a new daily prediction [kWh/day].
    rank : int
        Rank of the regression.
    uses_production : bool
        Whether production volume is a driver.
    holidays : frozenset of datetime.date
        Extra days off.
    """

    heating_balance_c: float | None
    cooling_balance_c: float | None
    coef: np.ndarray
    rmse_kwh: float
    rank: int
    uses_production: bool = False
    holidays: frozenset[date] = field(default_factory=frozenset)

    @property
    def interval(self) -> Interval:
        """Always :attr:`Interval.DAILY`."""
        return Interval.DAILY

    @property
    def n_parameters(self) -> int:
        """Regression rank plus one per balance point."""
        return (
            self.rank + (self.heating_balance_c is not None) + (self.cooling_balance_c is not None)
        )

    def design(self, frame: pd.DataFrame) -> np.ndarray:
        """Regressors for a daily frame."""
        _require_production(self, frame)
        return _daily_design(
            frame,
            self.heating_balance_c,
            self.cooling_balance_c,
            self.uses_production,
            self.holidays,
        )

    def predict(self, frame: pd.DataFrame) -> pd.Series:
        """Predicted energy per day [kWh]."""
        return pd.Series(self.design(frame) @ self.coef, index=frame.index, name="baseline_kwh")

    def sigma(self, index: pd.DatetimeIndex) -> np.ndarray:
        """Residual standard error for each day [kWh]."""
        return np.full(len(index), self.rmse_kwh)

    def describe(self) -> str:
        """Model form and balance points."""
        parts = ["daily change-point: base + day-off"]
        if self.heating_balance_c is not None:
            parts.append(f"HDD({self.heating_balance_c:g} degC)")
        if self.cooling_balance_c is not None:
            parts.append(f"CDD({self.cooling_balance_c:g} degC)")
        if self.uses_production:
            parts.append("production")
        return " + ".join(parts) + f", p={self.n_parameters}"


def _daily_design(
    frame: pd.DataFrame,
    heating: float | None,
    cooling: float | None,
    production: bool,
    holidays: Collection[date],
) -> np.ndarray:
    t = frame[TEMPERATURE].to_numpy(float)
    cols = [np.ones(len(frame)), is_day_off(pd.DatetimeIndex(frame.index), holidays).astype(float)]
    if heating is not None:
        cols.append(_degree_days(t, heating, heating=True))
    if cooling is not None:
        cols.append(_degree_days(t, cooling, heating=False))
    if production:
        cols.append(frame[PRODUCTION].to_numpy(float))
    return np.column_stack(cols)


@dataclass(frozen=True, eq=False)
class BaselineFit:
    """A fitted baseline with its goodness of fit and G14 verdict.

    Attributes
    ----------
    model : BaselineModel
        The fitted model.
    metrics : FitMetrics
        Figures at the model's interval over the baseline period.
    acceptance : Acceptance
        ASHRAE Guideline 14 verdict at the model's interval.
    monthly_metrics : FitMetrics or None
        Figures of calendar-month totals (None with fewer than
        :data:`MIN_MONTHS_FOR_MONTHLY` months).
    observed : pandas.Series
        Baseline-period energy [kWh per interval].
    fitted : pandas.Series
        Model prediction over the baseline period [kWh per interval].
    """

    model: BaselineModel
    metrics: FitMetrics
    acceptance: Acceptance
    monthly_metrics: FitMetrics | None
    observed: pd.Series
    fitted: pd.Series

    @property
    def accepted(self) -> bool:
        """True when the baseline meets ASHRAE Guideline 14."""
        return self.acceptance.accepted


def _finish(model: BaselineModel, frame: pd.DataFrame) -> BaselineFit:
    fitted = model.predict(frame)
    observed = frame[ENERGY]
    metrics = fit_metrics(observed.to_numpy(), fitted.to_numpy(), model.n_parameters)
    monthly = None
    periods = pd.DatetimeIndex(observed.index).to_period("M")
    months = observed.groupby(periods)
    if months.ngroups >= MIN_MONTHS_FOR_MONTHLY:
        obs_m = months.sum().to_numpy()
        fit_m = fitted.groupby(periods).sum().to_numpy()
        # The parameters were fitted on the finer interval, so monthly totals use p = 1.
        monthly = fit_metrics(obs_m, fit_m, 1)
    acceptance = check_acceptance(metrics, g14_criteria(model.interval))
    return BaselineFit(model, metrics, acceptance, monthly, observed, fitted)


def _occupancy(tow: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """Occupied hours of the week: mean load above the median of the 168 means.

    A load-shape rule, not a fitted one: it separates the busy from the quiet
    half of the week so the temperature response may differ between them.
    """
    sums = np.bincount(tow, weights=energy, minlength=168)
    counts = np.bincount(tow, minlength=168)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    med = np.nanmedian(means)
    return np.asarray(np.nan_to_num(means, nan=-np.inf) > med, dtype=bool)


def fit_hourly(
    frame: pd.DataFrame,
    holidays: Collection[date] = (),
    knots_c: tuple[float, ...] = DEFAULT_KNOTS_C,
) -> BaselineFit:
    """Fit the hourly time-of-week-and-temperature baseline.

    Parameters
    ----------
    frame : pandas.DataFrame
        Hourly model frame of the baseline period (:func:`prepare_frame`).
    holidays : collection of datetime.date
        Days treated as Sundays.
    knots_c : tuple of float
        Candidate temperature knots [degC]; sparse segments are merged.

    Returns
    -------
    BaselineFit

    Raises
    ------
    DataError
        With fewer than two weeks of hourly data.
    """
    if len(frame) < 14 * 24:
        raise DataError(f"hourly baseline needs at least 2 weeks of data, got {len(frame)} hours")
    index = pd.DatetimeIndex(frame.index)
    hol = frozenset(holidays)
    tow = time_of_week(index, hol)
    energy = frame[ENERGY].to_numpy(float)
    temp = frame[TEMPERATURE].to_numpy(float)
    knots = select_knots(temp, knots_c)
    occupied = _occupancy(tow, energy)
    prod = frame[PRODUCTION].to_numpy(float) if PRODUCTION in frame else None
    x = _towt_design(index, temp, prod, knots, occupied, hol)
    coef, rank = _lstsq(x, energy)
    resid = energy - x @ coef
    hours = index.hour.to_numpy()
    sigma = np.array(
        [np.std(resid[hours == h], ddof=1) if (hours == h).sum() > 1 else np.nan for h in range(24)]
    )
    sigma = np.where(np.isfinite(sigma), sigma, np.nanstd(resid))
    sigma = sigma * prediction_inflation(len(energy), rank)
    seen = np.bincount(tow, minlength=168) > 0
    model = HourlyModel(knots, occupied, coef, seen, rank, sigma, prod is not None, hol)
    return _finish(model, frame)


def _slope_t(x: np.ndarray, y: np.ndarray, coef: np.ndarray, col: int) -> float:
    resid = y - x @ coef
    dof = max(len(y) - x.shape[1], 1)
    s2 = float(resid @ resid) / dof
    try:
        cov = s2 * np.linalg.inv(x.T @ x)
    except np.linalg.LinAlgError:
        return 0.0
    se = float(np.sqrt(max(cov[col, col], 0.0)))
    return float(coef[col] / se) if se > 0 else 0.0


def fit_daily(frame: pd.DataFrame, holidays: Collection[date] = ()) -> BaselineFit:
    """Fit the daily change-point baseline (HDD/CDD grid search).

    Parameters
    ----------
    frame : pandas.DataFrame
        Daily model frame (:func:`aggregate_daily`) of the baseline period.
    holidays : collection of datetime.date
        Extra days off.

    Returns
    -------
    BaselineFit

    Raises
    ------
    DataError
        With fewer than :data:`MIN_BASELINE_DAYS` days.
    """
    if len(frame) < MIN_BASELINE_DAYS:
        raise DataError(f"daily baseline needs at least {MIN_BASELINE_DAYS} days, got {len(frame)}")
    hol = frozenset(holidays)
    y = frame[ENERGY].to_numpy(float)
    t = frame[TEMPERATURE].to_numpy(float)
    prod = PRODUCTION in frame
    heat = [None] + [b for b in HEATING_BALANCE_GRID_C if (t < b).sum() >= MIN_DAYS_ACTIVE]
    cool = [None] + [b for b in COOLING_BALANCE_GRID_C if (t > b).sum() >= MIN_DAYS_ACTIVE]
    best: tuple[float, float | None, float | None, np.ndarray, int] | None = None
    for hb in heat:
        for cb in cool:
            if hb is not None and cb is not None and cb < hb:
                continue
            x = _daily_design(frame, hb, cb, prod, hol)
            coef, rank = _lstsq(x, y)
            col = 2
            ok = True
            for present in (hb is not None, cb is not None):
                if present:
                    ok &= coef[col] > 0 and _slope_t(x, y, coef, col) >= MIN_SLOPE_T
                    col += 1
            if not ok:
                continue
            p = rank + (hb is not None) + (cb is not None)
            if len(y) <= p:
                continue
            resid = y - x @ coef
            score = float(resid @ resid) / (len(y) - p)
            if best is None or score < best[0]:
                best = (score, hb, cb, coef, rank)
    assert best is not None  # the intercept-only form always qualifies
    score, hb, cb, coef, rank = best
    # score already divides by n - p; add the parameters' estimation error.
    sigma = float(np.sqrt(score * (1.0 + (rank + 2) / len(y))))
    model = DailyModel(hb, cb, coef, sigma, rank, prod, hol)
    return _finish(model, frame)


@dataclass(frozen=True, eq=False)
class BaselineSelection:
    """The baseline chosen for a meter and every candidate tried.

    Attributes
    ----------
    chosen : BaselineFit
        The first accepted candidate in order (hourly, then daily), or, if
        none passes, the candidate with the lowest CV(RMSE), still flagged
        as rejected.
    tried : tuple of BaselineFit
        All candidates, in the order tried.
    """

    chosen: BaselineFit
    tried: tuple[BaselineFit, ...]


def fit_baseline(
    frame: pd.DataFrame,
    interval: Interval | str | None = None,
    holidays: Collection[date] = (),
) -> BaselineSelection:
    """Fit a meter's baseline, preferring hourly and falling back to daily.

    Parameters
    ----------
    frame : pandas.DataFrame
        Hourly model frame of the baseline period.
    interval : Interval or str, optional
        Force ``"hourly"`` or ``"daily"``; by default hourly is tried first and
        daily is used when the hourly model fails Guideline 14.
    holidays : collection of datetime.date
        Days off besides weekends.

    Returns
    -------
    BaselineSelection
    """
    wanted = None if interval is None else Interval(interval)
    tried: list[BaselineFit] = []
    if wanted in (None, Interval.HOURLY):
        tried.append(fit_hourly(frame, holidays))
        if tried[-1].accepted or wanted is Interval.HOURLY:
            return BaselineSelection(tried[-1], tuple(tried))
    tried.append(fit_daily(aggregate_daily(frame), holidays))
    accepted = [f for f in tried if f.accepted]
    chosen = accepted[0] if accepted else min(tried, key=lambda f: f.metrics.cv_rmse)
    return BaselineSelection(chosen, tuple(tried))
