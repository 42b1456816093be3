"""Renewable electricity instruments (REC, PPA, green premium) as data.

An instruments file (TOML or CSV) lists what each tenant bought::

    residual_factor = 0.4173   # optional, kgCO2/kWh for the market-based remainder

    [[instrument]]
    id = "acme-rec-2023"
    tenant = "acme"
    kind = "rec"               # rec | ppa | green_premium
    volume_mwh = 120.0
    start = 2023-01-01
    end = 2023-12-31           # inclusive
    profile = "flat"           # flat | pv: how a PPA's volume is spread over hours

The CSV form has the columns ``id, tenant, kind, volume_mwh, start, end`` and
optionally ``profile``. Volumes are spread over the hours of their period:
evenly (``flat``) or in proportion to a PV generation shape (``pv``). Only
PPAs are hourly deliveries that count toward the 24/7 CFE score; RECs and the
green premium are volumetric claims that count toward the annual RE share and
the market-based Scope 2 figure only.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bitgaram.errors import ConfigError, DataError, validation_message


class InstrumentKind(StrEnum):
    """Kinds of renewable electricity instrument in Korea (K-RE100 routes)."""

    REC = "rec"
    PPA = "ppa"
    GREEN_PREMIUM = "green_premium"


@dataclass(frozen=True)
class Instrument:
    """A renewable electricity purchase.

    Attributes
    ----------
    id : str
        Identifier.
    tenant : str
        Tenant that holds it.
    kind : InstrumentKind
        REC, PPA or green premium.
    volume_kwh : float
        Volume over the whole period [kWh].
    start, end : datetime.date
        First and last day covered (inclusive).
    profile : str
        ``"flat"`` or ``"pv"``: hourly spread of the volume.
    """

    id: str
    tenant: str
    kind: InstrumentKind
    volume_kwh: float
    start: date
    end: date
    profile: str = "flat"

    @property
    def hourly_matched(self) -> bool:
        """Whether it delivers energy hour by hour (counts toward 24/7 CFE)."""
        return self.kind is InstrumentKind.PPA


class _InstrumentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    tenant: str = Field(min_length=1)
    kind: InstrumentKind
    volume_mwh: float = Field(ge=0)
    start: date
    end: date
    profile: Literal["flat", "pv"] = "flat"

    @model_validator(mode="after")
    def _ordered(self) -> _InstrumentSpec:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


@dataclass(frozen=True)
class InstrumentBook:
    """Instruments and the market-based residual factor read from one file.

    Attributes
    ----------
    instruments : tuple of Instrument
    residual_factor_kg_per_kwh : float or None
        Factor for consumption not covered by instruments [kgCO2/kWh]; None
        means "use the location-based grid factor" (Korea publishes no
        residual mix).
    """

    instruments: tuple[Instrument, ...]
    residual_factor_kg_per_kwh: float | None = None

    def for_tenant(self, tenant: str) -> tuple[Instrument, ...]:
        """Instruments held by one tenant."""
        return tuple(i for i in self.instruments if i.tenant == tenant)


def _build(spec: _InstrumentSpec) -> Instrument:
    return Instrument(
        id=spec.id,
        tenant=spec.tenant,
        kind=spec.kind,
        volume_kwh=spec.volume_mwh * 1000.0,
        start=spec.start,
        end=spec.end,
        profile=spec.profile,
    )


def read_instruments(path: str | Path) -> InstrumentBook:
    """Read renewable instruments from a TOML or CSV file.

    Parameters
    ----------
    path : str or pathlib.Path
        ``.toml`` (with ``[[instrument]]`` tables and optional top-level
        ``residual_factor`` [kgCO2/kWh]) or ``.csv``.

    Returns
    -------
    InstrumentBook

    Raises
    ------
    ConfigError
        If the file is missing or an entry is invalid; the message names the
        entry and field.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: instruments file not found")
    residual: float | None = None
    if p.suffix.lower() == ".csv":
        try:
            frame = pd.read_csv(p, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise ConfigError(f"{p}: cannot parse CSV: {exc}") from exc
        entries = [
            {k: v for k, v in row.items() if v != ""} for row in frame.to_dict(orient="records")
        ]
        first_line = 2
    else:
        try:
            raw = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: invalid TOML: {exc}") from exc
        entries = list(raw.get("instrument", []))
        if "residual_factor" in raw:
            try:
                residual = float(raw["residual_factor"])
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{p}: residual_factor must be a number (kgCO2/kWh)") from exc
        first_line = 0
    out = []
    for i, entry in enumerate(entries):
        try:
            out.append(_build(_InstrumentSpec.model_validate(entry)))
        except ValidationError as exc:
            where = f"line {first_line + i}" if first_line else f"instrument #{i + 1}"
            raise ConfigError(validation_message(exc, f"{p}: {where}")) from exc
    ids = [i.id for i in out]
    dupes = sorted({x for x in ids if ids.count(x) > 1})
    if dupes:
        raise ConfigError(f"{p}: duplicate instrument ids {dupes}")
    return InstrumentBook(tuple(out), residual)


def hourly_delivery(
    instrument: Instrument, index: pd.DatetimeIndex, pv_shape: np.ndarray | None = None
) -> np.ndarray:
    """Spread an instrument's volume over the hours of ``index`` [kWh per hour].

    The volume is first pro-rated to the share of the instrument's period
    that ``index`` covers (so a yearly REC seen over one month contributes a
    month's worth), then spread evenly or, for ``profile = "pv"``, in
    proportion to ``pv_shape`` within that part.

    Parameters
    ----------
    instrument : Instrument
    index : pandas.DatetimeIndex
        Hourly interval-start timestamps.
    pv_shape : numpy.ndarray, optional
        Non-negative generation shape aligned with ``index`` (needed for
        ``profile = "pv"``).

    Returns
    -------
    numpy.ndarray
        Delivery per hour [kWh], zero outside the instrument's period.
    """
    start = pd.Timestamp(instrument.start)
    end = pd.Timestamp(instrument.end) + pd.Timedelta(days=1)
    inside = np.asarray((index >= start) & (index < end), dtype=bool)
    out = np.zeros(len(index))
    if not inside.any():
        return out
    period_hours = (end - start) / pd.Timedelta(hours=1)
    volume = instrument.volume_kwh * inside.sum() / period_hours
    if instrument.profile == "pv":
        if pv_shape is None:
            raise DataError(f"instrument {instrument.id}: profile 'pv' needs a PV shape series")
        shape = np.clip(np.asarray(pv_shape, dtype=float), 0.0, None) * inside
        total = shape.sum()
        if total > 0:
            return volume * shape / total
    out[inside] = volume / inside.sum()
    return out
