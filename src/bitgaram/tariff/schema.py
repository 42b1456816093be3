"""Pydantic schema of tariff files (the boundary; the core uses frozen dataclasses).

A tariff file is TOML (see ``bitgaram/tariff/data/*.toml``): identity and currency, the holiday
calendar, the demand (billing-demand) rules, taxes, rounding, per-kWh adders with dated
schedules, and one or more *versions*, each with an effective date, its seasons, a period table
per day type, the rates of every option and optional discounts. :func:`parse_tariff_file`
validates such a mapping and raises :class:`~bitgaram.errors.ConfigError` naming the file and the
field that is wrong.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bitgaram.errors import ConfigError, validation_message

#: The day types of a period table, in the order used by the lookup tables.
DAY_TYPES: tuple[str, ...] = ("weekday", "saturday", "holiday")


def parse_hour_range(text: str) -> tuple[int, int]:
    """Parse ``"HH-HH"`` into ``(start, end)`` hours, ``0 <= start < 24``, ``0 < end <= 24``.

    ``end <= start`` wraps past midnight (``"22-08"`` is 22:00 to 08:00).

    Examples
    --------
    >>> parse_hour_range("22-08")
    (22, 8)
    """
    parts = text.split("-")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"hour range {text!r} is not of the form 'HH-HH' (e.g. '22-08')")
    start, end = (int(p) for p in parts)
    if not (0 <= start < 24 and 0 < end <= 24) or start == end:
        raise ValueError(f"hour range {text!r}: need 0 <= start < 24, 0 < end <= 24, start != end")
    return start, end


def expand_hours(ranges: list[str]) -> list[int]:
    """Hours (0-23) covered by a list of ``"HH-HH"`` ranges, in order, duplicates kept."""
    hours: list[int] = []
    for text in ranges:
        start, end = parse_hour_range(text)
        h = start
        while True:
            hours.append(h)
            h = (h + 1) % 24
            if h == end % 24:
                break
    return hours


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoundingRuleSpec(_Model):
    """Round an amount to a multiple of ``unit`` with ``mode``."""

    unit: float = Field(1.0, gt=0)
    mode: Literal["floor", "half_up", "none"] = "none"


class RoundingSpec(_Model):
    """Rounding of charge lines, fund, VAT and the amount billed."""

    line: RoundingRuleSpec = RoundingRuleSpec()
    fund: RoundingRuleSpec = RoundingRuleSpec()
    vat: RoundingRuleSpec = RoundingRuleSpec()
    total: RoundingRuleSpec = RoundingRuleSpec()


class RateStepSpec(_Model):
    """A rate in force from ``effective`` on [currency/kWh]."""

    effective: dt.date
    rate: float


class AdderSpec(_Model):
    """A per-kWh charge on all energy (climate-environment, fuel-cost adjustment, ...)."""

    name: str = Field(min_length=1)
    label: str = ""
    schedule: list[RateStepSpec] = Field(min_length=1)

    @field_validator("schedule")
    @classmethod
    def _sorted(cls, v: list[RateStepSpec]) -> list[RateStepSpec]:
        dates = [s.effective for s in v]
        if dates != sorted(set(dates)):
            raise ValueError("schedule dates must be strictly increasing")
        return v


class DemandSpec(_Model):
    """Billing-demand rules; the defaults bill no demand at all."""

    interval_minutes: int = Field(15, gt=0, le=60)
    ratchet_months: list[int] = []
    lookback_months: int = Field(12, ge=0, le=24)
    floor_fraction: float = Field(0.0, ge=0, le=1)
    excluded_periods: list[str] = []
    excess_multiplier: float = Field(0.0, ge=0)

    @field_validator("ratchet_months")
    @classmethod
    def _months(cls, v: list[int]) -> list[int]:
        if any(not 1 <= m <= 12 for m in v):
            raise ValueError("months must be in 1..12")
        return v


class TaxSpec(_Model):
    """Levies on the subtotal of charges (fractions, e.g. 0.037 and 0.10)."""

    fund_fraction: float = Field(0.0, ge=0, lt=1)
    vat_fraction: float = Field(0.0, ge=0, lt=1)


class SeasonSpec(_Model):
    """Months of a season and its period table per day type (``period -> ["HH-HH", ...]``)."""

    months: list[int] = Field(min_length=1)
    weekday: dict[str, list[str]]
    saturday: dict[str, list[str]]
    holiday: dict[str, list[str]]

    @model_validator(mode="after")
    def _cover_day(self) -> SeasonSpec:
        for day_type in DAY_TYPES:
            table: dict[str, list[str]] = getattr(self, day_type)
            hours: list[int] = []
            for ranges in table.values():
                hours += expand_hours(ranges)
            if sorted(hours) != list(range(24)):
                missing = sorted(set(range(24)) - set(hours))
                twice = sorted({h for h in hours if hours.count(h) > 1})
                raise ValueError(
                    f"{day_type}: the periods must cover hours 0-23 exactly once "
                    f"(missing {missing}, covered twice {twice})"
                )
        return self


class OptionRatesSpec(_Model):
    """Rates of one option: demand [currency/kW/month] and energy [currency/kWh]."""

    demand: float = Field(0.0, ge=0)
    energy: dict[str, dict[str, float]]


class DiscountSpec(_Model):
    """A fractional discount on the energy charge in given seasons, day types and hours."""

    name: str = Field(min_length=1)
    label: str = ""
    seasons: list[str] = Field(min_length=1)
    day_types: list[Literal["weekday", "saturday", "holiday"]] = Field(min_length=1)
    hours: list[str] = Field(min_length=1)
    fraction: float = Field(gt=0, le=1)
    until: dt.date | None = None

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: list[str]) -> list[str]:
        expand_hours(v)
        return v


class VersionSpec(_Model):
    """Everything that changes on a tariff's effective date."""

    effective: dt.date
    note: str = ""
    seasons: dict[str, SeasonSpec] = Field(min_length=1)
    rates: dict[str, OptionRatesSpec] = Field(min_length=1)
    discounts: list[DiscountSpec] = []

    @model_validator(mode="after")
    def _consistent(self) -> VersionSpec:
        months = sorted(m for s in self.seasons.values() for m in s.months)
        if months != list(range(1, 13)):
            raise ValueError(f"seasons must cover months 1-12 exactly once, got {months}")
        for option, rates in self.rates.items():
            if set(rates.energy) != set(self.seasons):
                raise ValueError(
                    f"rates.{option}.energy has seasons {sorted(rates.energy)}, "
                    f"expected {sorted(self.seasons)}"
                )
        for d in self.discounts:
            unknown = set(d.seasons) - set(self.seasons)
            if unknown:
                raise ValueError(f"discount {d.name!r}: unknown seasons {sorted(unknown)}")
        return self


