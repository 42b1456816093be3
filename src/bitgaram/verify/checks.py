"""What a savings figure rests on: periods actually covered, drivers in range, held-out fit.

Pure functions used by :func:`bitgaram.verify.pipeline.verify_meter`:

- :func:`check_periods` refuses overlapping baseline and reporting periods
  (the reporting data would be part of the model it is compared with);
- :func:`coverage` says which part of each requested period the data covers,
  and whether a period was cut (it asks for days the data does not hold);
- :func:`driver_range` counts reporting days whose mean temperature lies outside
  the range of the baseline's days: the model extrapolates there, and its
  prediction (and so the savings) is not supported by the baseline;
- :func:`held_out_metrics` refits the baseline on all but one block of days,
  predicts the held-out block, and scores the predictions over all blocks
  (k-fold cross-validation on contiguous days). In-sample NMBE of a least-
  squares fit is ~0 by construction, so it cannot fail; the held-out NMBE
  and CV(RMSE) can.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from bitgaram.errors import DataError
from bitgaram.verify.baseline import (
    ENERGY,
    TEMPERATURE,
    BaselineFit,
    aggregate_daily,
    fit_daily,
    fit_hourly,
)
from bitgaram.verify.metrics import FitMetrics, Interval, fit_metrics

#: Blocks of contiguous days in the held-out (cross-validated) metrics.
DEFAULT_FOLDS = 5

#: A reporting day counts as outside the baseline's temperature range beyond
#: this margin [degC] (the resolution of a typical outdoor sensor).
RANGE_MARGIN_C = 0.05


@dataclass(frozen=True)
class PeriodCoverage:
    """The part of one requested period the data holds.

    Attributes
    ----------
    name : str
        ``baseline`` or ``reporting``.
    requested_start, requested_end : pandas.Timestamp
        The period asked for, ``[start, end)`` (local time).
    first, last : pandas.Timestamp
        First and last hourly interval with data.
    days : int
        Days with at least one reading.
    requested_days : int
        Days in the requested period.
    """

    name: str
    requested_start: pd.Timestamp
    requested_end: pd.Timestamp
    first: pd.Timestamp
    last: pd.Timestamp
    days: int
    requested_days: int

    @property
    def cut(self) -> bool:
        """Whether the data starts after or ends before the requested period."""
        return self.days < self.requested_days

    def describe(self) -> str:
        """One line: what was asked, what is covered."""
        covered = f"{self.first:%Y-%m-%d} .. {self.last:%Y-%m-%d} ({self.days} days)"
        if not self.cut:
            return f"{self.name}: {covered}"
        return (
            f"{self.name}: asked {self.requested_start:%Y-%m-%d} .. "
            f"{self.requested_end - pd.Timedelta(days=1):%Y-%m-%d} "
            f"({self.requested_days} days), data covers only {covered}: the period was cut"
        )


def check_periods(
    baseline: tuple[pd.Timestamp, pd.Timestamp], reporting: tuple[pd.Timestamp, pd.Timestamp]
) -> None:
    """Refuse overlapping baseline and reporting periods.

    Raises
    ------
    DataError
        If the periods share any time.
    """
    (bs, be), (rs, re) = baseline, reporting
    if bs < re and rs < be:
        raise DataError(
            f"the baseline {bs:%Y-%m-%d}..{be:%Y-%m-%d} and the reporting period "
            f"{rs:%Y-%m-%d}..{re:%Y-%m-%d} overlap: the reporting data would be part of the "
            "model it is compared with; choose periods that do not share any day"
        )


def coverage(
    name: str, frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> PeriodCoverage:
    """Which part of ``[start, end)`` the (non-empty) hourly ``frame`` covers."""
    index = pd.DatetimeIndex(frame.index)
    requested = int(np.ceil((end - start) / pd.Timedelta(days=1)))
    return PeriodCoverage(
        name=name,
        requested_start=start,
        requested_end=end,
        first=index.min(),
        last=index.max(),
        days=int(index.normalize().nunique()),
        requested_days=requested,
    )


@dataclass(frozen=True)
class DriverRange:
    """Reporting days whose mean temperature leaves the baseline's range.

    Attributes
    ----------
    low_c, high_c : float
        Coldest and warmest daily mean temperature of the baseline [degC].
    below, above : int
        Reporting days colder / warmer than any baseline day.
    days : int
        Reporting days.
    """

    low_c: float
    high_c: float
    below: int
    above: int
    days: int

    @property
    def outside(self) -> int:
        """Reporting days outside the baseline's temperature range."""
        return self.below + self.above

    def describe(self) -> str:
        """A warning line, or an empty string when every day is in range."""
        if not self.outside:
            return ""
        return (
            f"{self.outside} of {self.days} reporting days have a mean temperature outside the "
            f"baseline's {self.low_c:.1f}..{self.high_c:.1f} degC ({self.below} colder, "
            f"{self.above} warmer): the baseline extrapolates there"
        )


def driver_range(base: pd.DataFrame, rep: pd.DataFrame) -> DriverRange:
    """Compare the reporting days' mean temperatures with the baseline days' range."""
    base_days = base[TEMPERATURE].groupby(pd.DatetimeIndex(base.index).normalize()).mean()
    rep_days = rep[TEMPERATURE].groupby(pd.DatetimeIndex(rep.index).normalize()).mean()
    low, high = float(base_days.min()), float(base_days.max())
    return DriverRange(
        low_c=low,
        high_c=high,
        below=int((rep_days < low - RANGE_MARGIN_C).sum()),
        above=int((rep_days > high + RANGE_MARGIN_C).sum()),
        days=len(rep_days),
    )


def held_out_metrics(
    base: pd.DataFrame,
    fit: BaselineFit,
    holidays: Collection[date] = (),
    folds: int = DEFAULT_FOLDS,
) -> FitMetrics | None:
    """NMBE and CV(RMSE) of a baseline predicting days it was not fitted on.

    Parameters
    ----------
    base : pandas.DataFrame
        Hourly model frame of the baseline period.
    fit : BaselineFit
        The chosen fit; its interval (hourly or daily) is refitted per fold.
    holidays : collection of datetime.date
        Days off besides weekends.
    folds : int
        Blocks of contiguous days.

    Returns
    -------
    FitMetrics or None
        Over every held-out prediction, at the fit's interval; None when a fold
        cannot be fitted (too few days left).
    """
    hourly = fit.model.interval == Interval.HOURLY
    frame = base if hourly else aggregate_daily(base)
    days = pd.DatetimeIndex(frame.index).normalize()
    unique = days.unique()
    if len(unique) < 2 * folds:
        return None
    block = np.searchsorted(unique, days) * folds // len(unique)
    observed: list[np.ndarray] = []
    predicted: list[np.ndarray] = []
    for k in range(folds):
        train, test = frame[block != k], frame[block == k]
        try:
            model = (fit_hourly(train, holidays) if hourly else fit_daily(train, holidays)).model
            prediction = model.predict(test)
        except (DataError, ValueError, np.linalg.LinAlgError):
            return None
        observed.append(test[ENERGY].to_numpy(dtype=float))
        predicted.append(np.asarray(prediction, dtype=float))
    return fit_metrics(np.concatenate(observed), np.concatenate(predicted), fit.model.n_parameters)
