"""Columnar time series for charts (one array of timestamps, one per series)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class SeriesPublic(BaseModel):
    """One named series aligned on ``ChartPublic.ts``; ``None`` where there is no value."""

    name: str
    unit: str
    values: list[float | None]


class ChartPublic(BaseModel):
    """Several series on one time axis (UTC interval starts).

    ``step`` is the interval each value covers (e.g. ``"15min"``): power
    series [kW] are averages over it, forecasts included, whatever their own
    interval.
    """

    ts: list[datetime]
    series: list[SeriesPublic]
    step: str | None = None
