"""Anomalies against a baseline: outside the prediction interval, off-hours use, drift.

All three compare metered use with the baseline's prediction for the same
hours (or days) and report only *excess* use, which is what costs money:

* **outside interval**: a run of consecutive intervals whose use exceeds the
  prediction by more than ``z_interval`` residual standard deviations;
* **off-hours use**: the same with the lower threshold ``z_off_hours``, for
  runs that lie wholly in the hours of the week the hourly baseline marks as
  unoccupied (use when nobody should be there is waste even when small);
* **drift**: a sustained upward shift of daily residuals, found with a
  one-sided tabular CUSUM on standardised daily residuals (reference
  ``k = 0.5``, decision ``h = 5``; the textbook values, detecting a shift of
  about one standard deviation).

Each anomaly has its time range, excess energy [kWh] and cost; the list is
ranked by cost, largest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from bitgaram.errors import DataError
from bitgaram.verify.baseline import ENERGY, BaselineFit, HourlyModel
from bitgaram.verify.features import time_of_week
from bitgaram.verify.metrics import prediction_inflation

#: Threshold of the prediction interval [residual standard deviations]; 3 keeps
#: false alarms near 0.1 % of intervals for Gaussian residuals.
Z_INTERVAL = 3.0
#: Lower threshold for unoccupied hours [standard deviations].
Z_OFF_HOURS = 2.0
#: CUSUM reference value and decision interval [standard deviations].
CUSUM_K = 0.5
CUSUM_H = 5.0


class AnomalyKind(StrEnum):
    """What kind of excess use an anomaly is."""

    OUTSIDE_INTERVAL = "outside_interval"
    OFF_HOURS = "off_hours"
    DRIFT = "drift"


@dataclass(frozen=True)
class Anomaly:
    """One stretch of excess use.

    Attributes
    ----------
    meter : str
        Meter or equipment.
    kind : AnomalyKind
        Outside interval, off-hours or drift.
    start : pandas.Timestamp
        Start of the first interval.
    end : pandas.Timestamp
        End of the last interval (exclusive).
    excess_kwh : float
        Metered minus predicted use over the stretch [kWh].
    cost : float
        Cost of the excess [currency of the price].
    peak_z : float
        Largest standardised residual in the stretch [-].
    """

    meter: str
    kind: AnomalyKind
    start: pd.Timestamp
    end: pd.Timestamp
    excess_kwh: float
    cost: float
    peak_z: float

    @property
    def hours(self) -> float:
        """Duration [h]."""
        return (self.end - self.start) / pd.Timedelta(hours=1)


def _price_array(price: pd.Series | float, index: pd.DatetimeIndex) -> np.ndarray:
    if isinstance(price, pd.Series):
        aligned = price.reindex(index)
        if aligned.isna().any():
            raise DataError(
                f"price series does not cover {index[aligned.isna().to_numpy()][0]}; "
                "give a price for every interval or a flat rate"
            )
        return aligned.to_numpy(float)
    return np.full(len(index), float(price))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open [start, stop) index ranges of consecutive True values."""
    if not mask.any():
        return []
    padded = np.concatenate([[False], mask, [False]]).astype(int)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _events(
    meter: str,
    kind: AnomalyKind,
    index: pd.DatetimeIndex,
    step: pd.Timedelta,
    resid: np.ndarray,
    z: np.ndarray,
    cost: np.ndarray,
    mask: np.ndarray,
) -> list[Anomaly]:
    out = []
    for a, b in _runs(mask):
        out.append(
            Anomaly(
                meter=meter,
                kind=kind,
                start=pd.Timestamp(index[a]),
                end=pd.Timestamp(index[b - 1]) + step,
                excess_kwh=float(resid[a:b].sum()),
                cost=float(cost[a:b].sum()),
                peak_z=float(z[a:b].max()),
            )
        )
    return out


def cusum_upper(z: np.ndarray, k: float = CUSUM_K) -> np.ndarray:
    """One-sided upper CUSUM ``S_t = max(0, S_{t-1} + z_t - k)`` of standardised values.

    Parameters
    ----------
    z : numpy.ndarray
        Standardised residuals [-].
    k : float
        Reference value [-].

    Returns
    -------
    numpy.ndarray
        The statistic, same length as ``z``.
    """
    s = np.zeros(len(z))
    acc = 0.0
    for i, v in enumerate(z):
        acc = max(0.0, acc + float(v) - k)
        s[i] = acc
    return s


def _daily_sums(values: pd.Series, per_day: int) -> pd.Series:
    grouped = values.groupby(pd.DatetimeIndex(values.index).normalize())
    sums = grouped.sum()
    return sums[grouped.size() >= per_day]


