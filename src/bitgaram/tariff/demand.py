"""Maximum demand and billing demand.

KEPCO meters the maximum demand as the **average power over each 15-minute interval**. The
billing demand (요금적용전력) of a month is the largest monthly maximum among the ratchet months
(Dec, Jan, Feb, Jul, Aug, Sep) of the previous 12 months and the current month, at least 30 % of
contract power; intervals in excluded periods (light load) are not read. All of these numbers
come from :class:`~bitgaram.tariff.rules.DemandRules` (tariff data), not from this module.

Readings coarser than the demand interval cannot give its maximum: they are refused unless the
caller accepts the *hourly approximation* (``allow_coarse=True``), where each interval inherits
the average power of the reading that covers it. That average is a lower bound of the true
15-minute maximum, so the approximation under-bills the demand charge of peaky loads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bitgaram.errors import DataError
from bitgaram.tariff.rules import DemandRules


class _PeriodTariff(Protocol):
    @property
    def periods(self) -> tuple[str, ...]: ...

    def period_index(self, timestamps: object) -> NDArray[np.intp]: ...


def reading_step(index: pd.DatetimeIndex, what: str = "readings") -> pd.Timedelta:
    """Spacing of readings: the median difference of a sorted, unique index.

    Raises
    ------
    DataError
        If there are fewer than two readings or the index is unsorted or has duplicates.
    """
    if len(index) < 2:
        raise DataError(f"{what}: need at least two readings to know their interval")
    if not index.is_monotonic_increasing or index.has_duplicates:
        raise DataError(f"{what}: timestamps must be sorted and unique")
    return pd.Timedelta(np.median(np.diff(index.to_numpy())))


def demand_series(
    readings: pd.Series,
    *,
    kind: Literal["energy", "power"] = "energy",
    interval_minutes: int = 15,
    allow_coarse: bool = False,
    step: pd.Timedelta | None = None,
) -> pd.Series:
    """Average demand over each demand interval [kW].

    Parameters
    ----------
    readings : pandas.Series
        Indexed by interval-start timestamps: energy per interval [kWh] (``kind="energy"``) or
        power samples [kW] (``kind="power"``), at any regular resolution that divides the demand
        interval (e.g. 1, 5, 15 min).
    kind : {"energy", "power"}
        What the values are.
    interval_minutes : int
        Demand interval [min].
    allow_coarse : bool
        Accept readings coarser than the interval (e.g. hourly): every interval gets the average
        power of its reading (a lower bound of the true interval maximum).
    step : pandas.Timedelta, optional
        Reading interval; inferred from the index (median spacing) when omitted.

    Returns
    -------
    pandas.Series
        Average power per demand interval [kW], indexed by interval start. An interval with
        missing readings is averaged over the readings it has.

    Examples
    --------
    >>> import pandas as pd
    >>> e = pd.Series([10.0, 20.0, 30.0], index=pd.date_range("2026-08-03 14:00", periods=3,
    ...                                                       freq="5min"))
    >>> demand_series(e).tolist()  # 60 kWh in 15 min
    [240.0]
    """
    index = readings.index
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError("readings must be indexed by timestamps (pandas.DatetimeIndex)")
    step = reading_step(index) if step is None else step
    interval = pd.Timedelta(minutes=interval_minutes)
    values = readings.to_numpy(dtype=float)
    hours = step / pd.Timedelta(hours=1)
    power = values / hours if kind == "energy" else values
    if step > interval:
        if not allow_coarse:
            raise DataError(
                f"readings every {step} are coarser than the {interval_minutes}-min demand "
                f"interval, so the maximum {interval_minutes}-min demand is unknown; give finer "
                "readings or accept the coarse approximation (allow_coarse / "
                "--allow-hourly-demand), which under-estimates peaks"
            )
        if step % interval != pd.Timedelta(0):
            raise DataError(f"reading interval {step} is not a multiple of {interval}")
        n = int(step // interval)
        offsets = np.arange(n) * interval.to_timedelta64()
        starts = np.repeat(index.to_numpy(), n) + np.tile(offsets, len(index))
        return pd.Series(np.repeat(power, n), index=pd.DatetimeIndex(starts), name="demand_kw")
    if interval % step != pd.Timedelta(0):
        raise DataError(f"reading interval {step} does not divide the {interval} demand interval")
    bins = index.floor(interval)
    out = pd.Series(power, index=index).groupby(bins).mean()
    out.index = pd.DatetimeIndex(out.index)
    out.name = "demand_kw"
    return out


def monthly_max_demand(
    demand_kw: pd.Series,
    tariff: _PeriodTariff,
    excluded_periods: tuple[str, ...] = (),
) -> pd.Series:
    """Maximum demand of each calendar month, ignoring intervals of excluded periods [kW].

    Parameters
    ----------
    demand_kw : pandas.Series
        Interval demand [kW] indexed by naive local interval-start timestamps.
    tariff
        Any tariff with ``periods`` and ``period_index`` (gives each interval's period).
    excluded_periods : tuple of str
        Period names not read (e.g. ``("light",)``).

    Returns
    -------
    pandas.Series
        Indexed by monthly :class:`pandas.Period`; 0 for a month with only excluded intervals.
    """
    index = pd.DatetimeIndex(demand_kw.index)
    values = demand_kw.to_numpy(dtype=float)
    months = index.to_period("M")
    unknown = set(excluded_periods) - set(tariff.periods)
    if unknown:
        raise DataError(f"excluded periods {sorted(unknown)} are not periods of the tariff")
    if excluded_periods:
        pidx = tariff.period_index(index)
        excluded = np.isin(pidx, [tariff.periods.index(p) for p in excluded_periods])
        values = np.where(excluded, 0.0, values)
    out = pd.Series(values, index=months).groupby(level=0).max()
    out.index = pd.PeriodIndex(out.index, freq="M")
    return out.fillna(0.0)


@dataclass(frozen=True)
class BillingDemand:
    """The billing demand of one month and why.

    Attributes
    ----------
    month : pandas.Period
        The billed month.
    billing_kw : float
        Billing demand [kW].
    current_max_kw : float
        Maximum demand of the month itself [kW].
    ratchet_kw : float
        Largest maximum demand among the ratchet months of the lookback window [kW] (0 if none).
    ratchet_month : pandas.Period or None
        The month that set ``ratchet_kw``.
    floor_kw : float
        Floor from contract power [kW].
    basis : {"current", "ratchet", "floor"}
        Which of the three set the billing demand.
    """

    month: pd.Period
    billing_kw: float
    current_max_kw: float
    ratchet_kw: float
    ratchet_month: pd.Period | None
    floor_kw: float
    basis: str


def billing_demand(
    month: pd.Period,
    monthly_max_kw: Mapping[pd.Period, float],
    rules: DemandRules,
    contract_kw: float | None = None,
) -> BillingDemand:
    """Billing demand of ``month`` with the ratchet and the contract-power floor.

    Parameters
    ----------
    month : pandas.Period
        The billed month (freq "M").
    monthly_max_kw : Mapping[pandas.Period, float]
        Maximum demand of this and earlier months [kW]; months absent count as 0.
    rules : DemandRules
        Ratchet months, lookback and floor fraction.
    contract_kw : float, optional
        Contract power [kW]; no floor without it.

    Returns
    -------
    BillingDemand

    Examples
    --------
    >>> import pandas as pd
    >>> from bitgaram.tariff.rules import DemandRules
    >>> rules = DemandRules(ratchet_months=(12, 1, 2, 7, 8, 9), floor_fraction=0.3)
    >>> history = {pd.Period("2026-08", "M"): 800.0, pd.Period("2026-10", "M"): 500.0}
    >>> billing_demand(pd.Period("2026-10", "M"), history, rules, 1000.0).billing_kw
    800.0
    """
    current = float(monthly_max_kw.get(month, 0.0))
    ratchet_kw, ratchet_month = 0.0, None
    for m in rules.ratchet_window(month):
        v = float(monthly_max_kw.get(m, 0.0))
        if v > ratchet_kw:
            ratchet_kw, ratchet_month = v, m
    floor_kw = rules.floor_fraction * contract_kw if contract_kw is not None else 0.0
    billing = max(current, ratchet_kw, floor_kw)
    if billing == current:
        basis = "current"
    elif billing == ratchet_kw:
        basis = "ratchet"
    else:
        basis = "floor"
    return BillingDemand(month, billing, current, ratchet_kw, ratchet_month, floor_kw, basis)
