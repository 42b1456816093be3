"""Schemas of anonymised benchmarks."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class IndicatorPublic(BaseModel):
    """The asking tenant's value of one indicator and its percentile among peers.

    ``percentile`` [%] is None when fewer than ``min_group_size`` comparable
    tenants have the indicator; no peer's value or identity is ever given.
    """

    name: str
    unit: str
    value: float | None
    percentile: float | None
    better: Literal["lower", "higher"]
    group_size: int
    reason: str | None


class BenchmarkPublic(BaseModel):
    """Where one tenant stands among comparable tenants."""

    tenant_id: str
    start: datetime
    end: datetime
    group: Literal["sector", "park"]
    min_group_size: int
    indicators: list[IndicatorPublic]
