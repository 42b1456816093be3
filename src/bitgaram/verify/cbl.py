"""Customer baseline load (CBL) of demand-response events: the KPX rules, pure functions.

A CBL is "the consumption the participant would have had had it not reduced its load",
estimated interval by interval from recent comparable days. The methods of the Korean
demand-resource market (``shared/reference/kpx_dr.md``; every rule is a parameter here,
check them against the current market rules before settling money):

- **Mid(6/10)**: the 10 days before the event day, without Saturdays, Sundays and public
  holidays; for each interval of the day drop the 2 highest and the 2 lowest days and
  average the remaining 6.
- **Max(4/5)**: the last 5 such days; for each interval drop the lowest day and average the
  remaining 4.
- **High(X/Y)**: a configurable "highest X of the last Y days" (drop the lowest Y - X).

Day selection (:func:`select_days`) goes back from the day before the event over days of the
same kind (working days for a working-day event, days off for a day off), skipping
caller-excluded days (e.g. earlier event days) and *unusual* days: a day whose average is
below ``low_ratio`` (75 %) of the reference average, or above ``high_ratio`` (125 %, for
factories) when set. The reference average is the mean over the first ``days`` candidates;
the look-back extends to ``lookback_factor`` (2) x ``days`` candidates to find enough days.

Inputs are energy series [kWh per interval] with a tz-aware DatetimeIndex of interval starts;
days are local days of ``timezone``. Nothing here reads files or clocks.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from bitgaram.errors import DataError

#: Unusual-day thresholds of the KPX rules: a day below 75 % of the reference average is
#: dropped (a shutdown, a strike); for factories a day above 125 % is dropped too.
LOW_RATIO = 0.75
HIGH_RATIO_FACTORY = 1.25


@dataclass(frozen=True)
class CblMethod:
    """How a CBL is formed.

    Attributes
    ----------
    name : str
        Label in reports (``Mid(6/10)``).
    days : int
        Days in the window (Y).
    drop_high, drop_low : int
        Days dropped per interval from the top and from the bottom.
    low_ratio : float
        Days whose average is below this share of the reference average are unusual [-].
    high_ratio : float or None
        Days above this share are unusual too (factories); None: no upper test.
    lookback_factor : int
        How far back to look for enough usual days, in windows.
    """

    name: str
    days: int
    drop_high: int
    drop_low: int
    low_ratio: float = LOW_RATIO
    high_ratio: float | None = HIGH_RATIO_FACTORY
    lookback_factor: int = 2

    def __post_init__(self) -> None:
        if self.days < 1 or self.drop_high < 0 or self.drop_low < 0:
            raise DataError(f"CBL method {self.name}: days must be >= 1 and drops >= 0")
        if self.drop_high + self.drop_low >= self.days:
            raise DataError(f"CBL method {self.name}: drops leave no day to average")

    @property
    def kept(self) -> int:
        """Days averaged per interval."""
        return self.days - self.drop_high - self.drop_low


#: KPX Mid(6/10).
MID_6_10 = CblMethod("Mid(6/10)", days=10, drop_high=2, drop_low=2)
#: KPX Max(4/5).
MAX_4_5 = CblMethod("Max(4/5)", days=5, drop_high=0, drop_low=1)


def high_x_of_y(x: int, y: int, **rules: float | None) -> CblMethod:
    """The "highest ``x`` of the last ``y`` days" method.

    Examples
    --------
    >>> high_x_of_y(5, 10).drop_low
    5
    """
    return CblMethod(f"High({x}/{y})", days=y, drop_high=0, drop_low=y - x, **rules)  # type: ignore[arg-type]


@dataclass(frozen=True)
class CblResult:
    """The baseline of one event for one member (tenant or park) by one method.

    Attributes
    ----------
    method : str
    days : tuple of datetime.date
        Days the CBL is built from, newest first.
    skipped : dict
        Day -> why it was not used (``day off``, ``holiday``, ``excluded``, ``unusual``).
    baseline_kwh : pandas.Series
        CBL per event interval [kWh].
    metered_kwh : pandas.Series
        Metered energy per event interval [kWh].
    """

    method: str
    days: tuple[date, ...]
    skipped: dict[date, str]
    baseline_kwh: pd.Series
    metered_kwh: pd.Series

    @property
    def reduction_kwh(self) -> float:
        """CBL - metered over the event [kWh] (negative: consumed more than the baseline)."""
        return float(self.baseline_kwh.sum() - self.metered_kwh.sum())


def _slots(index: pd.DatetimeIndex, timezone: str) -> tuple[np.ndarray, np.ndarray]:
    """Local day and second-of-day of each interval start."""
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise DataError("CBL input needs a tz-aware DatetimeIndex of interval starts")
    local = index.tz_convert(timezone)
    slot = np.asarray((local - local.normalize()).total_seconds(), dtype=int)
    return np.asarray(local.date), slot


@dataclass(frozen=True)
class _DayMatrix:
    """One member's energy as local days x intervals of the day (NaN where it has no data)."""

    days: list[date]
    slots: np.ndarray  # second of the day of each column, ascending
    values: np.ndarray  # [kWh], days x slots

    def profile_at(self, profile: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """``profile`` (one value per column) at the given seconds of the day (NaN: none)."""
        pos = np.clip(np.searchsorted(self.slots, slots), 0, max(len(self.slots) - 1, 0))
        found = self.slots[pos] == slots if len(self.slots) else np.zeros(len(slots), bool)
        return np.where(found, profile[pos] if len(profile) else np.nan, np.nan)


def _local_days(energy: pd.DataFrame, timezone: str) -> dict[str, _DayMatrix]:
    """Per column: its days x interval-of-day matrix (local days).

    One grouping for every column; each member keeps only the intervals of the day it has
    data at, so a member's day counts as complete on its own intervals.
    """
    day, slot = _slots(pd.DatetimeIndex(energy.index), timezone)
    grouped = energy.groupby([day, slot]).sum(min_count=1)
    days = sorted(set(day))
    slots = np.array(sorted(set(slot)), dtype=int)
    full = grouped.reindex(pd.MultiIndex.from_product([days, slots]))
    cube = full.to_numpy(dtype=float).reshape(len(days), len(slots), energy.shape[1])
    out = {}
    for j, name in enumerate(energy.columns):
        m = cube[:, :, j]
        seen = ~np.all(np.isnan(m), axis=0)
        out[str(name)] = _DayMatrix(days, slots[seen], m[:, seen])
    return out


def _baseline(
    matrix: _DayMatrix,
    event_day: date,
    method: CblMethod,
    holidays: Collection[date],
    excluded: Collection[date],
) -> tuple[tuple[date, ...], dict[date, str], np.ndarray]:
    """Days used, days skipped and the CBL per column of ``matrix`` of one member."""
    with np.errstate(invalid="ignore"):
        means = matrix.values.mean(axis=1)  # NaN for a day with a missing interval
    daily = {d: float(v) for d, v in zip(matrix.days, means, strict=True) if d != event_day}
    days, skipped = select_days(daily, event_day, method, holidays, excluded)
    row = {d: i for i, d in enumerate(matrix.days)}
    rows = matrix.values[[row[d] for d in days]]
    return days, skipped, trimmed_mean(rows, method.drop_high, method.drop_low)


def select_days(
    daily_mean: Mapping[date, float],
    event_day: date,
    method: CblMethod,
    holidays: Collection[date] = (),
    excluded: Collection[date] = (),
) -> tuple[tuple[date, ...], dict[date, str]]:
    """Pick the days of a CBL (pure).

    Parameters
    ----------
    daily_mean : mapping
        Local day -> mean energy per interval of that day [kWh]; days absent have no data.
    event_day : datetime.date
        The event's local day.
    method : CblMethod
    holidays : collection of datetime.date
        Public holidays.
    excluded : collection of datetime.date
        Days to leave out (earlier events, outages).

    Returns
    -------
    (days, skipped)
        The days used, newest first, and each skipped day with its reason.

    Examples
    --------
    >>> mean = {date(2026, 7, d): 10.0 for d in range(1, 31)}
    >>> days, why = select_days(mean, date(2026, 7, 20), MAX_4_5)  # a Monday
    >>> [d.day for d in days], why[date(2026, 7, 19)]
    ([17, 16, 15, 14, 13], 'day off')
    """
    hol = set(holidays)
    exc = set(excluded)

    def off(d: date) -> bool:
        return d.weekday() >= 5 or d in hol

    event_off = off(event_day)
    skipped: dict[date, str] = {}
    candidates: list[date] = []
    d = event_day
    earliest = min(daily_mean, default=event_day)
    while len(candidates) < method.days * method.lookback_factor and d > earliest:
        d -= timedelta(days=1)
        if off(d) != event_off:
            skipped[d] = "holiday" if d in hol else ("day off" if not event_off else "working day")
        elif d in exc:
            skipped[d] = "excluded"
        elif d not in daily_mean or not np.isfinite(daily_mean[d]):
            skipped[d] = "no data"
        else:
            candidates.append(d)
    if not candidates:
        raise DataError(f"CBL {method.name}: no usable day before {event_day}")
    reference = float(np.mean([daily_mean[c] for c in candidates[: method.days]]))
    days: list[date] = []
    for c in candidates:
        ratio = daily_mean[c] / reference if reference > 0 else 1.0
        high = method.high_ratio is not None and ratio > method.high_ratio
        if ratio < method.low_ratio or high:
            skipped[c] = "unusual"
        elif len(days) < method.days:
            days.append(c)
    if len(days) <= method.drop_high + method.drop_low:
        raise DataError(
            f"CBL {method.name}: only {len(days)} usable days before {event_day}, "
            f"need more than {method.drop_high + method.drop_low}"
        )
    return tuple(days), skipped


def trimmed_mean(matrix: np.ndarray, drop_high: int, drop_low: int) -> np.ndarray:
    """Per column: drop the ``drop_high`` largest and ``drop_low`` smallest rows, average the rest.

    Examples
    --------
    >>> trimmed_mean(np.array([[1.0], [5.0], [3.0], [4.0], [2.0]]), 0, 1)
    array([3.5])
    """
    ordered = np.sort(matrix, axis=0)
    n = ordered.shape[0]
    lo, hi = drop_low, n - drop_high
    return np.asarray(ordered[lo:hi].mean(axis=0), dtype=float)


def cbl(
    energy: pd.Series,
    start: pd.Timestamp,
    end: pd.Timestamp,
    method: CblMethod,
    timezone: str,
    holidays: Collection[date] = (),
    excluded: Collection[date] = (),
) -> CblResult:
    """The CBL of one member for an event ``[start, end)`` and its metered energy.

    Parameters
    ----------
    energy : pandas.Series
        Energy per interval [kWh], tz-aware interval starts, covering the look-back and the
        event.
    start, end : pandas.Timestamp
        The event (tz-aware), within one local day.
    method : CblMethod
    timezone : str
        Local time zone of the days.
    holidays, excluded : collection of datetime.date
        See :func:`select_days`.

    Returns
    -------
    CblResult

    Raises
    ------
    DataError
        Without enough usable days, or when the event is not covered by the data.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise DataError("event start and end must be tz-aware")
    matrix = _local_days(energy.to_frame("member"), timezone)["member"]
    event_day = start.tz_convert(timezone).date()
    days, skipped, profile = _baseline(matrix, event_day, method, holidays, excluded)
    metered = energy[(energy.index >= start) & (energy.index < end)]
    if metered.empty:
        raise DataError(f"no metered energy in the event {start} - {end}")
    _, slots = _slots(pd.DatetimeIndex(metered.index), timezone)
    baseline = pd.Series(matrix.profile_at(profile, slots), metered.index)
    return CblResult(method.name, days, skipped, baseline, metered.astype(float))


def cbl_report(
    energy: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    methods: Collection[CblMethod],
    timezone: str,
    holidays: Collection[date] = (),
    excluded: Collection[date] = (),
    park: str | None = "park",
    park_energy: pd.Series | None = None,
) -> pd.DataFrame:
    """Event performance per member and method: one row each.

    Parameters
    ----------
    energy : pandas.DataFrame
        Energy per interval [kWh], one column per tenant; the park is their sum.
    start, end, timezone, holidays, excluded
        See :func:`cbl`.
    methods : collection of CblMethod
    park : str or None
        Name of the park row; None: no park row (the tenants only).
    park_energy : pandas.Series, optional
        The park's metered import [kWh per interval] when it is not the tenants' sum (shared
        assets behind the park meter, such as the ESS).

    Returns
    -------
    pandas.DataFrame
        Columns ``member, method, days, baseline_kwh, metered_kwh, reduction_kwh,
        baseline_kw, metered_kw, reduction_kw`` (the kW columns: mean power over the event).
    """
    rows, unavailable = cbl_rows(
        energy, start, end, methods, timezone, holidays, excluded, park, park_energy
    )
    for why in unavailable.values():
        raise DataError(why)
    return rows


def cbl_rows(
    energy: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    methods: Collection[CblMethod],
    timezone: str,
    holidays: Collection[date] = (),
    excluded: Collection[date] = (),
    park: str | None = "park",
    park_energy: pd.Series | None = None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """:func:`cbl_report`, but a method that cannot be formed is reported, not raised.

    Returns
    -------
    (rows, unavailable)
        The rows of the methods that could be formed for every member, and each other
        method's name with the reason (e.g. too few usable days).

    Raises
    ------
    DataError
        When the times are naive or a member has no metered energy in the event.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise DataError("event start and end must be tz-aware")
    members = energy.copy()
    members.columns = [str(c) for c in energy.columns]
    if park is not None:
        own = energy.sum(axis=1, min_count=1) if park_energy is None else park_energy
        members = members.join(own.rename(park), how="outer")
    hours = (end - start).total_seconds() / 3600.0
    matrices = _local_days(members, timezone)  # one grouping for every member
    event_day = start.tz_convert(timezone).date()
    window = members[(members.index >= start) & (members.index < end)]
    _, slots = _slots(pd.DatetimeIndex(window.index), timezone)
    metered_kwh = window.to_numpy(dtype=float)
    rows: dict[str, list[dict[str, object]]] = {m.name: [] for m in methods}
    unavailable: dict[str, str] = {}
    for j, name in enumerate(members.columns):
        has = ~np.isnan(metered_kwh[:, j])
        if not has.any():
            raise DataError(f"{name}: no metered energy in the event {start} - {end}")
        met = float(metered_kwh[has, j].sum())
        for m in methods:
            if m.name in unavailable:
                continue
            try:
                days, _, profile = _baseline(matrices[name], event_day, m, holidays, excluded)
            except DataError as exc:
                unavailable[m.name] = f"{name}: {exc}"
                continue
            base = float(np.nansum(matrices[name].profile_at(profile, slots[has])))
            rows[m.name].append(
                {
                    "member": name,
                    "method": m.name,
                    "days": len(days),
                    "baseline_kwh": base,
                    "metered_kwh": met,
                    "reduction_kwh": base - met,
                    "baseline_kw": base / hours,
                    "metered_kw": met / hours,
                    "reduction_kw": (base - met) / hours,
                }
            )
    kept = [r for m in methods if m.name not in unavailable for r in rows[m.name]]
    columns = ["member", "method", "days", "baseline_kwh", "metered_kwh", "reduction_kwh",
               "baseline_kw", "metered_kw", "reduction_kw"]  # fmt: skip
    return pd.DataFrame(kept, columns=columns), unavailable
