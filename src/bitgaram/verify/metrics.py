"""Goodness-of-fit metrics of a baseline and ASHRAE Guideline 14 acceptance.

Definitions follow ASHRAE Guideline 14 (G14), with ``p`` the number of model
parameters and ``n`` the number of observations::

    CV(RMSE) = sqrt(sum (y - yhat)^2 / (n - p)) / mean(y)
    NMBE     = sum (y - yhat) / ((n - p) * mean(y))

A baseline is accepted only if *both* CV(RMSE) and |NMBE| are within the
limits for its data interval: hourly 30 % / 10 %, monthly 15 % / 5 %. G14 names
no daily limits; bitgaram judges daily models with the hourly limits (data
finer than monthly) and reports the monthly-aggregated figures alongside.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from bitgaram.errors import DataError

ArrayLike = npt.ArrayLike


class Interval(StrEnum):
    """Data interval of a baseline model."""

    HOURLY = "hourly"
    DAILY = "daily"
    MONTHLY = "monthly"


@dataclass(frozen=True)
class Criteria:
    """Acceptance limits of a baseline model.

    Attributes
    ----------
    max_cv_rmse : float
        Largest accepted CV(RMSE) [-] (0.30 = 30 %).
    max_abs_nmbe : float
        Largest accepted |NMBE| [-].
    source : str
        Where the limits come from.
    """

    max_cv_rmse: float
    max_abs_nmbe: float
    source: str


#: ASHRAE Guideline 14 limits for hourly data.
G14_HOURLY = Criteria(0.30, 0.10, "ASHRAE Guideline 14, hourly data")
#: The hourly limits, applied to daily data (G14 names none for daily data).
G14_DAILY = Criteria(0.30, 0.10, "ASHRAE Guideline 14 hourly limits, applied to daily data")
#: ASHRAE Guideline 14 limits for monthly data.
G14_MONTHLY = Criteria(0.15, 0.05, "ASHRAE Guideline 14, monthly data")


def g14_criteria(interval: Interval | str) -> Criteria:
    """ASHRAE Guideline 14 limits for a data interval.

    Parameters
    ----------
    interval : Interval or str
        ``"hourly"``, ``"daily"`` or ``"monthly"``.

    Returns
    -------
    Criteria
        Monthly limits for monthly data, hourly limits for anything finer.
    """
    return {
        Interval.HOURLY: G14_HOURLY,
        Interval.DAILY: G14_DAILY,
        Interval.MONTHLY: G14_MONTHLY,
    }[Interval(interval)]


def _pair(y: ArrayLike, yhat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(y, dtype=float).ravel()
    b = np.asarray(yhat, dtype=float).ravel()
    if a.shape != b.shape:
        raise DataError(f"observed and predicted differ in length: {a.size} vs {b.size}")
    if a.size == 0:
        raise DataError("no observations to compute a metric on")
    ok = np.isfinite(a) & np.isfinite(b)
    return a[ok], b[ok]


def _dof(n: int, p: int) -> int:
    if p < 0 or n - p <= 0:
        raise DataError(f"need more observations than parameters: n={n}, p={p}")
    return n - p


def cv_rmse(y: ArrayLike, yhat: ArrayLike, p: int = 1) -> float:
    """Coefficient of variation of the root-mean-square error (G14).

    Parameters
    ----------
    y, yhat : array_like
        Observed and predicted energy [kWh] (non-finite pairs are dropped).
    p : int
        Number of model parameters.

    Returns
    -------
    float
        ``sqrt(sum (y - yhat)^2 / (n - p)) / mean(y)`` [-].

    Examples
    --------
    >>> round(cv_rmse([1.0, 2.0, 3.0], [1.0, 2.0, 4.0], p=1), 4)
    0.3536
    """
    a, b = _pair(y, yhat)
    mean = float(a.mean())
    if mean == 0:
        raise DataError("mean of observed energy is zero; CV(RMSE) is undefined")
    return float(np.sqrt(np.sum((a - b) ** 2) / _dof(a.size, p)) / mean)


def nmbe(y: ArrayLike, yhat: ArrayLike, p: int = 1) -> float:
    """Normalised mean bias error (G14); positive when the model under-predicts.

    Parameters
    ----------
    y, yhat : array_like
        Observed and predicted energy [kWh].
    p : int
        Number of model parameters.

    Returns
    -------
    float
        ``sum (y - yhat) / ((n - p) * mean(y))`` [-].

    Examples
    --------
    >>> round(nmbe([1.0, 2.0, 3.0], [1.0, 2.0, 4.0], p=1), 4)
    -0.25
    """
    a, b = _pair(y, yhat)
    mean = float(a.mean())
    if mean == 0:
        raise DataError("mean of observed energy is zero; NMBE is undefined")
    return float(np.sum(a - b) / (_dof(a.size, p) * mean))


def r_squared(y: ArrayLike, yhat: ArrayLike) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` [-]."""
    a, b = _pair(y, yhat)
    ss_tot = float(np.sum((a - a.mean()) ** 2))
    if ss_tot == 0:
        return 1.0 if np.allclose(a, b) else 0.0
    return 1.0 - float(np.sum((a - b) ** 2)) / ss_tot


