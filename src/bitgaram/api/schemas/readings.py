"""Schemas of readings, energy series and forecasts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class ReadingPublic(BaseModel):
    """One stored (or resampled) reading, in the meter's unit."""

    ts: datetime
    value: float


class EnergyPointPublic(BaseModel):
    """Energy in one interval [kWh] and its average power [kW]."""

    ts: datetime
    kwh: float
    kw: float


class ForecastPublic(BaseModel):
    """One forecast value, in the meter's unit."""

    ts: datetime
    issued_at: datetime
    horizon: float | None
    quantile: float | None
    value: float
    model: str
