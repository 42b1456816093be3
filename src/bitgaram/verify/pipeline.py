"""Verify many meters at once: baseline, savings, anomalies, tenant totals.

The orchestrator of :mod:`bitgaram.verify`: pure (frames in, results out); the
CLI and the benchmark feed it from files or the store and hand its results to
:mod:`bitgaram.verify.report`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import pandas as pd

from bitgaram.errors import DataError
from bitgaram.verify.anomalies import Anomaly, detect_anomalies
from bitgaram.verify.baseline import (
    BaselineSelection,
    aggregate_daily,
    fit_baseline,
    fit_hourly,
    prepare_frame,
)
from bitgaram.verify.checks import (
    DriverRange,
    PeriodCoverage,
    check_periods,
    coverage,
    driver_range,
    held_out_metrics,
)
from bitgaram.verify.metrics import FitMetrics, Interval
from bitgaram.verify.savings import DEFAULT_CONFIDENCE, Savings, avoided_energy, combine_savings


@dataclass(frozen=True)
class Period:
    """A half-open period ``[start, end)`` of naive local timestamps."""

    start: pd.Timestamp
    end: pd.Timestamp

    @classmethod
    def parse(cls, start: str, end: str) -> Period:
        """Period from two dates; ``end`` is inclusive of its whole day.

        Raises
        ------
        DataError
            If the dates cannot be parsed or end before they start.
        """
        try:
            s = pd.Timestamp(start)
            e = pd.Timestamp(end) + pd.Timedelta(days=1)
        except ValueError as exc:
            raise DataError(f"cannot parse period {start!r}..{end!r}: {exc}") from exc
        if e <= s:
            raise DataError(f"period {start}..{end} ends before it starts")
        return cls(s, e)

    def slice(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows of ``frame`` within the period.

        For a zone-aware index the naive bounds are local time of its zone
        (an ambiguous fall-back bound is the first of the two instants).
        """
        idx = pd.DatetimeIndex(frame.index)
        start, end = self.start, self.end
        if idx.tz is not None:
            start, end = (
                t.tz_localize(idx.tz, ambiguous=True, nonexistent="shift_forward")
                if t.tzinfo is None
                else t.tz_convert(idx.tz)
                for t in (start, end)
            )
        return frame[(idx >= start) & (idx < end)]


@dataclass(frozen=True, eq=False)
class MeterResult:
    """Everything verified for one meter, ready to report.

    Attributes
    ----------
    meter : str
        Meter or equipment id.
    tenant : str
        Tenant the meter belongs to.
    selection : BaselineSelection
        Baseline chosen and candidates tried.
    savings : Savings or None
        Avoided energy, None when the chosen baseline fails Guideline 14.
    anomalies : tuple of Anomaly
        Ranked by cost.
    periods : tuple of PeriodCoverage
        Baseline and reporting periods as the data covers them.
    drivers : DriverRange or None
        Reporting days outside the baseline's temperature range.
    held_out : FitMetrics or None
        Cross-validated (held-out) figures of the chosen baseline, next to
        its in-sample ``selection.chosen.metrics``.
    """

    meter: str
    tenant: str
    selection: BaselineSelection
    savings: Savings | None
    anomalies: tuple[Anomaly, ...] = ()
    periods: tuple[PeriodCoverage, ...] = ()
    drivers: DriverRange | None = None
    held_out: FitMetrics | None = None

    @property
    def extrapolated(self) -> bool:
        """Whether reporting temperatures leave the baseline's range (the result is marked)."""
        return self.drivers is not None and self.drivers.outside > 0

    @property
    def warnings(self) -> tuple[str, ...]:
        """What a reader of the savings must know: cut periods, extrapolated drivers."""
        notes = [c.describe() for c in self.periods if c.cut]
        if self.drivers is not None and self.drivers.outside:
            notes.append(self.drivers.describe())
        return tuple(notes)


@dataclass(frozen=True, eq=False)
class Verification:
    """Result of :func:`verify_meters`.

    Attributes
    ----------
    meters : tuple of MeterResult
        One per meter.
    tenants : dict of str to Savings
        Combined savings per tenant, over meters with an accepted baseline.
    """

    meters: tuple[MeterResult, ...]
    tenants: dict[str, Savings]


