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
    """Several series on one time axis (UTC interval starts)."""

    ts: list[datetime]
    series: list[SeriesPublic]