class TariffFileSpec(_Model):
    """A whole tariff file."""

    schema_version: Literal[1] = 1
    name: str = Field(min_length=1)
    title: str = ""
    currency: str = Field(min_length=1)
    timezone: str | None = None
    holiday_country: str | None = None
    source: str = ""
    options: list[str] = Field(min_length=1)
    periods: list[str] = Field(min_length=1)
    period_labels: dict[str, str] = {}
    demand: DemandSpec = DemandSpec()
    taxes: TaxSpec = TaxSpec()
    rounding: RoundingSpec = RoundingSpec()
    adders: list[AdderSpec] = []
    versions: list[VersionSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> TariffFileSpec:
        dates = [v.effective for v in self.versions]
        if dates != sorted(set(dates)):
            raise ValueError("versions: effective dates must be strictly increasing")
        periods = set(self.periods)
        unknown = set(self.demand.excluded_periods) - periods
        if unknown:
            raise ValueError(f"demand.excluded_periods: unknown periods {sorted(unknown)}")
        for i, version in enumerate(self.versions):
            if set(version.rates) != set(self.options):
                raise ValueError(
                    f"versions[{i}].rates has options {sorted(version.rates)}, "
                    f"expected {self.options}"
                )
            for sname, season in version.seasons.items():
                for day_type in DAY_TYPES:
                    extra = set(getattr(season, day_type)) - periods
                    if extra:
                        raise ValueError(
                            f"versions[{i}].seasons.{sname}.{day_type}: unknown periods "
                            f"{sorted(extra)} (declared: {self.periods})"
                        )
            for option, rates in version.rates.items():
                for sname, table in rates.energy.items():
                    used = {p for dtp in DAY_TYPES for p in getattr(version.seasons[sname], dtp)}
                    missing = used - set(table)
                    if missing:
                        raise ValueError(
                            f"versions[{i}].rates.{option}.energy.{sname}: no rate for "
                            f"periods {sorted(missing)}"
                        )
        return self


def parse_tariff_file(data: dict[str, Any], source: str) -> TariffFileSpec:
    """Validate a parsed tariff file.

    Parameters
    ----------
    data : dict
        The parsed TOML document.
    source : str
        Where it came from (file path), used in error messages.

    Returns
    -------
    TariffFileSpec
        The validated specification.

    Raises
    ------
    ConfigError
        Naming ``source`` and the first invalid field.
    """
    try:
        return TariffFileSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, f"tariff file {source}")) from exc