def verify_meter(
    energy_kwh: pd.Series,
    temperature_c: pd.Series,
    baseline: Period,
    reporting: Period,
    price: pd.Series | float,
    meter: str = "meter",
    tenant: str = "",
    production: pd.Series | None = None,
    interval: Interval | str | None = None,
    holidays: Collection[date] = (),
    confidence: float = DEFAULT_CONFIDENCE,
) -> MeterResult:
    """Baseline, avoided energy and anomalies of one hourly meter.

    Parameters
    ----------
    energy_kwh : pandas.Series
        Hourly energy [kWh] covering both periods.
    temperature_c : pandas.Series
        Outdoor temperature [degC].
    baseline, reporting : Period
        Baseline and reporting periods.
    price : pandas.Series or float
        Hourly price [currency/kWh] or flat rate, for anomaly costs.
    meter, tenant : str
        Labels.
    production : pandas.Series, optional
        Production volume per hour [units].
    interval : Interval or str, optional
        Force ``"hourly"`` or ``"daily"`` baselines (default: hourly, then daily).
    holidays : collection of datetime.date
        Days off besides weekends.
    confidence : float
        Confidence level of the savings interval.

    Returns
    -------
    MeterResult
        ``savings`` is None when no baseline meets Guideline 14.

    Raises
    ------
    DataError
        If the periods overlap, or either holds no data.
    """
    check_periods((baseline.start, baseline.end), (reporting.start, reporting.end))
    frame = prepare_frame(energy_kwh, temperature_c, production)
    base = baseline.slice(frame)
    rep = reporting.slice(frame)
    if base.empty or rep.empty:
        raise DataError(
            f"{meter}: no data in the baseline ({len(base)} rows) or reporting "
            f"({len(rep)} rows) period"
        )
    selection = fit_baseline(base, interval, holidays)
    chosen = selection.chosen
    savings = None
    if chosen.accepted:
        rep_at = rep if chosen.model.interval == Interval.HOURLY else aggregate_daily(rep)
        savings = avoided_energy(chosen, rep_at, meter, confidence)
    # Anomalies need hour resolution: use the hourly fit even when it fails G14 for savings.
    hourly = next((f for f in selection.tried if f.model.interval == Interval.HOURLY), None)
    if hourly is None:
        hourly = fit_hourly(base, holidays)
    anomalies = detect_anomalies(hourly, rep, price, meter)
    periods = (
        coverage("baseline", base, baseline.start, baseline.end),
        coverage("reporting", rep, reporting.start, reporting.end),
    )
    return MeterResult(
        meter,
        tenant or meter,
        selection,
        savings,
        anomalies,
        periods,
        driver_range(base, rep),
        held_out_metrics(base, chosen, holidays),
    )


def verify_meters(
    energy_kwh: pd.DataFrame,
    temperature_c: pd.Series,
    baseline: Period,
    reporting: Period,
    price: pd.Series | float,
    tenants: Mapping[str, str] | None = None,
    production: pd.DataFrame | None = None,
    interval: Interval | str | None = None,
    holidays: Collection[date] = (),
    confidence: float = DEFAULT_CONFIDENCE,
) -> Verification:
    """Verify every column of a wide frame of hourly meters.

    Parameters
    ----------
    energy_kwh : pandas.DataFrame
        One column per meter [kWh per hour].
    temperature_c : pandas.Series
        Outdoor temperature [degC].
    baseline, reporting : Period
        Periods.
    price : pandas.Series or float
        Hourly price or flat rate [currency/kWh].
    tenants : mapping of str to str, optional
        Meter -> tenant (default: each meter is its own tenant).
    production : pandas.DataFrame, optional
        Production volume per meter column [units per hour].
    interval, holidays, confidence
        As in :func:`verify_meter`.

    Returns
    -------
    Verification
    """
    tenants = dict(tenants or {})
    results = []
    for meter in energy_kwh.columns:
        prod = production[meter] if production is not None and meter in production else None
        results.append(
            verify_meter(
                energy_kwh[meter],
                temperature_c,
                baseline,
                reporting,
                price,
                str(meter),
                tenants.get(str(meter), str(meter)),
                prod,
                interval,
                holidays,
                confidence,
            )
        )
    return Verification(tuple(results), savings_by_tenant(results))


def savings_by_tenant(results: Sequence[MeterResult]) -> dict[str, Savings]:
    """Combine meters' savings per tenant (meters without accepted baselines are left out)."""
    by_tenant: dict[str, list[Savings]] = {}
    for r in results:
        if r.savings is not None:
            by_tenant.setdefault(r.tenant, []).append(r.savings)
    return {t: combine_savings(t, parts) for t, parts in by_tenant.items()}
