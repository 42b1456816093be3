"""Time-of-use tariffs: periods by month, day type and hour, with dated versions.

A :class:`TouTariff` is one option of a tariff file (see :mod:`bitgaram.tariff.load`) compiled
into lookup tables of shape ``(12 months, 3 day types, 24 hours)`` per version, so that every
question (period, energy rate, discount) is a vectorised gather over the timestamps. Nothing in
this module knows KEPCO: the numbers and rules come from data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bitgaram.errors import DataError
from bitgaram.tariff.billing import MonthlyBilling
from bitgaram.tariff.daytype import day_types, to_local_index
from bitgaram.tariff.rules import Adder, DemandRules, Rounding, RoundingRule, Taxes, as_day
from bitgaram.tariff.schema import DAY_TYPES, TariffFileSpec, expand_hours

if TYPE_CHECKING:
    pass


class _Located(NamedTuple):
    """Where each timestamp falls in the lookup tables."""

    ver: NDArray[np.intp]
    month: NDArray[np.intp]
    day_type: NDArray[np.int8]
    hour: NDArray[np.intp]
    day: NDArray[np.datetime64]


@dataclass(frozen=True, eq=False)
class Discount:
    """A fractional discount on the energy charge; ``table`` is (12, 3, 24) fractions [-]."""

    name: str
    label: str
    table: NDArray[np.float64]
    until: dt.date | None


@dataclass(frozen=True, eq=False)
class TouVersion:
    """One effective-dated version of a TOU tariff, compiled for one option.

    Attributes
    ----------
    effective : datetime.date
        First day the version applies (local date).
    periods : numpy.ndarray
        Period index into :attr:`TouTariff.periods`, shape (12, 3, 24) (month-1, day type, hour).
    rates : numpy.ndarray
        Energy rate before adders and discounts, shape (12, 3, 24) [currency/kWh].
    seasons : tuple of str
        Season name of each month (index month-1).
    demand_rate : float
        Demand charge [currency/kW/month].
    discounts : tuple of Discount
        Energy-charge discounts of this version.
    note : str
        Free text from the tariff file.
    """

    effective: dt.date
    periods: NDArray[np.int8]
    rates: NDArray[np.float64]
    seasons: tuple[str, ...]
    demand_rate: float
    discounts: tuple[Discount, ...] = ()
    note: str = ""


@dataclass(frozen=True, eq=False)
class TouTariff(MonthlyBilling):
    """A time-of-use tariff (one option) with effective-dated versions.

    Build one with :func:`bitgaram.tariff.load_tariff` (from a data file) or
    :meth:`TouTariff.from_spec`. Timestamps given to its methods label interval starts; naive
    ones are taken as local time, aware ones are converted to :attr:`timezone`.

    Attributes
    ----------
    name, title, option, currency : str
        Identity; amounts are in ``currency`` (e.g. KRW).
    timezone : str or None
        IANA timezone of the tariff clock.
    holiday_country : str or None
        Country code for public holidays (``holidays`` package), None for weekends only.
    periods : tuple of str
        Period names (e.g. light, mid, peak); :attr:`period_labels` maps them to bill labels.
    versions : tuple of TouVersion
        Sorted by effective date.
    demand_rules, taxes, rounding, adders
        Billing rules shared by every version.
    """

    name: str
    option: str
    currency: str
    periods: tuple[str, ...]
    versions: tuple[TouVersion, ...]
    title: str = ""
    timezone: str | None = None
    holiday_country: str | None = None
    period_labels: Mapping[str, str] = field(default_factory=dict)
    demand_rules: DemandRules = field(default_factory=DemandRules)
    taxes: Taxes = field(default_factory=Taxes)
    rounding: Rounding = field(default_factory=Rounding)
    adders: tuple[Adder, ...] = ()
    source: str = ""

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_spec(cls, spec: TariffFileSpec, option: str) -> TouTariff:
        """Compile option ``option`` of a validated tariff file."""
        from bitgaram.errors import ConfigError

        if option not in spec.options:
            raise ConfigError(
                f"tariff {spec.name!r} has no option {option!r}; options: {', '.join(spec.options)}"
            )
        pidx = {p: i for i, p in enumerate(spec.periods)}
        versions = []
        for v in spec.versions:
            periods = np.full((12, 3, 24), -1, dtype=np.int8)
            rates = np.zeros((12, 3, 24))
            season_of = [""] * 12
            energy = v.rates[option].energy
            for sname, season in v.seasons.items():
                for m in season.months:
                    season_of[m - 1] = sname
                    for d, day_type in enumerate(DAY_TYPES):
                        for pname, ranges in getattr(season, day_type).items():
                            hours = expand_hours(ranges)
                            periods[m - 1, d, hours] = pidx[pname]
                            rates[m - 1, d, hours] = energy[sname][pname]
            discounts = []
            for disc in v.discounts:
                table = np.zeros((12, 3, 24))
                hours = expand_hours(disc.hours)
                for sname in disc.seasons:
                    for m in v.seasons[sname].months:
                        for day_type in disc.day_types:
                            table[m - 1, DAY_TYPES.index(day_type), hours] = disc.fraction
                discounts.append(Discount(disc.name, disc.label or disc.name, table, disc.until))
            versions.append(
                TouVersion(
                    effective=v.effective,
                    periods=periods,
                    rates=rates,
                    seasons=tuple(season_of),
                    demand_rate=v.rates[option].demand,
                    discounts=tuple(discounts),
                    note=v.note,
                )
            )
        r = spec.rounding
        return cls(
            name=spec.name,
            title=spec.title or spec.name,
            option=option,
            currency=spec.currency,
            timezone=spec.timezone,
            holiday_country=spec.holiday_country,
            periods=tuple(spec.periods),
            period_labels={p: spec.period_labels.get(p, p) for p in spec.periods},
            versions=tuple(versions),
            demand_rules=DemandRules(
                interval_minutes=spec.demand.interval_minutes,
                ratchet_months=tuple(spec.demand.ratchet_months),
                lookback_months=spec.demand.lookback_months,
                floor_fraction=spec.demand.floor_fraction,
                excluded_periods=tuple(spec.demand.excluded_periods),
                excess_multiplier=spec.demand.excess_multiplier,
            ),
            taxes=Taxes(spec.taxes.fund_fraction, spec.taxes.vat_fraction),
            rounding=Rounding(
                line=RoundingRule(r.line.unit, r.line.mode),
                fund=RoundingRule(r.fund.unit, r.fund.mode),
                vat=RoundingRule(r.vat.unit, r.vat.mode),
                total=RoundingRule(r.total.unit, r.total.mode),
            ),
            adders=tuple(
                Adder(
                    name=a.name,
                    label=a.label or a.name,
                    effective=np.array([as_day(s.effective) for s in a.schedule]),
                    rates=np.array([s.rate for s in a.schedule], dtype=np.float64),
                )
                for a in spec.adders
            ),
            source=spec.source,
        )

    # ------------------------------------------------------------------ lookups
    def local_index(self, timestamps: object) -> pd.DatetimeIndex:
        """Timestamps as naive local time of the tariff."""
        return to_local_index(timestamps, self.timezone)

    def _locate(self, index: pd.DatetimeIndex) -> _Located:
        """Version index, month-1, day type, hour and day of each local timestamp."""
        stamps = index.to_numpy().astype("datetime64[m]")
        days = stamps.astype("datetime64[D]")
        starts = np.array([as_day(v.effective) for v in self.versions])
        ver = np.searchsorted(starts, days, side="right") - 1
        if len(ver) and ver.min() < 0:
            first = index[int(np.argmin(ver))]
            raise DataError(
                f"tariff {self.name!r}: timestamp {first} is before its first effective date "
                f"{self.versions[0].effective}"
            )
        month = days.astype("datetime64[M]").astype(np.int64) % 12
        hour = (stamps - days).astype("timedelta64[h]").astype(np.int64)
        return _Located(
            ver=ver.astype(np.intp),
            month=month.astype(np.intp),
            day_type=day_types(index, self.holiday_country),
            hour=hour.astype(np.intp),
            day=days,
        )

    def _gather(self, loc: _Located, attr: str) -> NDArray[np.float64]:
        out = np.zeros(len(loc.ver))
        for k, v in enumerate(self.versions):
            sel = loc.ver == k
            if sel.any():
                out[sel] = getattr(v, attr)[loc.month[sel], loc.day_type[sel], loc.hour[sel]]
        return out

    def _discounts(self, loc: _Located) -> list[tuple[str, str, NDArray[np.float64]]]:
        out: dict[str, tuple[str, NDArray[np.float64]]] = {}
        for k, v in enumerate(self.versions):
            sel = loc.ver == k
            for disc in v.discounts:
                _, frac = out.setdefault(disc.name, (disc.label, np.zeros(len(loc.ver))))
                ok = sel.copy()
                if disc.until is not None:
                    ok &= loc.day <= as_day(disc.until)
                frac[ok] = disc.table[loc.month[ok], loc.day_type[ok], loc.hour[ok]]
        return [(name, label, frac) for name, (label, frac) in out.items()]

    def period_index(self, timestamps: object) -> NDArray[np.intp]:
        """Index into :attr:`periods` of each timestamp's TOU period."""
        loc = self._locate(self.local_index(timestamps))
        return self._gather(loc, "periods").astype(np.intp)

    def period(self, timestamps: object) -> NDArray[np.str_]:
        """TOU period name of each timestamp (e.g. ``"light"``, ``"mid"``, ``"peak"``)."""
        return np.asarray(self.periods)[self.period_index(timestamps)]

    def season(self, timestamps: object) -> NDArray[np.str_]:
        """Season name of each timestamp."""
        loc = self._locate(self.local_index(timestamps))
        names = np.array([v.seasons for v in self.versions])
        return np.asarray(names[loc.ver, loc.month])

    def base_energy_rate(self, timestamps: object) -> NDArray[np.float64]:
        """Energy rate of each timestamp's period, before adders and discounts [currency/kWh]."""
        return self._gather(self._locate(self.local_index(timestamps)), "rates")

    def discounts(self, timestamps: object) -> list[tuple[str, str, NDArray[np.float64]]]:
        """``(name, label, fraction)`` of every discount, fraction [-] per timestamp."""
        return self._discounts(self._locate(self.local_index(timestamps)))

    def adder_rates(self, timestamps: object) -> list[tuple[str, str, NDArray[np.float64]]]:
        """``(name, label, rate)`` of every per-kWh adder, rate [currency/kWh] per timestamp."""
        index = self.local_index(timestamps)
        return [(a.name, a.label, a.rate(index)) for a in self.adders]

    def energy_rate(
        self, timestamps: object, *, adders: bool = True, discounts: bool = True
    ) -> NDArray[np.float64]:
        """Marginal energy price of each timestamp, before fund and VAT [currency/kWh].

        Parameters
        ----------
        timestamps : array-like of datetime
            Interval starts (naive local or timezone-aware).
        adders : bool
            Include per-kWh adders (climate-environment charge, fuel-cost adjustment).
        discounts : bool
            Apply energy-charge discounts (e.g. the spring/fall weekend midday 50 %).

        Returns
        -------
        numpy.ndarray
            Rate per timestamp [currency/kWh]; multiply by ``taxes.factor`` for the rate
            including fund and VAT.

        Examples
        --------
        >>> from bitgaram.tariff import load_tariff
        >>> t = load_tariff("kepco-industrial-eul-high-a", option="I")
        >>> t.energy_rate(["2026-07-01 16:00"], adders=False).tolist()  # summer weekday peak
        [234.5]
        """
        index = self.local_index(timestamps)
        loc = self._locate(index)
        rate = self._gather(loc, "rates")
        if discounts:
            for _, _, frac in self._discounts(loc):
                rate = rate * (1.0 - frac)
        if adders:
            for _, _, add in self.adder_rates(index):
                rate = rate + add
        return rate

    def demand_rate(self, month: pd.Period) -> float:
        """Demand charge rate of ``month`` [currency/kW/month], prorated by days across versions."""
        days = pd.date_range(month.start_time.normalize(), periods=month.days_in_month, freq="D")
        starts = np.array([as_day(v.effective) for v in self.versions])
        ver = np.searchsorted(starts, days.to_numpy().astype("datetime64[D]"), side="right") - 1
        if ver.min() < 0:
            raise DataError(
                f"tariff {self.name!r}: month {month} starts before its first effective date "
                f"{self.versions[0].effective}"
            )
        rates = np.array([v.demand_rate for v in self.versions])
        return float(rates[ver].mean())