def _drift(
    meter: str, fit: BaselineFit, index: pd.DatetimeIndex, resid: np.ndarray, cost: np.ndarray
) -> list[Anomaly]:
    """Upward drift of daily residuals (CUSUM), sized in kWh and cost."""
    per_day = 24 if fit.model.interval == "hourly" else 1
    base_resid = _daily_sums(fit.observed - fit.fitted, per_day)
    if len(base_resid) < 3:
        return []
    m = fit.metrics
    inflation = prediction_inflation(m.n, m.p)
    # Daily spread two ways; the larger wins so short baselines do not raise false drifts:
    # the in-sample daily residual spread, and the interval RMSE summed over a day with
    # lag-1 autocorrelation (variance factor (1 + rho) / (1 - rho)).
    empirical = float(np.std(base_resid.to_numpy(float), ddof=1)) * inflation
    from_rmse = m.rmse_kwh * np.sqrt(per_day * (1 + m.rho) / (1 - m.rho) * (1 + m.p / m.n))
    sigma = max(empirical, float(from_rmse))
    day_resid = _daily_sums(pd.Series(resid, index=index), per_day)
    day_cost = _daily_sums(pd.Series(cost, index=index), per_day).reindex(day_resid.index)
    r = day_resid.to_numpy(float)
    s = cusum_upper(r / sigma)
    days = pd.DatetimeIndex(day_resid.index)
    out = []
    for a, b in _runs(s > 0):
        if s[a:b].max() < CUSUM_H:
            continue
        out.append(
            Anomaly(
                meter=meter,
                kind=AnomalyKind.DRIFT,
                start=pd.Timestamp(days[a]),
                end=pd.Timestamp(days[b - 1]) + pd.Timedelta(days=1),
                excess_kwh=float(r[a:b].sum()),
                cost=float(day_cost.to_numpy(float)[a:b].sum()),
                peak_z=float(s[a:b].max()),
            )
        )
    return out


def detect_anomalies(
    fit: BaselineFit,
    frame: pd.DataFrame,
    price: pd.Series | float,
    meter: str = "meter",
    z_interval: float = Z_INTERVAL,
    z_off_hours: float = Z_OFF_HOURS,
) -> tuple[Anomaly, ...]:
    """Find excess use against a baseline, ranked by cost.

    Parameters
    ----------
    fit : BaselineFit
        Baseline of the meter (hourly for off-hours detection; a baseline that
        fails Guideline 14 may still serve here, its wider residuals widen the
        thresholds).
    frame : pandas.DataFrame
        Model frame of the period to inspect, at the model's interval.
    price : pandas.Series or float
        Energy price per interval of ``frame`` [currency/kWh] (a daily frame
        needs a daily price) or a flat rate.
    meter : str
        Label of the meter.
    z_interval, z_off_hours : float
        Thresholds [residual standard deviations].

    Returns
    -------
    tuple of Anomaly
        Ranked by cost, largest first.
    """
    if frame.empty:
        raise DataError(f"{meter}: nothing to inspect for anomalies")
    index = pd.DatetimeIndex(frame.index)
    pred = fit.model.predict(frame).to_numpy(float)
    resid = frame[ENERGY].to_numpy(float) - pred
    sigma = fit.model.sigma(index)
    z = resid / np.where(sigma > 0, sigma, np.inf)
    step = pd.Timedelta(hours=1) if fit.model.interval == "hourly" else pd.Timedelta(days=1)
    cost = resid * _price_array(price, index)
    found: list[Anomaly] = []
    model = fit.model
    if isinstance(model, HourlyModel):
        unocc = ~model.occupied[time_of_week(index, model.holidays)]
    else:
        unocc = np.zeros(len(index), dtype=bool)
    off = (z > z_off_hours) & unocc
    flagged = off | (z > z_interval)
    # One event per contiguous flagged run; it is off-hours use only if every hour is unoccupied.
    for a, b in _runs(flagged):
        kind = AnomalyKind.OFF_HOURS if unocc[a:b].all() else AnomalyKind.OUTSIDE_INTERVAL
        mask = np.zeros(len(index), dtype=bool)
        mask[a:b] = True
        found += _events(meter, kind, index, step, resid, z, cost, mask)
    found += _drift(meter, fit, index, resid, cost)
    return tuple(sorted(found, key=lambda a: a.cost, reverse=True))


def anomalies_frame(anomalies: tuple[Anomaly, ...] | list[Anomaly]) -> pd.DataFrame:
    """Anomalies as a table (one row each, ranked as given, ``rank`` from 1)."""
    rows = [
        {
            "rank": i + 1,
            "meter": a.meter,
            "kind": str(a.kind),
            "start": a.start,
            "end": a.end,
            "hours": a.hours,
            "excess_kwh": a.excess_kwh,
            "cost": a.cost,
            "peak_z": a.peak_z,
        }
        for i, a in enumerate(anomalies)
    ]
    columns = ["rank", "meter", "kind", "start", "end", "hours", "excess_kwh", "cost", "peak_z"]
    return pd.DataFrame(rows, columns=columns)
