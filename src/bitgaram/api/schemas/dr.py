"""Schemas of demand-response events and their CBL performance (:mod:`bitgaram.verify.dr`)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

import pandas as pd
from pydantic import BaseModel, Field

from bitgaram.store.base import DrEventRecord


def _finite(x: object) -> float | None:
    v = float(x)  # type: ignore[arg-type]
    return v if math.isfinite(v) else None


class DrEventPublic(BaseModel):
    """A demand-response event the site's VEN received (``bitgaram devices run``)."""

    event_id: str
    start: datetime
    end: datetime
    target_kw: float | None = Field(description="Import cap during the event [kW].")
    signal: str
    opted_in: bool
    reason: str = Field(description="Why the park opted out ('' when opted in).")
    received_at: datetime

    @classmethod
    def of(cls, e: DrEventRecord) -> DrEventPublic:
        """From a stored event."""
        return cls(
            event_id=e.event_id,
            start=e.start_at,
            end=e.end_at,
            target_kw=e.target_kw,
            signal=e.signal,
            opted_in=e.opted_in,
            reason=e.reason,
            received_at=e.received_at,
        )


class CblRowPublic(BaseModel):
    """One tenant's or the park's baseline, metered energy and reduction by one method."""

    kind: Literal["tenant", "park"]
    tenant_id: str | None = Field(description="None for the park.")
    name: str = Field(description="The tenant's or the park's name.")
    method: str = Field(description="Mid(6/10), Max(4/5) or High(X/Y).")
    days: int = Field(description="Days the baseline is built from.")
    baseline_kwh: float | None
    metered_kwh: float | None
    reduction_kwh: float | None = Field(description="Baseline - metered [kWh].")
    baseline_kw: float | None = Field(description="Mean baseline power over the event [kW].")
    metered_kw: float | None
    reduction_kw: float | None


class CblUnavailablePublic(BaseModel):
    """A method that could not be formed, and why."""

    method: str
    reason: str


class DrCblPublic(BaseModel):
    """An event's customer-baseline-load performance, per member and method."""

    site_id: str
    event: DrEventPublic
    rows: list[CblRowPublic]
    unavailable: list[CblUnavailablePublic]


def cbl_row(tenant_id: str | None, name: str, r: pd.Series) -> CblRowPublic:
    """A row of :attr:`bitgaram.verify.dr.EventReport.rows` as published (NaN as null)."""
    return CblRowPublic(
        kind="park" if tenant_id is None else "tenant",
        tenant_id=tenant_id,
        name=name,
        method=str(r["method"]),
        days=int(r["days"]),
        baseline_kwh=_finite(r["baseline_kwh"]),
        metered_kwh=_finite(r["metered_kwh"]),
        reduction_kwh=_finite(r["reduction_kwh"]),
        baseline_kw=_finite(r["baseline_kw"]),
        metered_kw=_finite(r["metered_kw"]),
        reduction_kw=_finite(r["reduction_kw"]),
    )