def lag1_autocorrelation(residuals: ArrayLike) -> float:
    """Lag-1 autocorrelation of residuals, clipped to [0, 0.99] [-].

    Negative autocorrelation is set to 0 (no widening of the uncertainty) and
    values near 1 are capped so the effective sample size stays positive.
    """
    r = np.asarray(residuals, dtype=float)
    r = r[np.isfinite(r)]
    if r.size < 3:
        return 0.0
    r = r - r.mean()
    denom = float(np.sum(r * r))
    if denom == 0:
        return 0.0
    rho = float(np.sum(r[1:] * r[:-1]) / denom)
    return min(max(rho, 0.0), 0.99)


@dataclass(frozen=True)
class FitMetrics:
    """Goodness of fit of a baseline over its baseline period.

    Attributes
    ----------
    n : int
        Observations used.
    p : int
        Model parameters.
    cv_rmse : float
        CV(RMSE) [-].
    nmbe : float
        NMBE [-].
    r2 : float
        R squared [-].
    rho : float
        Lag-1 autocorrelation of the residuals [-].
    mean_kwh : float
        Mean observed energy per interval [kWh].
    rmse_kwh : float
        ``sqrt(SSE / (n - p))`` [kWh].
    """

    n: int
    p: int
    cv_rmse: float
    nmbe: float
    r2: float
    rho: float
    mean_kwh: float
    rmse_kwh: float


def fit_metrics(y: ArrayLike, yhat: ArrayLike, p: int) -> FitMetrics:
    """All goodness-of-fit figures of a baseline at once.

    Parameters
    ----------
    y, yhat : array_like
        Observed and predicted energy per interval [kWh], in time order.
    p : int
        Number of model parameters.

    Returns
    -------
    FitMetrics
    """
    a, b = _pair(y, yhat)
    dof = _dof(a.size, p)
    return FitMetrics(
        n=int(a.size),
        p=int(p),
        cv_rmse=cv_rmse(a, b, p),
        nmbe=nmbe(a, b, p),
        r2=r_squared(a, b),
        rho=lag1_autocorrelation(a - b),
        mean_kwh=float(a.mean()),
        rmse_kwh=float(np.sqrt(np.sum((a - b) ** 2) / dof)),
    )


@dataclass(frozen=True)
class Acceptance:
    """Verdict of a baseline against acceptance criteria.

    Attributes
    ----------
    accepted : bool
        True only if both limits hold.
    criteria : Criteria
        The limits applied.
    reasons : tuple of str
        One line per failed limit, with the figures (empty when accepted).
    """

    accepted: bool
    criteria: Criteria
    reasons: tuple[str, ...]

    def summary(self) -> str:
        """One line: accepted, or the failures with their figures."""
        if self.accepted:
            return f"accepted ({self.criteria.source})"
        return f"REJECTED ({self.criteria.source}): " + "; ".join(self.reasons)


def check_acceptance(metrics: FitMetrics, criteria: Criteria) -> Acceptance:
    """Judge a baseline's metrics against limits; both must hold.

    Parameters
    ----------
    metrics : FitMetrics
        Figures of the baseline.
    criteria : Criteria
        Limits, e.g. :data:`G14_HOURLY`.

    Returns
    -------
    Acceptance
    """
    reasons = []
    if not np.isfinite(metrics.cv_rmse) or metrics.cv_rmse > criteria.max_cv_rmse:
        reasons.append(f"CV(RMSE) {metrics.cv_rmse:.1%} > {criteria.max_cv_rmse:.0%}")
    if not np.isfinite(metrics.nmbe) or abs(metrics.nmbe) > criteria.max_abs_nmbe:
        reasons.append(f"|NMBE| {abs(metrics.nmbe):.1%} > {criteria.max_abs_nmbe:.0%}")
    return Acceptance(accepted=not reasons, criteria=criteria, reasons=tuple(reasons))


def prediction_inflation(n: int, p: int) -> float:
    """Factor from in-sample residual spread to out-of-sample prediction error [-].

    In-sample residuals of a least-squares fit understate the error of a new
    prediction: ``sqrt(n / (n - p))`` undoes the fit's absorption of noise and
    ``sqrt(1 + p / n)`` adds the parameters' own estimation error.

    Examples
    --------
    >>> round(prediction_inflation(100, 20), 4)
    1.2247
    """
    return float(np.sqrt(n / _dof(n, p) * (1.0 + p / n)))
